"""SHA-256 of every table of a fixed set of runs: proof that a restructuring changed no result.

Runs each configuration below through :func:`sim.run` (the same code path as
``python -m sim``) and prints one line per table with its checksum; ``--save``
writes them to a JSON file and ``--compare`` checks them against one saved
earlier, exiting 1 on any difference::

    python3 benchmarks/table_checksums.py --save before.json      # on the old code
    python3 benchmarks/table_checksums.py --compare before.json   # on the new code

The configurations cover every feed policy family, every safeguard preset, a
graph file, decoys registered as minors and two replicates of a setting, on
worlds small enough to run in about a minute in all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sim import run
from sim.config import Config

BASE = {"population.n": 3000, "days": 21, "measure_days": 14, "decoys.n": 20, "seed": 11}

CONFIGURATIONS: dict[str, dict] = {
    "default": {},
    "feed=chronological": {"recommender.feed": "chronological"},
    "feed=popularity": {"recommender.feed": "popularity"},
    "feed=interest": {"recommender.feed": "interest"},
    "feed=random": {"recommender.feed": "random"},
    "accounts=co_engagement": {"recommender.accounts": "co_engagement"},
    "accounts=friends_of_friends": {"recommender.accounts": "friends_of_friends"},
    "preset=teen_accounts_2024": {"safeguards": "teen_accounts_2024"},
    "preset=ofcom_2025": {"safeguards": "ofcom_2025"},
    "preset=dsa_2025": {"safeguards": "dsa_2025"},
    "preset=all_on": {"safeguards": "all_on"},
    "graph_file": {"network": "file"},
    "decoys_registered_as_minors": {"decoys.declared_age": 14},
    "replicate=0": {"replicate": 0, "safeguards": "ofcom_2025"},
    "replicate=1": {"replicate": 1, "safeguards": "ofcom_2025"},
}


def _config(overrides: dict, graph_file: Path) -> Config:
    """The configuration composed through Hydra, as the command line would (presets are config groups)."""
    from hydra import compose, initialize_config_dir

    from sim.compose import CONFIG_DIR, to_config

    args = [f"{k}={v}" for k, v in {**BASE, **overrides}.items()]
    if overrides.get("network") == "file":
        args.append(f"network.path={graph_file}")
        args = [a for a in args if not a.startswith("population.n=")]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return to_config(compose("config", overrides=args))


def _write_graph(path: Path) -> None:
    """A fixed 1,500-account edge list (the same bytes every time)."""
    rng = np.random.default_rng(5)
    src = rng.integers(0, 1500, 24_000)
    dst = (src + rng.integers(1, 200, src.size)) % 1500
    path.write_text("".join(f"{a} {b}\n" for a, b in zip(src.tolist(), dst.tolist())))


def checksums(names: list[str]) -> dict[str, str]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        # The graph file's path is part of the config the tables record: keep it fixed.
        graph = Path(tempfile.gettempdir()) / "exposim-table-checksums" / "graph.txt"
        graph.parent.mkdir(exist_ok=True)
        _write_graph(graph)
        for name in names:
            started = time.perf_counter()
            folder = Path(tmp) / name.replace("=", "_")
            run(_config(CONFIGURATIONS[name], graph), folder)
            for table in sorted(folder.glob("*.parquet")):
                digest = hashlib.sha256(table.read_bytes()).hexdigest()
                out[f"{name}/{table.name}"] = digest
                print(f"{name:<32} {table.name:<18} {digest[:16]}", flush=True)
            print(f"{name:<32} ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write the checksums to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with checksums saved earlier; exit 1 on a difference")
    parser.add_argument("--only", nargs="*", default=None, help="run only these configurations")
    args = parser.parse_args(argv)
    names = args.only or list(CONFIGURATIONS)
    sums = checksums(names)
    if args.save:
        args.save.write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        differ = sorted(k for k in sums if before.get(k) != sums[k])
        missing = sorted(k for k in before if k not in sums and k.split("/")[0] in names)
        print(f"{len(sums)} tables compared: {len(sums) - len(differ)} identical, {len(differ)} differ"
              + (f", {len(missing)} missing" if missing else ""))
        for key in differ + missing:
            print(f"  differs: {key}")
        return 1 if differ or missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

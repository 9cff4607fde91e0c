"""``python -m sim``: the Hydra app, with configuration errors mapped to exit status 2."""

from __future__ import annotations

import importlib.util
import sys

from sim import app, sweep

#: Launcher configs that need an optional extra: name prefix -> (plugin module, extra).
_LAUNCHER_EXTRAS = {"ray": ("hydra_plugins.hydra_ray_launcher", "ray"),
                    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
                    "submitit": ("hydra_plugins.hydra_submitit_launcher", "slurm")}


def _launcher_hint(argv: list[str]) -> str | None:
    """If the command asks for a launcher whose plugin is not installed, how to install it."""
    for arg in argv:
        if arg.startswith("hydra/launcher="):
            choice = arg.split("=", 1)[1]
            for prefix, (module, extra) in _LAUNCHER_EXTRAS.items():
                if choice.startswith(prefix) and importlib.util.find_spec(module) is None:
                    where = " in its own environment" if extra == "ray" else ""
                    return (f"exposim: hydra/launcher={choice} needs the '{extra}' extra: "
                            f"python3 -m pip install -e '.[{extra}]'{where} (see docs/CLUSTERS.md)")
    return None


def main() -> None:
    try:
        app.hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and sweep.active_sweep is not None:
            # A job of the sweep failed: the others have run; say where things stand
            # (unless the sweep's end already did).
            if not sweep.status_reported:
                try:
                    print(sweep.sweep_status(sweep.active_sweep).describe(), file=sys.stderr)
                except (OSError, ValueError):
                    pass
            raise
        # Hydra reports errors while composing (unknown key, wrong type, unknown
        # group option) with exit status 1 before our task runs: those are
        # configuration errors too.
        if exc.code == 1 and not app.task_started:
            hint = _launcher_hint(sys.argv[1:])
            if hint:
                print(hint, file=sys.stderr)
            sys.exit(app.CONFIG_ERROR_EXIT)
        raise


if __name__ == "__main__":
    main()

"""The registry of pluggable kinds, and a plug-in distribution seen from outside ``sim/``.

Unit tests use a fresh :class:`sim.registry.Registry` (no built-in modules),
so they never touch the package's registry. The plug-in test writes a tiny
distribution into a folder (a module registering a feed policy and a
safeguard with its own config section, and a ``*.dist-info`` declaring the
entry point), puts it on ``PYTHONPATH`` and runs the real command line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim import registry
from sim.config import SAFEGUARD_NAMES, Config, ConfigError, safeguard_names, schema, validate
from sim.io import read_manifest
from sim.model import ExposureModel, RandomStreams
from sim.registry import PluginError, RegistrationError, Registry, UnknownName
from tests.conftest import tiny_config

BUILTIN_FEEDS = "chronological, engagement, interest, popularity, random"


# ------------------------------------------------------------------ the registry


@dataclasses.dataclass
class _Section:
    enabled: bool = False


def test_an_unknown_name_is_refused_with_the_registered_names():
    reg = Registry()

    @reg.register("feed_policy", "alpha")
    class Alpha:
        pass

    @reg.register("feed_policy", "beta")
    class Beta:
        pass

    with pytest.raises(UnknownName) as err:
        reg.get("feed_policy", "gamma")
    assert str(err.value) == "there is no feed_policy named 'gamma'; registered: alpha, beta"
    assert isinstance(err.value, KeyError)            # so "name in view" and dict-like callers work
    with pytest.raises(UnknownName, match="registered: none"):
        reg.get("graph_source", "synthetic")


def test_registering_a_name_twice_is_refused_but_the_first_class_stays():
    reg = Registry()

    @reg.register("account_suggester", "pymk")
    class First:
        pass

    with pytest.raises(RegistrationError, match="'pymk' is already registered by .*First"):
        @reg.register("account_suggester", "pymk")
        class Second:
            pass

    assert reg.get("account_suggester", "pymk") is First
    reg.register("account_suggester", "pymk")(First)  # the same class again (a module imported twice) is fine
    assert reg.names("account_suggester") == ("pymk",)


def test_kinds_are_separate_namespaces():
    reg = Registry()

    @reg.register("feed_policy", "shared")
    class Feed:
        pass

    @reg.register("group_suggester", "shared")
    class Groups:
        pass

    assert reg.get("feed_policy", "shared") is Feed
    assert reg.get("group_suggester", "shared") is Groups
    assert reg.names("account_suggester") == ()
    with pytest.raises(RegistrationError, match="unknown kind 'feed'; kinds are feed_policy, "):
        reg.register("feed", "x")
    with pytest.raises(RegistrationError, match="unknown kind"):
        reg.names("feeds")


def test_register_sets_the_name_and_refuses_a_class_that_says_otherwise():
    reg = Registry()

    @reg.register("graph_source", "lattice")
    class Lattice:
        pass

    assert Lattice.name == "lattice"
    with pytest.raises(RegistrationError, match="its name is 'ring'"):
        @reg.register("graph_source", "torus")
        class Ring:
            name = "ring"
    with pytest.raises(RegistrationError, match="must be an identifier"):
        reg.register("graph_source", "not a name")


def test_a_safeguard_must_bring_its_config_section():
    reg = Registry()
    with pytest.raises(RegistrationError, match=r"needs a config_class.*safeguards\.no_section"):
        @reg.register("safeguard", "no_section")
        class NoSection:
            pass
    with pytest.raises(RegistrationError, match="'enabled' field"):
        @reg.register("safeguard", "bad_section")
        class BadSection:
            config_class = dict
    with pytest.raises(RegistrationError, match="safeguards.preset"):
        @reg.register("safeguard", "preset")
        class Preset:
            config_class = _Section

    @reg.register("safeguard", "fine")
    class Fine:
        config_class = _Section

    assert reg.get("safeguard", "fine").config_class is _Section


#: A registry whose one built-in module (written by the test below) registers into it.
LAZY = Registry(("exposim_test_builtins",))


def test_the_first_lookup_imports_the_builtin_modules(tmp_path, monkeypatch):
    (tmp_path / "exposim_test_builtins.py").write_text(textwrap.dedent("""
        from tests.test_plugins import LAZY

        @LAZY.register("graph_source", "grid")
        class Grid:
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "exposim_test_builtins", raising=False)
    reg = LAZY
    view = reg.view("graph_source")
    assert "exposim_test_builtins" not in sys.modules            # nothing is imported before a lookup
    assert list(view) == ["grid"] and "grid" in view and "ring" not in view
    assert "exposim_test_builtins" in sys.modules
    assert reg.names("graph_source", plugins=False) == ("grid",)


def test_a_plug_in_that_fails_to_import_is_named(tmp_path, monkeypatch):
    write_distribution(tmp_path, "exposim_broken", "raise RuntimeError('no luck')\n", group="exposim_test.plugins")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"exposim plug-in exposim_broken = exposim_broken .*RuntimeError: no luck"):
        Registry((), "exposim_test.plugins").names("feed_policy")


def test_the_package_registry_holds_the_builtin_names_of_every_kind():
    builtin = {kind: registry.names(kind, plugins=False) for kind in registry.KINDS}
    assert sorted(builtin["feed_policy"]) == BUILTIN_FEEDS.split(", ")
    assert builtin["account_suggester"] == ("friends_of_friends", "co_engagement", "mixed")
    assert builtin["group_suggester"] == ("interest",)
    assert sorted(builtin["safeguard"]) == sorted(SAFEGUARD_NAMES)
    assert builtin["graph_source"] == ("synthetic", "file")
    # The schema knows every registered safeguard; the built-in ones first, in catalogue order.
    assert safeguard_names()[:len(SAFEGUARD_NAMES)] == SAFEGUARD_NAMES
    assert set(safeguard_names()) == set(registry.names("safeguard"))
    assert issubclass(schema(), Config)


@pytest.mark.parametrize("key,value,allowed", [
    ("recommender.accounts", "pymk", "friends_of_friends, co_engagement, mixed, off"),
    ("recommender.groups", "random", "interest, off"),
    ("network.kind", "lattice", "synthetic, file"),
])
def test_names_of_registry_keys_are_checked_against_the_registry(key, value, allowed):
    with pytest.raises(ConfigError) as err:
        validate(tiny_config(**{key: value}))
    assert f"{key}={value!r}: {value!r} is not allowed; choose from {allowed}" in str(err.value)


@pytest.mark.parametrize("kind,extra", [("synthetic", {}), ("file", {"network.path": "graph.txt"})])
def test_a_graph_source_builds_the_world_the_model_builds(kind, extra, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    src = rng.integers(0, 200, 1500)
    Path("graph.txt").write_text("".join(f"{a} {(a + b) % 200}\n" for a, b in zip(src, rng.integers(1, 50, 1500))))
    cfg = tiny_config(**{"population.n": 300, "days": 1, "network.kind": kind, **extra})
    model = ExposureModel(cfg)
    pop, graph = registry.get("graph_source", kind)().build(cfg, RandomStreams(model.streams.seed))
    for name in ("true_age", "declared_age", "role", "decoy", "interest"):
        assert np.array_equal(getattr(pop, name), getattr(model.population, name)), name
    # Accounts registering during the run make their registration follows on their join day: the model
    # holds those back, and its graph is the source's without them.
    later = pop.joined_day > 0
    source_rows = np.repeat(np.arange(graph.n), np.diff(graph.indptr))
    model_rows = np.repeat(np.arange(model.graph.n), np.diff(model.graph.indptr))
    assert later.any() and (np.diff(model.graph.indptr)[later] == 0).all()
    assert np.array_equal(source_rows[~later[source_rows]], model_rows)
    assert np.array_equal(graph.indices[~later[source_rows]], model.graph.indices)


# ------------------------------------------------------------------ a plug-in distribution

PLUGIN = '''
"""A plug-in of exposim: the newest items first, and no message requests to protected minors."""

from dataclasses import dataclass

import numpy as np

from sim import registry
from sim.config import param
from sim.recommenders.base import FeedPolicy
from sim.safeguards import Safeguard
from sim.vocabulary import MESSAGE_REQUEST


@registry.register("feed_policy", "newest_first")
class NewestFirst(FeedPolicy):
    """Every candidate, in network or not, newest first."""

    def score(self, ctx, viewers, candidates, rng):
        age_days = ctx.day + 1 - ctx.items.time[np.maximum(candidates, 0)]
        return (1.0 / (age_days + 1e-3)).astype(np.float32)


@dataclass
class NoRequestsToMinorsConfig:
    """No message requests to protected minors."""

    enabled: bool = param(False, doc="block every message request to a protected minor")


@registry.register("safeguard", "no_requests_to_minors")
class NoRequestsToMinors(Safeguard):
    """Blocks every message request to a protected minor, from anyone."""

    config_class = NoRequestsToMinorsConfig
    hooks = ("allow_contact",)

    def allow_contact(self, att, target_follows_sender, rng):
        return ~((att.kind == MESSAGE_REQUEST) & self.covered(att.target))
'''


def write_distribution(folder: Path, module: str, source: str, group: str = registry.ENTRY_POINT_GROUP) -> None:
    """A module and the ``*.dist-info`` of an installed distribution whose entry point names it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{module} = {module}\n")


def run_sim(cwd: Path, args: list[str], pythonpath: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("EXPOSIM_MEMORY_LIMIT", "PYTHONPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=300)


def test_a_plug_in_brings_a_feed_policy_and_a_safeguard_with_its_own_section(tmp_path):
    plugins = tmp_path / "plugins"
    write_distribution(plugins, "exposim_newest", PLUGIN)
    args = ["recommender.feed=newest_first", "safeguards.no_requests_to_minors.enabled=true",
            "population.n=300", "days=2", "measure_days=1", "decoys.n=2", "decoys.join_day=1"]

    done = run_sim(tmp_path, [*args, f"hydra.run.dir={tmp_path / 'run'}"], pythonpath=plugins)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "complete"
    assert manifest["feed_policy"] == "newest_first"
    assert manifest["safeguards_enabled"] == ["no_requests_to_minors"]
    assert json.dumps(manifest).count("no_requests_to_minors") >= 2          # the config records its section too
    columns = pq.read_schema(tmp_path / "run" / "summary.parquet").names
    assert "blocked_by_no_requests_to_minors_per_1k_minor_days" in columns     # its own summary figure
    assert "safeguards.no_requests_to_minors.enabled" in columns               # and its config section

    # Without the plug-in on the path, its names are unknown: refused before anything is written.
    refused = run_sim(tmp_path, [*args[:1], *args[2:], f"hydra.run.dir={tmp_path / 'refused'}"], pythonpath=None)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert ("recommender.feed='newest_first' is not a feed policy; "
            f"choose from {BUILTIN_FEEDS}") in refused.stderr
    assert not (tmp_path / "refused").exists()
    section = run_sim(tmp_path, [args[1], f"hydra.run.dir={tmp_path / 'refused'}"], pythonpath=None)
    assert section.returncode == 2, section.stderr[-3000:]
    assert "no key 'safeguards.no_requests_to_minors.enabled'" in section.stderr

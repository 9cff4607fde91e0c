"""exposim: agent-based simulation of minors' exposure to harmful content and unwanted contact.

Import name ``sim``. The core (``ExposureModel``, ``Config``, ``run``) needs no Hydra::

    from sim import Config, ExposureModel, run
    model = ExposureModel(Config(days=30))
    model.run()
    model.summary()["minor_harm_prevalence_per_10k"]
"""

from __future__ import annotations

from typing import Any

from sim.config import Config, ConfigError, validate

__all__ = ["Config", "ConfigError", "ExposureModel", "RunResult", "run", "validate"]

#: Loaded on first use: the model brings Mesa and the compiled kernels (about two seconds), which
#: ``python -m sim`` does not need in a process that only checks and launches a sweep.
_LAZY = {"ExposureModel": "sim.model", "RunResult": "sim.runner", "run": "sim.runner"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

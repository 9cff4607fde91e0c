"""exposim: agent-based simulation of minors' exposure to harmful content and unwanted contact.

Import name ``sim``. The core (``ExposureModel``, ``Config``, ``run``) needs no Hydra::

    from sim import Config, ExposureModel, run
    model = ExposureModel(Config(days=30))
    model.run()
    model.summary()["minor_harm_prevalence_per_10k"]
"""

from sim.config import Config, ConfigError, validate
from sim.model import ExposureModel
from sim.runner import RunResult, run

__all__ = ["Config", "ConfigError", "ExposureModel", "RunResult", "run", "validate"]

"""A plain, per-agent reference implementation of exposim's simulated day, for docking.

``tests/reference`` re-implements the core day of docs/ODD.md (§3, §7) with
Mesa agents and plain Python loops, written from the model description and
not from the vectorised engine in ``sim/``. ``tests/test_docking.py`` runs it
next to :class:`sim.model.ExposureModel` on the same worlds and tests that the
headline figures are equivalent.

Modules:

- :mod:`tests.reference.world`: the world (accounts, follow graph, groups)
  copied out of a freshly built fast model before its first day. World
  construction is the one thing the two implementations share.
- :mod:`tests.reference.agents`: the accounts as Mesa agents, with what each
  one does in each phase.
- :mod:`tests.reference.model`: the platform (feed, suggestions, safeguards,
  contact rules, conversations), the day's schedule, the event records and
  the summary figures computed from them.
"""

from tests.reference.model import SUPPORTED_FIGURES, ReferenceModel, check_supported
from tests.reference.world import World

__all__ = ["ReferenceModel", "World", "SUPPORTED_FIGURES", "check_supported"]

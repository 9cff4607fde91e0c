"""S9 age assurance: checks of an account's age by a method with an error, run at set moments.

Core objects: :class:`AgeAssurance` (registered as safeguard ``age_assurance``),
:func:`estimation_sigma`.

Regulators ask for age assurance that does not rely on self-declaration
(Ofcom's "highly effective age assurance", 2025; DSA Art. 28 guidelines,
2025). A check here is a method with an error distribution by true age, not an
oracle (docs/SOURCES.md#age-assurance):

- ``self_declaration``: the check learns nothing the declared age did not say.
- ``facial_estimation``: the estimate is the true age plus Gaussian noise whose
  mean absolute error is ``estimation_mae_years`` (a fresh error at every
  check). An estimate of at least ``18 + buffer_years`` passes the account as
  an adult; below it, the account is asked for a document.
- ``document``: an adult passes with probability ``document_adult_pass`` (the
  rest have no ID at hand); an adult who passed once always passes again. A
  minor never passes.

A share ``evasion_share`` of minors evade every check while they hold an adult
account (a borrowed ID, an adult's face), drawn once per account when it
appears; decoys never evade (they are audit accounts testing whether the check
catches a 13-year-old).

What the check says becomes what the platform believes: an unprotected account
judged a minor gets its true age if it is a minor (found) or 17 if it is an
adult (a false positive), and is protected; a protected account judged adult
gets its true age and loses protection (an adult posing as a minor is found;
an adult wrongly protected by an earlier check is restored). A face alone
never lifts protection: a protected account is judged adult only by a
document, which a minor never passes, so a teen who looks older stays
protected.
``Population.protected`` is kept equal to ``declared_age < 18`` for every
account checked.

Checks run at registration (``on_join``), before the first contact between a
stranger the platform takes for an adult and another account (``before_contact``,
phase 6), and once a day (``daily``, phase 7) for newly flagged accounts, age
signals and the periodic re-check. Each hook draws from its own streams
(``age_assurance.evasion``, ``age_assurance.join``, ``age_assurance.contact``,
``age_assurance.daily``, by day) a value for every account, so switching age
assurance on, or changing who is checked, never shifts another phase's draws or
another account's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim import registry
from sim.config import AgeAssuranceConfig
from sim.contact import Attempts
from sim.content import ItemStore
from sim.population import Population
from sim.safeguards import Safeguard, SafeguardContext
from sim.vocabulary import ADULT_AGE


def estimation_sigma(mae_years: float) -> float:
    """Standard deviation of a Gaussian error whose mean absolute error is ``mae_years``: MAE * sqrt(pi / 2)."""
    return float(mae_years) * math.sqrt(math.pi / 2.0)


@registry.register("safeguard", "age_assurance")
class AgeAssurance(Safeguard):
    """S9 (Ofcom 2025 "highly effective age assurance"; DSA Art. 28): checks against declared age.

    Per account it remembers whether the account evades checks, was ever
    checked, passed a document check, and was wrongly protected by a check.
    Accounts that appear (new rows) or register again (a changed
    ``joined_day``: a banned offender's new account) start afresh.
    """

    config_class = AgeAssuranceConfig
    hooks = ("on_join", "before_contact", "daily")
    decides_protection = True

    def __init__(self, config: Any, population: Population, items: ItemStore) -> None:
        super().__init__(config, population, items)
        self.evades = np.zeros(0, dtype=bool)            # evades every check while registered as an adult
        self.checked = np.zeros(0, dtype=bool)           # checked at least once
        self.document_passed = np.zeros(0, dtype=bool)   # passed a document check as an adult
        self.failed_adult = np.zeros(0, dtype=bool)      # an adult a check took for a minor (still protected)
        self.was_flagged = np.zeros(0, dtype=bool)       # flagged as suspicious at the last daily check
        self.joined_day = np.zeros(0, dtype=np.int32)    # the join day the state above belongs to

    # ------------------------------------------------------------------ hooks

    def setup(self, context: SafeguardContext) -> None:
        self._refresh(context)

    def on_join(self, accounts: np.ndarray, context: SafeguardContext) -> None:
        """Check the accounts registering today (``at_registration``), before their first session."""
        self._refresh(context)
        if self.config.at_registration:
            self._check(np.asarray(accounts, dtype=np.int64), context.rng("age_assurance.join"), context)

    def before_contact(self, attempts: Attempts, target_follows_sender: np.ndarray,
                       context: SafeguardContext) -> None:
        """Check both accounts of a stranger contact, if never checked (``before_first_contact``).

        A stranger contact is one whose target does not follow its sender, from
        a sender the platform takes for an adult (not protected). Protection set
        here applies to the attempt itself: ``allow_contact`` runs after.
        """
        self._refresh(context)
        if not self.config.before_first_contact:
            return
        pop = self.population
        stranger = ~target_follows_sender & ~pop.protected[attempts.sender]
        parties = np.unique(np.concatenate([attempts.sender[stranger], attempts.target[stranger]]))
        self._check(parties[~self.checked[parties]], context.rng("age_assurance.contact"), context)

    def daily(self, context: SafeguardContext) -> None:
        """Check newly flagged accounts, accounts that tripped an age signal, and the periodic share."""
        self._refresh(context)
        pop, cfg = self.population, self.config
        n = pop.n
        rng = context.rng("age_assurance.daily")
        # Fixed draws for every account, whatever the settings: a setting changes who is due, not the draws
        # (float32: the arrays span the population).
        signal_draw = rng.random(n, dtype=np.float32)
        periodic_draw = rng.random(n, dtype=np.float32)
        unprotected = ~pop.protected
        minor = pop.is_minor
        due = unprotected & np.where(minor, signal_draw < cfg.youth_signal_per_day,
                                     signal_draw < cfg.false_signal_per_day)
        if cfg.on_flags:
            due |= pop.suspicious & ~self.was_flagged
        if cfg.cadence_days > 0:
            due |= periodic_draw < 1.0 / cfg.cadence_days
        self.was_flagged = pop.suspicious.copy()
        del signal_draw, periodic_draw
        self._check(np.flatnonzero(due & pop.present), rng, context)     # accounts on the platform today

    # ------------------------------------------------------------------ checks

    def _refresh(self, context: SafeguardContext) -> None:
        """Grow the per-account state to the population and start afresh for new accounts."""
        pop = self.population
        n, known = pop.n, self.evades.size
        if n > known:
            grow = n - known
            self.evades = np.concatenate([self.evades, np.zeros(grow, dtype=bool)])
            self.checked = np.concatenate([self.checked, np.zeros(grow, dtype=bool)])
            self.document_passed = np.concatenate([self.document_passed, np.zeros(grow, dtype=bool)])
            self.failed_adult = np.concatenate([self.failed_adult, np.zeros(grow, dtype=bool)])
            self.was_flagged = np.concatenate([self.was_flagged, np.zeros(grow, dtype=bool)])
            self.joined_day = np.concatenate([self.joined_day, pop.joined_day[known:].astype(np.int32)])
        fresh = np.zeros(n, dtype=bool)
        fresh[known:] = True
        fresh[:known] = pop.joined_day[:known] != self.joined_day[:known]
        idx = np.flatnonzero(fresh)
        if idx.size == 0:
            return
        draw = context.rng("age_assurance.evasion").random(n, dtype=np.float32)[idx]
        self.evades[idx] = (pop.true_age[idx] < ADULT_AGE) & ~pop.decoy[idx] & (draw < self.config.evasion_share)
        self.checked[idx] = False
        self.document_passed[idx] = False
        self.failed_adult[idx] = False
        self.was_flagged[idx] = False
        self.joined_day[idx] = pop.joined_day[idx]

    def _says_adult(self, accounts: np.ndarray, protected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The method's verdict on each account: passed as an adult."""
        pop, cfg = self.population, self.config
        n = pop.n
        error = rng.standard_normal(n, dtype=np.float32)[accounts]
        document_draw = rng.random(n, dtype=np.float32)[accounts]
        if cfg.method == "self_declaration":
            return ~protected                     # the declared age, unchanged
        age = pop.true_age[accounts].astype(np.float64)
        adult = age >= ADULT_AGE
        if cfg.method == "facial_estimation":
            estimate = age + estimation_sigma(cfg.estimation_mae_years) * error
            # A face never lifts protection: leaving it takes a document (as changing a minor's
            # birth date to an adult one does), so a teen who looks older stays protected.
            says_adult = (estimate >= ADULT_AGE + cfg.buffer_years) & ~protected
        else:
            says_adult = np.zeros(accounts.size, dtype=bool)
        asked = ~says_adult                       # the document check (facial estimation's fallback)
        document = asked & adult & (self.document_passed[accounts] | (document_draw < cfg.document_adult_pass))
        self.document_passed[accounts[document]] = True
        # An evader passes whatever the method, while the account is registered as an adult.
        return says_adult | document | (self.evades[accounts] & ~protected)

    def _check(self, accounts: np.ndarray, rng: np.random.Generator, context: SafeguardContext) -> None:
        """Check ``accounts`` (banned ones are not) and make what the check says what the platform believes."""
        pop = self.population
        accounts = np.unique(accounts)
        accounts = accounts[~pop.banned[accounts]]
        protected = pop.protected[accounts]
        says_adult = self._says_adult(accounts, protected, rng)
        to_minor = accounts[~says_adult & ~protected]
        to_adult = accounts[says_adult & protected]
        pop.declared_age[to_minor] = np.minimum(pop.true_age[to_minor], ADULT_AGE - 1)
        pop.declared_age[to_adult] = np.maximum(pop.true_age[to_adult], ADULT_AGE)
        pop.protected[accounts] = pop.declared_age[accounts] < ADULT_AGE
        minor_found = to_minor[pop.true_age[to_minor] < ADULT_AGE]
        wrong = to_minor[pop.true_age[to_minor] >= ADULT_AGE]
        # Posers: protected adults found, not adults an earlier check had wrongly protected.
        posers = to_adult[(pop.true_age[to_adult] >= ADULT_AGE) & ~self.failed_adult[to_adult]]
        self.failed_adult[to_adult] = False
        self.failed_adult[wrong] = True
        self.checked[accounts] = True
        context.count("age_checks", accounts)
        context.count("minors_found_by_age_assurance", minor_found)
        context.count("adults_wrongly_protected", wrong)
        context.count("posers_found_by_age_assurance", posers)

"""Shared helpers for tests: tiny worlds built from the real config schema."""

from __future__ import annotations

import dataclasses

import pytest

from sim.config import Config


def tiny_config(**overrides) -> Config:
    """A small, fast world (600 accounts, 12 days); dotted keys override any field.

    Example: ``tiny_config(**{"population.n": 300, "recommender.feed": "random"})``.
    """
    cfg = Config()
    cfg.seed = 7
    cfg.days = 12
    cfg.measure_days = 7
    cfg.population.n = 600
    cfg.decoys.n = 4
    cfg.decoys.join_day = 1        # a tiny run follows its decoys from the first day
    cfg.network.mean_following = 15
    cfg.network.community_size = 60
    for key, value in overrides.items():
        set_key(cfg, key, value)
    if "measure_days" not in overrides:
        cfg.measure_days = min(cfg.measure_days, cfg.days)   # a shorter run is measured whole
    return cfg


def set_key(cfg: Config, dotted: str, value) -> None:
    *path, leaf = dotted.split(".")
    node = cfg
    for part in path:
        node = getattr(node, part)
    if not any(f.name == leaf for f in dataclasses.fields(node)):
        raise KeyError(dotted)
    setattr(node, leaf, value)


@pytest.fixture
def tiny():
    return tiny_config

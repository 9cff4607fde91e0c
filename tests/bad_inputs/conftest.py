"""Every case of the catalogue runs in its own empty working folder, with no memory override inherited."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # The working folder is the test's folder, so anything written to a relative path shows in tree(tmp_path).
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXPOSIM_MEMORY_LIMIT", raising=False)

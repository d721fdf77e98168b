"""Shared fixtures; also makes a run that collects no test fail instead of passing silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CAS_DATA", REPO.parent / "shared" / "data"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn pytest's "no tests collected" (exit 5) into a failure."""
    if session.testscollected == 0 and exitstatus == 5:
        session.exitstatus = 1


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder; tests using it skip with a reason when it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA} (set CAS_DATA)")
    return DATA

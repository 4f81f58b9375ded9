"""Fixtures shared by several test modules; builders live in tests/helpers/.

Test modules import builders from tests.helpers, never from each other
(tests/test_suite_imports.py checks it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.report_store import Fixture, make_store

# Property tests are reproducible run to run (a failure names its example and replays
# it) and have no deadline: the machine is shared, so a slow example is not a failure.
settings.register_profile(
    "harness",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("harness")


@pytest.fixture()
def fx(tmp_path: Path) -> Fixture:
    """Three stored runs of synthetic but realistic rows (tests/helpers/report_store.py)."""
    return make_store(tmp_path)

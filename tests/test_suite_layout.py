"""The suite's own scheduling rule: every module that uses the embedded Ray session is one xdist unit
(conftest.EMBEDDED_RAY_MODULES). A module missing from that list would start Ray on a second worker while the
first runs its searches: two clusters competing for the same cores, and a wait on the session lock."""

from __future__ import annotations

from pathlib import Path

from conftest import EMBEDDED_RAY_MODULES

TESTS = Path(__file__).resolve().parent


def test_every_module_using_the_embedded_ray_session_is_scheduled_together():
    users = {
        p.name for p in TESTS.glob("test_*.py") if "ray_session" in p.read_text() and p.name != Path(__file__).name
    }
    assert users == set(EMBEDDED_RAY_MODULES)

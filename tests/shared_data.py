"""Where the real datasets live (../shared/data next to the repo) and how tests skip without them.

Tests using `require_shared` must also carry `@pytest.mark.shared_data` so `-m "not shared_data"`
deselects them up front.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_shared(*parts: str) -> Path:
    """The shared path, or skip the calling test saying exactly what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} does not exist (expected ../shared/data next to the repo)")
    return path

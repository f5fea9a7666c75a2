"""Fixtures for the viewer's tests; tests/tui is put on sys.path for its helper modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scenes import shop_batches, write_trace  # noqa: E402


@pytest.fixture
def shop_trace(tmp_path: Path) -> Path:
    return write_trace(tmp_path / "shop.lvtrace", shop_batches(), exit_status=1)

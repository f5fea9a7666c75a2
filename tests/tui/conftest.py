"""Fixtures for the viewer's tests; tests/tui is put on sys.path for its helper modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scenes import shop_batches, write_trace  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The viewer's tests give the same answer on every Python (the recorder under them is
    tested on each one in tests/recorder and tests/e2e): they run on the first one only, which
    keeps make test under ten minutes (see pyproject.toml)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.once)


@pytest.fixture
def shop_trace(tmp_path: Path) -> Path:
    return write_trace(tmp_path / "shop.lvtrace", shop_batches(), exit_status=1)

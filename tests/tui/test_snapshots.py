"""How the main screens look, pinned as SVG snapshots (update with --snapshot-update)."""

from __future__ import annotations

import pytest
from scenes import shop_batches, write_trace
from tui_helpers import settle

from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session

pytestmark = pytest.mark.once  # the same on every Python: see pyproject.toml


def _app(tmp_path, monkeypatch) -> LoopvizApp:
    monkeypatch.chdir(tmp_path)  # the header shows the trace's path: keep it short and fixed
    write_trace(tmp_path / "shop.lvtrace", shop_batches(), exit_status=1)
    return LoopvizApp(Session("shop.lvtrace", None, title="shop.py"))


async def _ready(pilot) -> None:
    await settle(pilot.app, pilot)


def test_main_screen_at_80x24(snap_compare, tmp_path, monkeypatch):
    assert snap_compare(_app(tmp_path, monkeypatch), terminal_size=(80, 24), run_before=_ready)


def test_main_screen_at_200x60(snap_compare, tmp_path, monkeypatch):
    assert snap_compare(_app(tmp_path, monkeypatch), terminal_size=(200, 60), run_before=_ready)


def test_task_details(snap_compare, tmp_path, monkeypatch):
    async def open_failed_task(pilot) -> None:
        await _ready(pilot)
        pilot.app.query_one("#tasks").move_cursor(5)
        await pilot.press("enter")
        await pilot.pause()

    app = _app(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(100, 30), run_before=open_failed_task)


def test_help_screen(snap_compare, tmp_path, monkeypatch):
    async def open_help(pilot) -> None:
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(_app(tmp_path, monkeypatch), terminal_size=(100, 40), run_before=open_help)


def test_timeline_with_the_cursor_in_the_past(snap_compare, tmp_path, monkeypatch):
    async def travel(pilot) -> None:
        await _ready(pilot)
        await pilot.press("t")
        await pilot.pause()
        pilot.app.query_one("#timeline").cursor = pilot.app.session.model.start + 5_000_000
        await pilot.pause()
        pilot.app.tick()
        await pilot.pause()

    app = _app(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(100, 30), run_before=travel)


def test_loop_internals_of_a_held_loop(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_trace(tmp_path / "shop.lvtrace", shop_batches(held=True))
    app = LoopvizApp(Session("shop.lvtrace", None, title="shop.py"))

    async def internals(pilot) -> None:
        await _ready(pilot)
        await pilot.press("v")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=internals)

"""The task tree: who created whom, who waits on whom (gather: the children still running), at
the time cursor too, and a cycle shown once, marked."""

from __future__ import annotations

from scenes import MS, T0, _Loop, write_trace
from tui_helpers import drive, screen_text

from visualizer.trace import schema as s
from visualizer.tui.widgets.timeline import Timeline


async def _tree(app, pilot, *keys):
    await pilot.press("T", *keys)
    await pilot.pause()
    await pilot.pause()
    return screen_text(app)


def test_by_parent_then_by_what_each_waits_on(shop_trace):
    async def look(app, pilot):
        by_parent = await _tree(app, pilot)
        await pilot.press("tab")
        await pilot.pause()
        await pilot.pause()
        return by_parent, screen_text(app)

    by_parent, by_waits = drive(shop_trace, look, size=(120, 40))
    lines = by_parent.splitlines()
    main = next(i for i, line in enumerate(lines) if "Task-1 main()" in line)
    assert "who created whom" in by_parent
    assert "─ ◌ producer produce()" in lines[main + 1] or "producer produce()" in lines[main + 1]
    assert "what each waits on" in by_waits
    waits = by_waits.splitlines()
    main = next(i for i, line in enumerate(waits) if "Task-1 main()" in line)
    # main waits on gather: the children still running hang under it; the failed one does not
    under = waits[main + 1 : main + 6]
    assert any("consumer-1 consume()" in line for line in under)
    assert not any("Task-6 flaky()" in line for line in under)


def test_at_the_time_cursor_only_the_tasks_of_then(shop_trace):
    async def look(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        app.query_one("#timeline", Timeline).cursor = app.session.model.start + 1_500_000
        await pilot.pause()
        return await _tree(app, pilot)

    text = drive(shop_trace, look, size=(120, 40))
    assert "at the time cursor" in text and "Task-1 main()" in text
    assert "producer" not in text  # made at 2 ms


def test_a_cycle_is_shown_not_followed(tmp_path):
    loop = _Loop()
    loop.add(s.LOOP_OPEN, T0, 0, 1, loop.sid("MainThread"), loop.sid("RecordingEventLoop"))
    loop.task(T0, 1, "Task-1", "a", "x.py:1 in <module>", 0)
    loop.task(T0, 2, "Task-2", "b", "x.py:2 in <module>", 0)
    loop.add(s.SELECT, T0 + MS, 0, T0 + MS, 0, 2)
    loop.add(s.READY, T0 + MS, 2, 2, 0)
    loop.add(s.STEP_WAIT, T0 + 2 * MS, 1, 1, s.WAIT_TASK, 2, loop.sid("x.py:5 in a"), 0)
    loop.add(s.STEP_WAIT, T0 + 3 * MS, 2, 0, s.WAIT_TASK, 1, loop.sid("x.py:9 in b"), 0)
    trace = write_trace(tmp_path / "ring.lvtrace", [loop.batch()])

    async def look(app, pilot):
        return await _tree(app, pilot, "tab")

    text = drive(trace, look, size=(120, 30))
    nodes = [line for line in text.splitlines() if "◌ Task-" in line]
    assert len(nodes) == 3  # a, b under it, and a again under b: marked, not followed
    assert "↺ cycle" in nodes[2] and "Task-1 a()" in nodes[2]
    assert sum("↺ cycle" in line for line in nodes) == 1

"""The viewer on a recorded trace: what each pane shows, and what the keys do."""

from __future__ import annotations

from scenes import second_loop_batch, shop_batches, write_trace
from textual import events
from textual.widgets import Input
from tui_helpers import drive, screen_text

from visualizer.tui.keys import GROUPS, key_label
from visualizer.tui.widgets.output import OutputView
from visualizer.tui.widgets.table import Table


def test_tasks_table_shows_each_state_and_what_it_waits_on(shop_trace):
    async def look(app, pilot):
        return screen_text(app)

    text = drive(shop_trace, look)
    for expected in ("◌ waiting", "◔ sleeping", "⇅ io", "✗ failed", "✓ done", "Queue.put",
                     "Queue.get", "gather", "fd 7 read", "sleep 9."):  # fmt: skip
        assert expected in text, expected
    assert "tasks 8" in text and "■ exited 1" in text


def test_header_counts_tasks_by_state(shop_trace):
    async def look(app, pilot):
        return screen_text(app).splitlines()[1]

    line = drive(shop_trace, look)
    assert "◌ 4 waiting" in line and "⇅ 1 io" in line and "✗ 1 failed" in line


def test_output_pane_marks_stderr_lines(shop_trace):
    async def look(app, pilot):
        view = app.query_one("#output", OutputView)
        return [(stream, text) for _, stream, text in view.lines], screen_text(app)

    lines, text = drive(shop_trace, look)
    assert lines == [(1, "shop open"), (1, "producer: made item 1"),
                     (2, "flaky: ValueError: bad input"), (1, "quick: done")]  # fmt: skip
    assert "▌flaky: ValueError: bad input" in text


def test_filter_as_you_type_keeps_matching_tasks(shop_trace):
    async def filtered(app, pilot):
        await pilot.press("slash", *"consume")
        table = app.query_one("#tasks", Table)
        names = [task.name for task in table.displayed_rows]
        await pilot.press("escape")
        return names, len(table.displayed_rows)

    names, after_escape = drive(shop_trace, filtered)
    assert names == ["consumer-1", "consumer-2"]
    assert after_escape == 8


def test_keys_typed_in_one_burst_after_slash_land_in_the_filter(shop_trace):
    async def burst(app, pilot):
        # as a terminal delivers a fast typist's keys: all queued before the first is handled
        for key, character in [("slash", "/"), *((c, c) for c in "consume")]:
            app.post_message(events.Key(key, character))
        await pilot.pause(0.2)
        return app.query_one("#filter", Input).value

    assert drive(shop_trace, burst) == "consume"


def test_filter_matches_state_words(shop_trace):
    async def filtered(app, pilot):
        await pilot.press("slash", *"sleeping", "enter")
        return [task.coro for task in app.query_one("#tasks", Table).displayed_rows]

    assert drive(shop_trace, filtered) == ["nap"]


def test_sort_keys_change_the_order_and_i_inverts_it(shop_trace):
    async def sort(app, pilot):
        table = app.query_one("#tasks", Table)
        await pilot.press("greater_than_sign", "greater_than_sign")  # id, then name
        by_name = [task.name for task in table.displayed_rows]
        await pilot.press("i")
        inverted = [task.name for task in table.displayed_rows]
        return table.sort_column, by_name, inverted

    column, by_name, inverted = drive(shop_trace, sort)
    assert column == "name"
    assert by_name == sorted(by_name) and inverted == by_name[::-1]


def test_d_hides_and_shows_finished_tasks(shop_trace):
    async def toggle(app, pilot):
        table = app.query_one("#tasks", Table)
        await pilot.press("d")
        hidden = {task.name for task in table.displayed_rows}
        await pilot.press("d")
        return hidden, len(table.displayed_rows)

    hidden, shown = drive(shop_trace, toggle)
    assert "Task-6" not in hidden and "Task-8" not in hidden and len(hidden) == 6
    assert shown == 8


def test_enter_opens_details_with_traceback_and_escape_goes_back(shop_trace):
    async def details(app, pilot):
        table = app.query_one("#tasks", Table)
        table.move_cursor(5)  # Task-6 flaky(), which failed
        await pilot.press("enter")
        await pilot.pause()
        opened = screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        return opened, len(app.screen_stack)

    opened, depth = drive(shop_trace, details)
    assert "Task-6 flaky()" in opened and "result: failed" in opened
    assert "ValueError: bad input" in opened and "woken by" in opened
    assert depth == 1


def test_details_jump_to_the_parent_and_list_children(shop_trace):
    async def jump(app, pilot):
        app.query_one("#tasks", Table).move_cursor(1)  # producer
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        return screen_text(app), len(app.screen_stack)

    text, depth = drive(shop_trace, jump)
    assert depth == 3 and "Task-1 main()" in text
    assert "children (7)" in text and "consumer-2" in text


def test_the_main_panes_keep_ticking_under_another_screen(shop_trace):
    async def wait_under_details(app, pilot):
        await pilot.press("enter")
        await pilot.pause(0.7)  # a few ticks with the details screen on top
        app.tick()
        await pilot.press("escape")
        await pilot.pause()
        return screen_text(app)

    assert "Tasks" in drive(shop_trace, wait_under_details)


def test_details_screen_hides_the_task_table_keys(shop_trace):
    async def footer(app, pilot):
        await pilot.press("enter")
        await pilot.pause()
        return screen_text(app).splitlines()[-1]

    line = drive(shop_trace, footer)
    assert "Back" in line and "Filter" not in line


def test_help_lists_every_declared_key(shop_trace):
    async def show_help(app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        return screen_text(app)

    text = drive(shop_trace, show_help, size=(120, 90))  # all of it on one screen
    for _, keys in GROUPS:
        for key in keys:
            assert key.help in text, key_label(key)


def test_a_small_terminal_gets_a_clear_message(shop_trace):
    async def look(app, pilot):
        return screen_text(app)

    text = drive(shop_trace, look, size=(50, 12))
    assert "Terminal too small: 50×12" in text


def test_zoom_lets_the_output_fill_the_screen(shop_trace):
    async def zoom(app, pilot):
        app.query_one("#output", OutputView).focus()
        await pilot.press("z")
        await pilot.pause()
        zoomed = app.query_one("#output").region.height, app.query_one("#tasks").display
        await pilot.press("z")
        await pilot.pause()
        return zoomed, app.query_one("#tasks").display

    (height, tasks_shown), back = drive(shop_trace, zoom)
    assert height > 20 and not tasks_shown and back


def test_l_shows_each_loop_in_turn(tmp_path):
    trace = write_trace(tmp_path / "two.lvtrace", [*shop_batches(), second_loop_batch()])

    async def cycle(app, pilot):
        titles = [app.query_one("#loop").border_title]
        for _ in range(3):
            await pilot.press("l")
            titles.append(app.query_one("#loop").border_title)
        return titles

    assert drive(trace, cycle) == [
        "Loop 1 of 2 · MainThread",  # the busiest first
        "Loop 1 of 2 · MainThread",
        "Loop 2 of 2 · worker",
        "Loop 1 of 2 · MainThread",  # round to the busiest again
    ]


def test_a_trace_cut_mid_batch_opens_and_says_so(tmp_path):
    whole = write_trace(tmp_path / "whole.lvtrace", shop_batches()).read_bytes()
    cut = tmp_path / "cut.lvtrace"
    cut.write_bytes(whole[:-40])  # inside the last batch (the output)

    async def look(app, pilot):
        return screen_text(app)

    text = drive(cut, look)
    assert "trace cut short" in text and "tasks 8" in text


def test_a_trace_of_a_newer_format_is_refused_in_one_line(tmp_path):
    import struct

    from visualizer.trace.format import MAGIC, PREFIX
    from visualizer.trace.reader import TraceError, read_header

    path = tmp_path / "future.lvtrace"
    path.write_bytes(PREFIX.pack(MAGIC, 99, 1) + b"\x80" + struct.pack(">I", 0))
    try:
        read_header(path)
    except TraceError as exc:
        message = str(exc)
    else:
        raise AssertionError("a version 99 trace was accepted")
    assert "\n" not in message and "99" in message

"""The timeline: cells from spans, the axis, zoom, pan, the cursor, lane order, narrow screens.

No asyncio plugin is installed, so each widget test runs its headless app with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import random
import re
from array import array
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenes import shop_batches
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.pilot import Pilot

from visualizer.model import Model, State
from visualizer.tui.widgets.timeline import (
    LOOP_PALETTE,
    NO_SPAN,
    TASK_PALETTE,
    Counter,
    Lane,
    LoopPhase,
    SpanIndex,
    Timeline,
    cell_of,
    cell_start,
    lane_cells,
    split_width,
    task_lane,
    tick_label,
    ticks,
)

pytestmark = pytest.mark.once  # the same on every Python: see pyproject.toml

MS = 1_000_000
RANKS = TASK_PALETTE.ranks
GLYPH = {state: shade.glyph for state, shade in TASK_PALETTE.shades.items()}


# -- cells from spans --------------------------------------------------------------------------


@st.composite
def spans(draw: st.DrawFn) -> tuple[list[int], list[int], list[int]]:
    """Sorted, non-overlapping spans with gaps, some far shorter than a cell, some in crowds."""
    begin, end, code = [], [], []
    t = draw(st.integers(0, 1_000))
    crowd = draw(st.booleans())  # hundreds of tiny spans: many to a cell
    gaps = st.integers(0, 3) if crowd else st.integers(0, 3) | st.integers(0, 5_000)
    lengths = st.integers(1, 5) if crowd else st.integers(1, 5) | st.integers(1, 20_000)
    for _ in range(draw(st.integers(0, 300) if crowd else st.integers(0, 40))):
        t += draw(gaps)  # often back to back
        length = draw(lengths)
        begin.append(t)
        end.append(t + length)
        code.append(draw(st.sampled_from(list(State))))
        t += length
    return begin, end, code


def indexed(begin: Sequence[int], end: Sequence[int], code: Sequence[int]) -> SpanIndex:
    index = SpanIndex()
    index.update(begin, end, code)
    return index


def touching(begin: Sequence[int], end: Sequence[int], c0: int, c1: int) -> list[int]:
    """The spans that share some time with [c0, c1), by brute force."""
    return [i for i in range(len(begin)) if begin[i] < c1 and end[i] > c0]


def assert_cells_follow_the_rule(
    begin: Sequence[int],
    end: Sequence[int],
    code: Sequence[int],
    t0: int,
    length: int,
    cells: list[int],
) -> None:
    """Each cell shows running if any running span touches it; else the highest rank there,
    and of those, the code covering the most time; blank where nothing is."""
    width = len(cells)
    for k, shown in enumerate(cells):
        c0, c1 = cell_start(k, t0, length, width), cell_start(k + 1, t0, length, width)
        here = touching(begin, end, c0, c1)
        if any(code[i] == State.RUNNING for i in here):
            assert shown == State.RUNNING, (k, c0, c1)
        if not here:
            assert shown == NO_SPAN, (k, c0, c1)
            continue
        top = max(RANKS[code[i]] for i in here)
        cover: dict[int, int] = {}
        for i in here:
            if RANKS[code[i]] == top:
                cover[code[i]] = cover.get(code[i], 0) + min(end[i], c1) - max(begin[i], c0)
        assert RANKS[shown] == top
        assert cover[shown] == max(cover.values())


@settings(max_examples=200, deadline=None)
@given(
    spans(),
    st.integers(0, 1_000) | st.integers(0, 30_000),
    st.integers(1, 60_000) | st.integers(1, 1_000_000),
    st.integers(1, 120),
    st.booleans(),
)
def test_a_cell_any_running_span_touches_shows_running(
    data: tuple[list[int], list[int], list[int]], t0: int, length: int, width: int, index: bool
) -> None:
    begin, end, code = data
    length = max(length, width)  # the widget never shows less than a ns a cell
    cells = lane_cells(
        begin,
        end,
        code,
        RANKS,
        t0,
        t0 + length,
        width,
        indexed(begin, end, code) if index else None,
    )
    assert len(cells) == width
    assert_cells_follow_the_rule(begin, end, code, t0, length, cells)


def test_a_long_lane_zoomed_out_is_drawn_from_its_index_by_the_same_rule() -> None:
    rng = random.Random(3)
    begin, end, code, t = [], [], [], 0
    for _ in range(5_000):
        t += rng.choice((0, 0, 1, 7))
        begin.append(t)
        t += rng.choice((1, 2, 3, 50))
        end.append(t)
        code.append(rng.choice(list(State)))
    index = indexed(begin, end, code)
    for t0, length, width in [(0, t, 80), (1_000, 20_000, 50), (t // 2, t // 3, 120), (5, 900, 7)]:
        cells = lane_cells(begin, end, code, RANKS, t0, t0 + length, width, index)
        assert_cells_follow_the_rule(begin, end, code, t0, length, cells)


@settings(max_examples=100, deadline=None)
@given(spans(), st.data())
def test_an_index_kept_up_as_a_lane_grows_is_the_index_of_the_whole_lane(
    data: tuple[list[int], list[int], list[int]], more: st.DataObject
) -> None:
    begin, end, code = data
    index = SpanIndex()
    for stop in sorted(more.draw(st.lists(st.integers(0, len(code)), max_size=4))):
        # what a live lane shows: the spans so far, the last one open until now
        shown_end = end[:stop]
        if stop:
            shown_end[-1] = begin[stop - 1] + 1
        index.update(begin[:stop], shown_end, code[:stop])
    index.update(begin, end, code)
    whole = indexed(begin, end, code)
    assert (index.spans, index.where, index.total) == (whole.spans, whole.where, whole.total)


def test_cells_of_array_spans_match_cells_of_lists() -> None:
    ready, running, waiting = State.READY, State.RUNNING, State.WAITING
    begin, end = [0, 10, 30, 31, 32], [10, 30, 31, 32, 95]
    code = [ready, running, waiting, running, waiting]
    as_arrays = [array("q", values) for values in (begin, end, code)]
    cells = lane_cells(begin, end, code, RANKS, 0, 100, 10)
    assert lane_cells(*as_arrays, RANKS, 0, 100, 10) == cells
    # a 1 ns step inside a 10 ns cell of waiting shows; the last cell is half blank, half waiting
    assert cells == [ready, running, running, running] + [waiting] * 6


def test_an_instant_running_step_still_marks_its_cell() -> None:
    sleeping, running = State.SLEEPING, State.RUNNING
    cells = lane_cells([0, 50, 50], [50, 50, 100], [sleeping, running, sleeping], RANKS, 0, 100, 4)
    assert cells == [sleeping, sleeping, running, sleeping]


class CountingSequence(Sequence[int]):
    """A sequence that counts how many items were read."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values = values
        self.reads = 0

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: Any) -> Any:
        self.reads += 1
        return self.values[index]


def test_cells_read_only_the_spans_in_the_window() -> None:
    n = 100_000
    begin = CountingSequence(range(0, 10 * n, 10))
    end = CountingSequence(range(5, 10 * n, 10))
    code = CountingSequence([State.RUNNING, State.WAITING] * (n // 2))
    cells = lane_cells(begin, end, code, RANKS, 500_000, 500_200, 40)  # 20 spans in view
    assert State.RUNNING in cells
    assert begin.reads + end.reads + code.reads < 400


# -- the axis ----------------------------------------------------------------------------------

UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "µs": 1_000, "ns": 1}
LABEL = re.compile(r"^(\d+(?:\.\d+)?)(s|ms|µs|ns)$")


def parse_label(label: str) -> float:
    match = LABEL.match(label)
    assert match, f"unreadable axis label {label!r}"
    return float(match[1]) * UNITS[match[2]]


def test_tick_labels_read_as_people_write_times() -> None:
    assert tick_label(0, 250 * MS) == "0s"
    assert tick_label(250 * MS, 250 * MS) == "250ms"
    assert tick_label(1_250 * MS, 250 * MS) == "1.25s"
    assert tick_label(2_000 * MS, 250 * MS) == "2s"
    assert tick_label(3_600_000, 1_200_000) == "3.6ms"
    assert tick_label(12_345_700_000, 100_000) == "12.3457s"
    assert tick_label(800_000, 100_000) == "800µs"


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10**12),
    st.integers(0, 10**12),
    st.integers(10, 10**11),
    st.integers(20, 250),
)
def test_axis_labels_increase_fit_and_say_their_own_time(
    origin: int, offset: int, length: int, width: int
) -> None:
    t0 = origin + offset
    length = max(length, width)
    marks = ticks(t0, t0 + length, width, origin)
    assert marks, "an axis without a single label"
    times = [parse_label(label) for _, label in marks]
    assert times == sorted(set(times))
    previous_end = -1
    for (k, label), ns in zip(marks, times, strict=True):
        assert previous_end < k and k + len(label) <= width
        previous_end = k + len(label)  # the next label starts after a gap
        assert cell_of(origin + round(ns), t0, length, width) == k  # it names its own cell
        assert len(label) <= 16  # 9 decimals of seconds, when zoomed to ns late in a trace


# -- the widget --------------------------------------------------------------------------------


class TimelineApp(App[None]):
    """A screen holding one timeline; it keeps the messages the timeline posts."""

    def __init__(self) -> None:
        super().__init__()
        self.timeline = Timeline()
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.timeline

    def on_mount(self) -> None:
        self.timeline.focus()

    def on_timeline_cursor_moved(self, message: Timeline.CursorMoved) -> None:
        self.messages.append(message)

    def on_timeline_lane_selected(self, message: Timeline.LaneSelected) -> None:
        self.messages.append(message)


def run(
    steps: Callable[[TimelineApp, Timeline, Pilot[None]], Awaitable[Any]],
    size: tuple[int, int] = (100, 20),
) -> Any:
    async def main() -> Any:
        app = TimelineApp()
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await steps(app, app.timeline, pilot)

    return asyncio.run(main())


def lane(key: int, *spans: tuple[int, int, State]) -> Lane:
    begin, end, code = zip(*spans, strict=True) if spans else ((), (), ())
    return Lane(key, f"Task-{key} work()", array("q", begin), array("q", end), array("q", code))


def workers(n: int = 5) -> list[Lane]:
    """Tasks over one second: ready, a running step, a wait, a short step, a sleep."""
    return [
        lane(
            i,
            (0, 100 * MS, State.READY),
            (100 * MS, (300 + i) * MS, State.WAITING),
            ((300 + i) * MS, (310 + i) * MS, State.RUNNING),
            ((310 + i) * MS, 900 * MS, State.SLEEPING),
        )
        for i in range(n)
    ]


def lines(timeline: Timeline) -> list[str]:
    return [timeline.render_line(y).text for y in range(timeline.size.height)]


def time_width(timeline: Timeline) -> int:
    return split_width(timeline.scrollable_content_region.width)[1]


def cursor_cell(timeline: Timeline) -> int:
    t0, t1 = timeline.window
    return cell_of(timeline.cursor, t0, t1 - t0, time_width(timeline))


def test_fit_shows_all_the_time_with_the_axis_from_zero() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[str]:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        await pilot.press("plus", "plus", "right", "0")
        assert timeline.window == (0, 1_000 * MS)
        return lines(timeline)

    shown = run(steps)
    axis = shown[0].split("│")[1]
    assert axis.startswith("0s ")
    assert "500ms" in axis
    assert shown[1].startswith("Task-0 work()")
    time_area = shown[1].split("│")[1]
    assert time_area.startswith(GLYPH[State.READY])
    assert GLYPH[State.RUNNING] in time_area  # a 10 ms step at 1 s on 70 cells: still shown
    assert time_area.rstrip().endswith(GLYPH[State.SLEEPING])


def test_the_cursor_is_a_reversed_column_on_every_line() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[Any]:
        timeline.set_lanes(workers(3), start=0, end=1_000 * MS)
        timeline.cursor = 500 * MS
        await pilot.pause()
        x = split_width(timeline.scrollable_content_region.width)[0] + 1 + cursor_cell(timeline)
        return [[timeline.render_line(y).divide([x, x + 1])[1] for y in range(4)], x]

    cells, x = run(steps)
    for cell in cells:
        segments = list(cell)
        assert len(segments) == 1 and segments[0].style and segments[0].style.reverse


def test_lanes_given_before_the_timeline_is_mounted_fit_its_width() -> None:
    async def main() -> tuple[tuple[int, int], str]:
        app = TimelineApp()
        app.timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        async with app.run_test(size=(100, 20)) as pilot:
            await pilot.pause()
            return app.timeline.window, app.timeline.render_line(1).text

    window, first_lane = asyncio.run(main())
    assert window == (0, 1_000 * MS)
    assert GLYPH[State.RUNNING] in first_lane


def test_zooming_keeps_the_cursor_at_its_column() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        timeline.cursor = 377 * MS
        for keys in (["plus"], ["plus", "plus"], ["minus"], ["equals_sign"], ["minus", "minus"]):
            column, t = cursor_cell(timeline), timeline.cursor
            await pilot.press(*keys)
            assert timeline.cursor == t
            assert abs(cursor_cell(timeline) - column) <= 1, keys

    run(steps)


def test_zoom_stops_at_a_ns_a_cell_and_at_all_there_is() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        timeline.zoom(2**40)
        await pilot.press("plus")
        t0, t1 = timeline.window
        assert t1 - t0 == time_width(timeline)
        assert t0 <= timeline.cursor < t1
        timeline.zoom(2**-40)
        await pilot.press("minus")
        assert timeline.window == (0, 1_000 * MS)

    run(steps)


def test_pan_moves_the_window_and_the_cursor_with_it() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        await pilot.press("plus", "plus")  # 250 ms on screen, from 0
        assert timeline.window == (0, 250 * MS)
        await pilot.press("left")  # already at the start
        assert timeline.window == (0, 250 * MS)
        cursor = timeline.cursor
        await pilot.press("right")
        assert timeline.window == (250 * MS // 8, 250 * MS // 8 + 250 * MS)
        assert timeline.cursor == cursor + 250 * MS // 8
        await pilot.press(*["shift+right"] * 6)
        assert timeline.window == (750 * MS, 1_000 * MS)  # stopped at the end
        await pilot.press("shift+left")
        assert timeline.window == (625 * MS, 875 * MS)

    run(steps)


def test_brackets_jump_to_the_selected_lanes_state_changes() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        await pilot.press("down")  # Task-1: its step runs 301..311 ms
        timeline.cursor = 0
        visited = []
        for _ in range(5):
            await pilot.press("right_square_bracket")
            visited.append(timeline.cursor)
        assert visited == [100 * MS, 301 * MS, 311 * MS, 900 * MS, 900 * MS]
        span = timeline.selected_span
        assert span is None  # 900 ms: the lane has ended
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert timeline.cursor == 301 * MS
        span = timeline.selected_span
        assert span is not None
        assert (span.key, span.begin, span.end, span.code) == (1, 301 * MS, 311 * MS, State.RUNNING)
        assert span.duration == 10 * MS

    run(steps)


def test_moving_the_cursor_posts_where_it_went() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[Any]:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        await pilot.pause()
        app.messages.clear()
        await pilot.press("full_stop", "full_stop", "comma", "down", "end")
        await pilot.pause()
        return [
            (type(m).__name__, getattr(m, "t", None), getattr(m, "key", None)) for m in app.messages
        ]

    posted = run(steps)
    cell = 1_000 * MS // 70  # the width of a cell at 100 columns: a 25-cell label, a separator
    assert [kind for kind, _, _ in posted] == [
        "CursorMoved",
        "CursorMoved",
        "CursorMoved",
        "LaneSelected",
        "CursorMoved",
    ]
    assert abs(posted[0][1] - cell) <= 1_000 * MS // 70
    assert posted[2][1] == posted[0][1]
    assert posted[3][2] == 1
    assert posted[4][1] == 1_000 * MS - 1


def test_lanes_follow_the_order_they_are_given_and_hide_the_others() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[str]:
        timeline.set_lanes(workers(), start=0, end=1_000 * MS)
        await pilot.press("down", "down")  # Task-2
        timeline.set_order([3, 2, 99, 0])  # 99: no such lane
        await pilot.pause()
        assert timeline.shown_keys == [3, 2, 0]
        assert timeline.selected_key == 2
        timeline.set_lanes(workers(4), start=0, end=1_000 * MS)  # new data keeps the order
        await pilot.pause()
        assert timeline.shown_keys == [3, 2, 0]
        return lines(timeline)

    shown = run(steps)
    labels = [line.split("│")[0].strip() for line in shown[1:4]]
    assert labels == ["Task-3 work()", "Task-2 work()", "Task-0 work()"]


def test_l_shows_a_lanes_life_and_two_marks_show_the_time_between() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        short = lane(7, (200 * MS, 260 * MS, State.RUNNING), (260 * MS, 400 * MS, State.DONE))
        timeline.set_lanes([*workers(2), short], start=0, end=1_000 * MS)
        await pilot.press("down", "down", "l")
        assert timeline.window == (200 * MS, 400 * MS)
        timeline.cursor = 250 * MS
        await pilot.press("m")
        timeline.cursor = 300 * MS
        await pilot.press("m")
        assert timeline.window == (250 * MS, 300 * MS + 1)

    run(steps)


def test_counters_draw_bars_scaled_to_the_highest_value_in_view() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[str]:
        ready = Counter("ready", [0, 500 * MS], [2, 8])
        timeline.set_lanes(workers(1), [ready], start=0, end=1_000 * MS)
        await pilot.pause()
        return lines(timeline)

    shown = run(steps)
    label, bars = shown[1].split("│")
    assert label.startswith("ready") and label.rstrip().endswith("8")
    assert set(bars[:30]) == {"▂"} and set(bars[-30:]) == {"█"}
    assert shown[2].startswith("Task-0")


def test_an_empty_timeline_says_so_and_takes_every_key() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[str]:
        await pilot.press("plus", "minus", "0", "l", "m", "m", "left", "right", "comma")
        await pilot.press("full_stop", "left_square_bracket", "right_square_bracket", "up", "down")
        timeline.set_lanes([], start=0, end=0)
        await pilot.press("plus", "right", "down", "right_square_bracket")
        assert timeline.selected_span is None
        return lines(timeline)

    shown = run(steps)
    assert shown[0].split("│")[1].startswith("0s")
    assert shown[1].startswith("no tasks")


def test_a_narrow_timeline_fits_its_lines() -> None:
    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> list[Any]:
        long = lane(9, (0, 900 * MS, State.WAITING_IO))
        long.label = "Task-9 a_coroutine_with_a_very_long_name_indeed()"
        timeline.set_lanes([*workers(30), long], [Counter("tasks alive", [0], [31])], 0, 10**9)
        await pilot.press("plus", "right")
        timeline.set_order([9, 0])
        await pilot.pause()
        width = timeline.scrollable_content_region.width
        return [width, [timeline.render_line(y) for y in range(timeline.size.height)]]

    width, strips = run(steps, size=(60, 24))
    assert width <= 60
    assert all(strip.cell_length == width for strip in strips)
    assert strips[2].text.split("│")[0].endswith("…")


def test_any_keys_keep_the_cursor_on_screen_and_the_lines_in_the_width() -> None:
    keys = [b.key for b in Timeline.BINDINGS if isinstance(b, Binding)]
    keys = [key for binding in keys for key in binding.split(",")]

    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        timeline.set_lanes([*workers(30), lane(99)], [Counter("ready", [5 * MS], [3])], 0, 10**9)
        rng = random.Random(7)
        for _ in range(25):
            await pilot.press(*rng.choices(keys, k=4))
            t0, t1 = timeline.window
            assert 0 <= t0 < t1 <= 10**9
            assert t0 <= timeline.cursor < t1
            width = timeline.scrollable_content_region.width
            for y in range(timeline.size.height):
                assert timeline.render_line(y).cell_length == width

    run(steps, size=(70, 16))


def test_a_long_lane_growing_in_place_is_drawn_as_its_spans_say() -> None:
    rng = random.Random(5)
    states = [State.RUNNING, State.READY, State.WAITING, State.SLEEPING]  # no equal ranks
    grown = lane(1)

    def grow(spans: int) -> None:
        t = grown.end[-1] if len(grown.end) else 0
        for _ in range(spans):
            grown.begin.append(t + rng.randrange(3))
            grown.end.append(grown.begin[-1] + rng.randrange(1, 40))
            grown.code.append(rng.choice(states))
            t = grown.end[-1]

    def expected(timeline: Timeline) -> str:
        t0, t1 = timeline.window
        codes = lane_cells(grown.begin, grown.end, grown.code, RANKS, t0, t1, time_width(timeline))
        return "".join(" " if c == NO_SPAN else GLYPH[State(c)] for c in codes)

    async def steps(app: TimelineApp, timeline: Timeline, pilot: Pilot[None]) -> None:
        grow(3_000)  # past DENSE_LANE: drawn from an index
        timeline.set_lanes([grown])
        await pilot.pause()
        assert timeline.render_line(1).text.split("│")[1] == expected(timeline)
        grow(2_000)
        timeline.set_lanes([grown])  # the same lane, longer: its index catches up
        await pilot.pause()
        assert timeline.render_line(1).text.split("│")[1] == expected(timeline)
        grow(500)
        grown.end[-1] += 1_000  # and its last span still open
        again = Lane(grown.key, grown.label, grown.begin, grown.end, grown.code)
        timeline.set_lanes([again])  # a new lane around the same sequences: the same index
        await pilot.pause()
        assert timeline.render_line(1).text.split("│")[1] == expected(timeline)

    run(steps)


def test_the_legend_names_every_glyph() -> None:
    assert TASK_PALETTE.legend().plain == (
        "█ running  ▒ ready  ─ waiting  ≈ io  ┄ sleeping  · done  × failed  ⊘ cancelled"
    )
    assert LOOP_PALETTE.legend().plain == "█ busy  ┄ select"


def test_a_loop_lane_shows_busy_over_select_and_nothing_between() -> None:
    select, busy = LoopPhase.SELECT, LoopPhase.BUSY
    loop = Lane("loop", "loop", [0, 10, 12], [10, 12, 30], [select, busy, select], LOOP_PALETTE)
    cells = lane_cells(loop.begin, loop.end, loop.code, loop.palette.ranks, 0, 40, 4)
    assert cells == [select, busy, select, NO_SPAN]


# -- lanes from the model ----------------------------------------------------------------------


@pytest.fixture
def shop_model() -> Model:
    model = Model()
    model.feed_all(shop_batches())
    return model


def test_a_task_lane_says_what_the_model_says_at_every_change(shop_model: Model) -> None:
    now = shop_model.end
    for task in shop_model.tasks:
        built = task_lane(task, now)
        assert built.key == task.index and built.label == task.label
        assert list(built.begin) == sorted(built.begin)
        for i in range(len(built.begin)):
            assert built.begin[i] < built.end[i]
            if i:
                assert built.end[i - 1] <= built.begin[i]
                assert built.code[i - 1] != built.code[i] or built.end[i - 1] < built.begin[i]
            assert task.state_at(built.begin[i]) == built.code[i], (task.label, i)
        assert built.begin[0] == task.created
        assert built.end[-1] == now

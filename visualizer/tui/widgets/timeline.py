"""A lane per task over time, with a time axis, counter lanes, zoom, pan and a time cursor.

The widget knows nothing of the model: it draws `Lane`s (sorted, non-overlapping spans, each
with a code into a `Palette`) and `Counter`s (step functions). `task_lane` makes a lane from a
model task. Each cell of a lane covers a slice of time and shows the highest-ranked code any
span in that slice has (running > ready > waiting kinds > sleeping and finished), and among
equal ranks the code covering most of the slice: a running step is never hidden, however short.

Glyphs (colour always comes with one; `TASK_PALETTE.legend()` says it in a line):

    █ running   ▒ ready   ─ waiting   ≈ io   ┄ sleeping   · done   × failed   ⊘ cancelled
    loop lanes (`LOOP_PALETTE`): █ busy (running callbacks)   ┄ select (blocked in select)
    counter lanes: ▁▂▃▄▅▆▇█ scaled to the highest value in view (blank: 0)

Only the lines on screen are drawn, through the Line API; a lane's cells for the window come
from a bisect on its span starts, so a redraw costs O(cells + spans in view), whatever the
length of the trace, and each drawn line is kept as a strip until the window or the data change.
A long lane (a loop's, a busy task's) also gets a `SpanIndex`, so that zoomed out, where
thousands of its spans share a cell, it costs O(cells x codes x log spans) instead.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import groupby
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...model import State
from ..format import FINISHED, SPARKS, STATE_LOOK, duration
from .table import fit

if TYPE_CHECKING:
    from ...model.state import Task

NO_SPAN = -1  # a cell no span touches (drawn blank); also "no value yet" in a counter cell
AXIS_LINES = 1
LABEL_MAX = 28  # cells for the label column on a wide screen; a quarter of a narrow one
SEPARATOR = "│"  # between the label column and the time area
PAN_STEPS = 8  # left/right pan by 1/8 of the window; shift+left/right by half of it
ZOOM_FACTOR = 2  # +/- halve or double the time on screen
DENSE_LANE = 1_024  # a lane with more spans gets a SpanIndex when it is first drawn
DENSE_CELL = 16  # a cell more spans share is decided from the lane's index
STRIP_CACHE_SIZE = 2048  # lines kept between changes: a few dozen windows of a full screen
TICK_GAP = 2  # at least this many blank cells between two axis labels
NS_PER_UNIT = (("s", 1_000_000_000), ("ms", 1_000_000), ("µs", 1_000), ("ns", 1))
# axis steps (ns): 1, 2, 2.5 and 5 times a power of ten
NICE_STEPS = sorted(
    {m * 10**e for e in range(17) for m in (1, 2, 5)} | {25 * 10**e for e in range(16)}
)
MIN_TICK_ROOM = 6  # cells from one tick to the next, at least


# -- what the widget draws -------------------------------------------------------------------


@dataclass(frozen=True)
class Shade:
    """How one code looks in a cell: a glyph, a word for the legend, a Rich style, a rank."""

    glyph: str
    word: str
    style: str
    rank: int  # in a cell several codes share, the highest rank wins (then the most time)


class Palette:
    """What each code of a lane means."""

    def __init__(self, shades: Mapping[int, Shade]) -> None:
        self.shades = dict(shades)
        # A list indexed by code: the per-cell loop looks ranks up for every span it meets.
        self.ranks = [0] * (max(self.shades, default=0) + 1)
        for code, shade in self.shades.items():
            self.ranks[code] = shade.rank

    def legend(self) -> Text:
        """Every glyph with its word, in its colour: `legend().plain` is the plain string."""
        text = Text()
        for shade in self.shades.values():
            if text:
                text.append("  ")
            text.append(f"{shade.glyph} {shade.word}", shade.style)
        return text


# glyph and rank per state; the word and the colour are the ones every view uses (STATE_LOOK)
_TASK_SHADES = {
    State.RUNNING: ("█", 3),
    State.READY: ("▒", 2),
    State.WAITING: ("─", 1),
    State.WAITING_IO: ("≈", 1),
    State.SLEEPING: ("┄", 0),
    State.DONE: ("·", 0),
    State.FAILED: ("×", 0),
    State.CANCELLED: ("⊘", 0),
}
TASK_PALETTE = Palette(
    {
        state: Shade(glyph, STATE_LOOK[state][1], STATE_LOOK[state][2], rank)
        for state, (glyph, rank) in _TASK_SHADES.items()
    }
)


class LoopPhase(IntEnum):
    """The codes of a loop lane: the numbers of the model's `series.Activity`, so that a loop's
    activity arrays can be drawn as they are. Between spans (the loop's own bookkeeping, or not
    running at all) the lane is blank."""

    SELECT = 0  # blocked in select: idle until I/O or the next timer
    BUSY = 1  # running the handles (callbacks, task steps) of an iteration


LOOP_PALETTE = Palette(
    {
        LoopPhase.BUSY: Shade("█", "busy", STATE_LOOK[State.RUNNING][2], 1),
        LoopPhase.SELECT: Shade("┄", "select", STATE_LOOK[State.SLEEPING][2], 0),
    }
)


@dataclass(eq=False)
class Lane:
    """One row of spans: `begin`, `end` (ns) and `code` have one entry per span, sorted by
    time, not overlapping. `array('q')` or lists both do. A live lane may be given again with
    spans appended to the same sequences and the last one's end moved on; any other change
    takes new sequences."""

    key: Hashable  # names the lane across updates (a task's index)
    label: str  # "Task-3 worker()"
    begin: Sequence[int]
    end: Sequence[int]
    code: Sequence[int]  # a key of `palette` (a State value for a task lane)
    palette: Palette = TASK_PALETTE


@dataclass(eq=False)
class Counter:
    """A step function (`value[i]` from `t[i]` on, `t` sorted), drawn as bars: queue lengths,
    tasks alive. Values are counts (0 or more)."""

    label: str
    t: Sequence[int]
    value: Sequence[int]
    missing: str = ""  # a count the trace cannot give: why, said in place of its bars


@dataclass(frozen=True)
class SpanInfo:
    """One span of a lane, as the time cursor finds it."""

    key: Hashable
    begin: int
    end: int
    code: int

    @property
    def duration(self) -> int:
        return self.end - self.begin


def task_lane(task: Task, now: int) -> Lane:
    """A task's states as spans: each state lasts until the next one, the last until `now`."""
    history = task.history
    if task.ended is not None and history[-1][1] not in FINISHED:
        # cancelled or failed before it ever ran: the steps do not say so, the task does
        history.append((task.ended, task.state, 0))
    begin, end, code = array("q"), array("q"), array("q")
    stops = [t for t, _, _ in history[1:]] + [max(now, history[-1][0])]
    for (t, state, _), stop in zip(history, stops, strict=True):
        if stop <= t:
            continue  # left at once: nothing to draw
        if code and code[-1] == state and end[-1] == t:
            end[-1] = stop  # the same state again (a yield: READY after READY)
            continue
        begin.append(t)
        end.append(stop)
        code.append(state)
    return Lane(task.index, task.label, begin, end, code)


# -- from spans to cells ---------------------------------------------------------------------


def cell_of(t: int, t0: int, length: int, width: int) -> int:
    """The cell whose slice holds time `t`: cell k covers [t0 + k*length//width, the next)."""
    return ((t - t0 + 1) * width - 1) // length


def cell_start(k: int, t0: int, length: int, width: int) -> int:
    """When cell `k` begins."""
    return t0 + k * length // width


def lane_cells(
    begin: Sequence[int],
    end: Sequence[int],
    code: Sequence[int],
    ranks: Sequence[int],
    t0: int,
    t1: int,
    width: int,
    index: SpanIndex | None = None,
) -> list[int]:
    """The code each of `width` cells over [t0, t1) shows (NO_SPAN where no span is).

    Visits only the spans in the window (found by bisect) and fills a run of cells that one span
    covers whole in one go: O(cells + spans in the window). With the lane's `index`, a cell that
    many spans share costs O(codes x log spans) instead, so a long lane zoomed out stays cheap.
    """
    cells = [NO_SPAN] * width
    length, n = t1 - t0, len(begin)
    j = max(0, bisect_right(begin, t0) - 1)  # the span in force at t0, if any
    k = 0
    while k < width and j < n:
        b = begin[j]
        e = max(end[j], b + 1)  # an instant still marks its cell
        c0 = cell_start(k, t0, length, width)
        if e <= c0:
            j += 1
            continue
        if b >= t1:
            break
        if b > c0 and cell_of(b, t0, length, width) > k:
            k = cell_of(b, t0, length, width)  # a gap: the cells before span j stay blank
            continue
        c1 = cell_start(k + 1, t0, length, width)
        if b <= c0 and e >= c1:
            last = min(cell_of(e, t0, length, width), width)  # cells k..last-1 are inside
            cells[k:last] = [code[j]] * (last - k)
            k = last
            continue
        after = bisect_left(begin, c1, j)  # spans j..after-1 share the cell
        if index is not None and after - j > DENSE_CELL:
            cells[k] = index.cell(begin, end, code, ranks, j, after, c0, c1)
        else:
            cells[k] = _shared_cell(begin, end, code, ranks, j, after, c0, c1)
        j = after - 1  # the spans before it end inside this cell
        k += 1
    return cells


def _shared_cell(
    begin: Sequence[int],
    end: Sequence[int],
    code: Sequence[int],
    ranks: Sequence[int],
    j: int,
    after: int,
    c0: int,
    c1: int,
) -> int:
    """The code of a cell [c0, c1) that spans j..after-1 share: the highest rank, then the code
    covering the most time."""
    top, cover = -1, {}  # the highest rank met, and the time each code of that rank covers
    for i in range(j, after):
        c, b = code[i], begin[i]
        rank = ranks[c]
        if rank >= top:
            covered = min(max(end[i], b + 1), c1) - max(b, c0)
            if rank > top:
                top, cover = rank, {c: covered}
            else:
                cover[c] = cover.get(c, 0) + covered
    return max(cover, key=cover.__getitem__)


class SpanIndex:
    """A lane's spans by code, with running totals of their lengths, to decide a cell that
    thousands of spans share without visiting them.

    Follows a lane that grows at the end, as a live one does: spans are only appended, and only
    the last one's end may change.
    """

    def __init__(self) -> None:
        self.spans = 0  # how many spans are indexed
        self.where: dict[int, array[int]] = {}  # code -> the positions of its spans
        self.total: dict[int, array[int]] = {}  # code -> their lengths summed, from 0 on
        self._last = NO_SPAN  # the code the last indexed span is under

    def update(self, begin: Sequence[int], end: Sequence[int], code: Sequence[int]) -> None:
        """Index the spans appended since the last update, and the last one again."""
        if self.spans:  # it may have grown since
            self.spans -= 1
            self.where[self._last].pop()
            self.total[self._last].pop()
        for i in range(self.spans, len(code)):
            c = code[i]
            if c not in self.where:
                self.where[c], self.total[c] = array("q"), array("q", [0])
            self.where[c].append(i)
            total = self.total[c]
            total.append(total[-1] + max(end[i] - begin[i], 1))
            self._last = c
        self.spans = len(code)

    def cell(
        self,
        begin: Sequence[int],
        end: Sequence[int],
        code: Sequence[int],
        ranks: Sequence[int],
        j: int,
        after: int,
        c0: int,
        c1: int,
    ) -> int:
        """What `_shared_cell` says, from two bisects per code."""
        top, cover = -1, {}
        last = after - 1
        for c, where in self.where.items():
            rank = ranks[c]
            first, stop = bisect_left(where, j), bisect_left(where, after)
            if rank < top or first == stop:
                continue
            covered = self.total[c][stop] - self.total[c][first]
            # the first and the last span may stick out of the cell
            if code[j] == c:
                covered -= max(0, c0 - begin[j])
            if code[last] == c:
                covered -= max(0, max(end[last], begin[last] + 1) - c1)
            if rank > top:
                top, cover = rank, {}
            cover[c] = covered
        return max(cover, key=cover.__getitem__)


def counter_cells(
    t: Sequence[int], value: Sequence[int], t0: int, t1: int, width: int
) -> list[int]:
    """The highest value the step function takes in each cell (NO_SPAN before its first point)."""
    cells = []
    length = t1 - t0
    i = bisect_right(t, t0) - 1  # the point in force at the cell's start
    for k in range(width):
        c1 = cell_start(k + 1, t0, length, width)
        inside = bisect_left(t, c1, i + 1)  # points i+1 .. inside-1 fall in the cell
        top = value[i] if i >= 0 else NO_SPAN
        if inside > i + 1:
            top = max(top, max(value[i + 1 : inside]))  # a slice: max runs at C speed
        cells.append(top)
        i = bisect_right(t, c1, max(i, 0)) - 1
    return cells


def bar(value: int, top: int) -> str:
    """A block character for `value` scaled to `top`; blank for 0 or no value."""
    if value <= 0 or top <= 0:
        return " "
    return SPARKS[min(7, (value * 8 - 1) // top)]


def next_change(lane: Lane, t: int) -> int | None:
    """The first span start or end of `lane` after `t`."""
    found = [s[i] for s in (lane.begin, lane.end) if (i := bisect_right(s, t)) < len(s)]
    return min(found, default=None)


def previous_change(lane: Lane, t: int) -> int | None:
    """The last span start or end of `lane` before `t`."""
    found = [s[i - 1] for s in (lane.begin, lane.end) if (i := bisect_left(s, t))]
    return max(found, default=None)


# -- the time axis -----------------------------------------------------------------------------


def tick_label(rel: int, step: int) -> str:
    """`rel` ns as an axis label: the largest unit it reaches, as many decimals as `step`
    needs, no trailing zeros: 0s, 250ms, 1.25s, 12.3457s, 800µs."""
    if rel < 0:
        return "-" + tick_label(-rel, step)
    if rel == 0:
        return "0s"
    name, unit = next((u for u in NS_PER_UNIT if rel >= u[1]), NS_PER_UNIT[-1])
    decimals = next(d for d in range(10) if step * 10**d % unit == 0)
    whole, fraction = divmod(rel * 10**decimals // unit, 10**decimals)
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{whole}.{digits}{name}" if digits else f"{whole}{name}"


def ticks(t0: int, t1: int, width: int, origin: int) -> list[tuple[int, str]]:
    """(cell, label) of the axis ticks over [t0, t1) whose labels fit in `width` cells: round
    steps of time since `origin`, the smallest step whose labels have TICK_GAP blank cells
    between them; when no step does, the time at the left edge, to the ns (if it fits)."""
    length = t1 - t0
    for step in NICE_STEPS:
        room = step * width // length  # cells from one tick to the next, at least
        if room < MIN_TICK_ROOM:
            continue
        first = -((origin - t0) // step)  # ceil((t0 - origin) / step), floor division below 0
        marks = []
        for m in range(first, first + width):
            t = origin + m * step
            label = tick_label(t - origin, step)
            k = cell_of(t, t0, length, width)
            if t >= t1 or k + len(label) > width:
                break
            marks.append((k, label))
        if marks and all(len(label) + TICK_GAP <= room for _, label in marks):
            return marks
    label = tick_label(t0 - origin, 1)
    return [(0, label)] if len(label) <= width else []


# -- the widget --------------------------------------------------------------------------------


def split_width(width: int) -> tuple[int, int]:
    """How `width` cells divide into the label column and the time area (a separator between)."""
    label = max(0, min(LABEL_MAX, width // 4))
    return label, max(1, width - label - len(SEPARATOR))


@dataclass(frozen=True)
class Look:
    """What a paint needs from the widget's styles: its widths and the component styles."""

    width: int
    label_width: int
    time_width: int
    base: Style
    axis: Style
    label: Style
    selected: Style
    counter: Style
    empty: Style
    cursor: Style
    mark: Style


class TimelineMessage(Message):
    """A message from a timeline."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline

    @property
    def control(self) -> Timeline:
        return self.timeline


class Timeline(ScrollView, can_focus=True):
    """Task lanes over time, under a time axis and counter lanes that stay put.

    Line 0 is the axis, the next lines the counters; lane `i` of the shown lanes is virtual line
    `i + header`, so scrolling moves only the lanes.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", f"zoom({ZOOM_FACTOR})", "Zoom in"),
        Binding("minus", f"zoom({1 / ZOOM_FACTOR})", "Zoom out"),
        Binding("0", "fit", "Fit all"),
        Binding("l", "zoom_lane", "Lane's life", show=False),
        Binding("m", "mark", "Mark / zoom to mark", show=False),
        Binding("left", "pan(-1)", "Pan left", show=False),
        Binding("right", "pan(1)", "Pan right", show=False),
        Binding("shift+left", f"pan({-PAN_STEPS // 2})", "Pan left more", show=False),
        Binding("shift+right", f"pan({PAN_STEPS // 2})", "Pan right more", show=False),
        Binding("comma", "step(-1)", "Cursor back a cell", show=False),
        Binding("full_stop", "step(1)", "Cursor on a cell", show=False),
        Binding("left_square_bracket", "boundary(-1)", "Previous change", show=False),
        Binding("right_square_bracket", "boundary(1)", "Next change", show=False),
        Binding("home", "go_start", "Start", show=False),
        Binding("end", "go_end", "End", show=False),
        Binding("up", "lane(-1)", "Lane up", show=False),
        Binding("down", "lane(1)", "Lane down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--axis",
        "timeline--label",
        "timeline--selected",
        "timeline--counter",
        "timeline--empty",
        "timeline--cursor",
        "timeline--mark",
    }

    DEFAULT_CSS = """
    Timeline {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .timeline--axis { background: $panel; color: $text-muted; }
        & > .timeline--label { color: $foreground; }
        & > .timeline--counter { color: $foreground-muted; }
        & > .timeline--empty { color: $text-muted; text-style: italic; }
        & > .timeline--cursor { text-style: reverse; }
        & > .timeline--mark { background: $warning 60%; text-style: underline; }
        & > .timeline--selected {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .timeline--selected {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class CursorMoved(TimelineMessage):
        """The time cursor moved to `t` (ns, on the trace's clock)."""

        def __init__(self, timeline: Timeline, t: int) -> None:
            super().__init__(timeline)
            self.t = t

    class LaneSelected(TimelineMessage):
        """Another lane was selected (`key` None: no lane is shown)."""

        def __init__(self, timeline: Timeline, key: Hashable | None) -> None:
            super().__init__(timeline)
            self.key = key

    cursor: var[int] = var(0, init=False)
    """The time cursor (ns, on the trace's clock), within [start, end)."""

    def __init__(
        self,
        *,
        empty_text: str = "no tasks",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.empty_text = empty_text
        self._lanes: dict[Hashable, Lane] = {}
        self._counters: tuple[Counter, ...] = ()
        self._order: list[Hashable] | None = None  # set_order's keys; None: the given order
        self._shown: list[Lane] = []
        self._selected = 0  # index in _shown
        self._selected_key: Hashable | None = None
        self._start = self._end = 0
        self._t0, self._t1 = 0, 1  # the window on screen: [t0, t1), never empty
        self._fitted = True  # the window is all of [start, end): keep it so as data arrives
        self._mark: int | None = None
        self._version = 0  # bumped when the data change: drawn strips are stale
        self._strips: LRUCache[tuple[Hashable, ...], Strip] = LRUCache(STRIP_CACHE_SIZE)
        # long lanes' indexes by lane key, with the code sequence each follows: a lane made
        # again around the same (growing) sequences keeps its index
        self._indexes: dict[Hashable, tuple[Sequence[int], SpanIndex]] = {}
        self._look: Look | None = None

    # -- data ----------------------------------------------------------------------------------

    def set_lanes(
        self,
        lanes: Iterable[Lane],
        counters: Sequence[Counter] = (),
        start: int = 0,
        end: int | None = None,
    ) -> None:
        """Show `lanes` (in `set_order`'s order when one was set) and `counters` over the time
        [start, end); `end` None: where the last span ends. A view showing everything keeps
        showing everything; another keeps its window."""
        self._lanes = {lane.key: lane for lane in lanes}
        self._indexes = {key: kept for key, kept in self._indexes.items() if key in self._lanes}
        self._counters = tuple(counters)
        if end is None:
            end = max((lane.end[-1] for lane in self._lanes.values() if lane.end), default=start)
        self._start, self._end = start, max(start, end)
        self._version += 1
        self._strips.clear()
        self._rebuild()
        if self._fitted:
            self.fit()
        else:
            self.show_window(self._t0, self._t1)

    def set_order(self, keys: Iterable[Hashable] | None) -> None:
        """Show only the lanes with these keys, in this order (None: every lane, as given):
        the lanes follow the tasks table's sort and filter."""
        self._order = None if keys is None else list(keys)
        self._rebuild()

    def _rebuild(self) -> None:
        """Work out the lanes shown, keep the selection on its lane, and redraw."""
        if self._order is None:
            self._shown = list(self._lanes.values())
        else:
            lanes = self._lanes
            self._shown = [lanes[key] for key in self._order if key in lanes]
        self.virtual_size = Size(self.virtual_size.width, self._header() + max(1, len(self._shown)))
        index = next(
            (i for i, lane in enumerate(self._shown) if lane.key == self._selected_key),
            self._selected,
        )
        self._select(index)
        self.refresh()

    def _header(self) -> int:
        """Lines that stay put on top: the axis and the counters."""
        return AXIS_LINES + len(self._counters)

    @property
    def window(self) -> tuple[int, int]:
        """The time on screen, [t0, t1) in ns."""
        return self._t0, self._t1

    @property
    def span(self) -> tuple[int, int]:
        """All the time there is to show: [start, end) in ns."""
        return self._start, self._end

    @property
    def shown_keys(self) -> list[Hashable]:
        """The keys of the lanes shown, top to bottom."""
        return [lane.key for lane in self._shown]

    @property
    def selected_key(self) -> Hashable | None:
        """The selected lane's key, or None when no lane is shown."""
        return self._shown[self._selected].key if self._shown else None

    @property
    def selected_span(self) -> SpanInfo | None:
        """The span of the selected lane the cursor's time is in (None: none there)."""
        key = self.selected_key
        return None if key is None else self.span_at(key, self.cursor)

    def span_at(self, key: Hashable, t: int) -> SpanInfo | None:
        """The span of lane `key` that holds time `t`, or None (no such span, or lane)."""
        lane = self._lanes.get(key)
        j = -1 if lane is None else bisect_right(lane.begin, t) - 1
        if lane is None or j < 0 or t >= max(lane.end[j], lane.begin[j] + 1):
            return None
        return SpanInfo(key, lane.begin[j], lane.end[j], lane.code[j])

    # -- the window ----------------------------------------------------------------------------

    def show_window(self, t0: int, t1: int, cursor: int | None = None) -> None:
        """Show [t0, t1): made at least a ns a cell and at most all there is, and moved inside
        [start, end). The cursor goes to `cursor` (None: stays), brought inside the window."""
        length = self._clamp_length(t1 - t0)
        t0 = max(self._start, min(t0, self._end - length))
        if (t0, t0 + length) != (self._t0, self._t1):
            self._t0, self._t1 = t0, t0 + length
            self.refresh()
        self._fitted = t0 == self._start and length == self._clamp_length(self._end - self._start)
        cursor = self.cursor if cursor is None else cursor
        self.cursor = max(t0, min(cursor, t0 + length - 1))

    def _clamp_length(self, length: int) -> int:
        """A window length made at least a ns a cell and at most all there is."""
        return max(self._time_width(), min(length, self._end - self._start))

    def fit(self) -> None:
        """Show all the time there is."""
        self.show_window(self._start, self._end)

    def zoom(self, factor: float) -> None:
        """Zoom in (`factor` > 1) or out around the cursor: its time stays at its column."""
        t0, length, cursor = self._t0, self._t1 - self._t0, self.cursor
        new = self._clamp_length(round(length / factor))
        left = t0 + round((cursor - t0) * (1 - new / length))
        self.show_window(left, left + new)

    def _time_width(self) -> int:
        return split_width(self.scrollable_content_region.width)[1]

    def _cell_of(self, t: int) -> int:
        return cell_of(t, self._t0, self._t1 - self._t0, self._time_width())

    def _cell_start(self, k: int) -> int:
        return cell_start(k, self._t0, self._t1 - self._t0, self._time_width())

    # -- the cursor ----------------------------------------------------------------------------

    def validate_cursor(self, t: int) -> int:
        return max(self._start, min(t, self._end - 1))

    def watch_cursor(self, t: int) -> None:
        if not self._t0 <= t < self._t1:  # off screen: centre the window on it
            left = t - (self._t1 - self._t0) // 2
            self.show_window(left, left + self._t1 - self._t0)
        self.refresh()
        self.post_message(self.CursorMoved(self, t))

    # -- lanes ---------------------------------------------------------------------------------

    def select_lane(self, key: Hashable) -> None:
        """Select the shown lane `key` (nothing happens when it is not shown)."""
        for i, lane in enumerate(self._shown):
            if lane.key == key:
                self._select(i)

    def _select(self, index: int) -> None:
        """Select lane `index` (clamped), scroll to it, and say so when it is another lane."""
        index = max(0, min(index, len(self._shown) - 1))
        if index != self._selected:
            self._selected = index
            self.refresh()
        self._scroll_to_selected()
        key = self.selected_key
        if key != self._selected_key:
            self._selected_key = key
            self.refresh()
            self.post_message(self.LaneSelected(self, key))

    def _page_lanes(self) -> int:
        return max(1, self.scrollable_content_region.height - self._header())

    def _scroll_to_selected(self) -> None:
        if not self.is_mounted:
            return
        top, page = round(self.scroll_y), self._page_lanes()
        if self._selected < top:
            self.scroll_to(y=self._selected, animate=False)
        elif self._selected >= top + page:
            self.scroll_to(y=self._selected - page + 1, animate=False)

    # -- actions -------------------------------------------------------------------------------

    def action_zoom(self, factor: float) -> None:
        self.zoom(factor)

    def action_fit(self) -> None:
        self.fit()

    def action_zoom_lane(self) -> None:
        """Show the selected lane's whole life."""
        lane = self._shown[self._selected] if self._shown else None
        if lane is not None and len(lane.begin):
            self.show_window(lane.begin[0], lane.end[-1])

    def action_mark(self) -> None:
        """Mark the cursor's time; the second time, show the time between the mark and the
        cursor."""
        if self._mark is None:
            self._mark = self.cursor
        else:
            low, high = sorted((self._mark, self.cursor))
            self._mark = None
            if high > low:
                self.show_window(low, high + 1)
        self.refresh()

    def action_pan(self, steps: int) -> None:
        """Move the window by `steps` eighths of itself; the cursor moves along."""
        t0, t1 = self._t0, self._t1
        shift = (t1 - t0) * steps // PAN_STEPS
        # where the window can go: at an edge it moves less, and the cursor with it
        moved = max(self._start, min(t0 + shift, self._end - (t1 - t0))) - t0
        self.show_window(t0 + moved, t1 + moved, self.cursor + moved)

    def action_step(self, cells: int) -> None:
        """Move the cursor to the start of the cell `cells` away."""
        self.cursor = self._cell_start(self._cell_of(self.cursor) + cells)

    def action_boundary(self, direction: int) -> None:
        """Move the cursor to the selected lane's next (1) or previous (-1) span start or end."""
        if not self._shown:
            return
        change = next_change if direction > 0 else previous_change
        t = change(self._shown[self._selected], self.cursor)
        if t is not None:
            self.cursor = t

    def action_go_start(self) -> None:
        self.cursor = self._start

    def action_go_end(self) -> None:
        self.cursor = self._end - 1

    def action_lane(self, step: int) -> None:
        self._select(self._selected + step)

    def action_page(self, step: int) -> None:
        self._select(self._selected + step * self._page_lanes())

    def _on_click(self, event: events.Click) -> None:
        """A click in the time area moves the cursor there; on a lane, it also selects it."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        look = self._get_look()
        if offset.y >= self._header():
            self._select(round(self.scroll_y) + offset.y - self._header())
        x = offset.x - look.label_width - len(SEPARATOR)
        if x >= 0:
            self.cursor = self._cell_start(x)

    # -- drawing -------------------------------------------------------------------------------

    def _on_resize(self, _: events.Resize) -> None:
        self._look = None
        # the window depends on the width too: never less than a ns a cell
        if self._fitted:
            self.fit()
        else:
            self.show_window(self._t0, self._t1)
        self._scroll_to_selected()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._look = None  # the selected lane's style changes with focus and theme
        self._strips.clear()

    def _get_look(self) -> Look:
        if self._look is None:
            width = self.scrollable_content_region.width
            label_width, time_width = split_width(width)
            style = self.get_component_rich_style
            self._look = Look(
                width=width,
                label_width=label_width,
                time_width=time_width,
                base=self.rich_style,
                axis=style("timeline--axis"),
                label=style("timeline--label"),
                selected=style("timeline--selected"),
                counter=style("timeline--counter"),
                empty=style("timeline--empty"),
                cursor=style("timeline--cursor", partial=True),
                mark=style("timeline--mark", partial=True),
            )
        return self._look

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are looked up once per paint, not once per line: the lookup walks the DOM.
        self._look = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        """Line 0 is the axis, then the counters; the others show the lanes under the scroll
        position. The cursor and the mark are drawn over the cached lines."""
        look = self._get_look()
        header = self._header()
        if y < AXIS_LINES:
            strip = self._render_axis(look)
        elif y < header:
            strip = self._cached(("counter", y), look, lambda: self._render_counter(y - 1, look))
        else:
            index = round(self.scroll_y) + y - header
            if index >= len(self._shown):
                if index == 0:
                    return Strip([Segment(fit(self.empty_text, look.width, "left"), look.empty)])
                return Strip.blank(look.width, look.base)
            lane, selected = self._shown[index], index == self._selected
            strip = self._cached(
                ("lane", lane.key, selected), look, lambda: self._render_lane(lane, selected, look)
            )
        if self._mark is not None:
            strip = self._overlay(strip, self._mark, look.mark, look)
        return self._overlay(strip, self.cursor, look.cursor, look)

    def _cached(self, what: tuple[Hashable, ...], look: Look, render: Callable[[], Strip]) -> Strip:
        """A line from the cache, or `render()` kept for the current window, width and data."""
        key = (*what, self._t0, self._t1, look.width, self._version)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = render()
        return strip

    def _overlay(self, strip: Strip, t: int, style: Style, look: Look) -> Strip:
        """`strip` with the cell of time `t` restyled (`style` on top), when it is on screen."""
        k = self._cell_of(t)
        if not 0 <= k < look.time_width:
            return strip
        x = look.label_width + len(SEPARATOR) + k
        left, middle, right = strip.divide([x, x + 1, strip.cell_length])
        middle = Strip(Segment.apply_style(middle, post_style=style), 1)
        return Strip.join([left, middle, right])

    def _label(self, text: str, style: Style, look: Look) -> list[Segment]:
        return [
            Segment(fit(text, look.label_width, "left"), style),
            Segment(SEPARATOR, look.axis),
        ]

    def _render_axis(self, look: Look) -> Strip:
        """The time since `start` at round steps; on the left, the cursor's time."""
        line = [" "] * look.time_width
        for k, label in ticks(self._t0, self._t1, look.time_width, self._start):
            line[k : k + len(label)] = label
        where = f"t {duration(self.cursor - self._start)}"
        segments = [*self._label(where, look.axis, look), Segment("".join(line), look.axis)]
        return Strip(segments, look.width)

    def _render_counter(self, index: int, look: Look) -> Strip:
        """A counter's bars, scaled to its highest value in view, which the label shows."""
        counter = self._counters[index]
        if counter.missing:
            segments = self._label(counter.label[: look.label_width], look.label, look)
            segments.append(Segment(fit(counter.missing, look.time_width, "left"), look.axis))
            return Strip(segments, look.width)
        cells = counter_cells(counter.t, counter.value, self._t0, self._t1, look.time_width)
        top = max(cells, default=0)
        number = f" {max(top, 0)}"
        label = fit(counter.label, max(0, look.label_width - len(number)), "left") + number
        bars = "".join(bar(value, top) for value in cells)
        segments = [*self._label(label[: look.label_width], look.label, look)]
        segments.append(Segment(bars, look.base + look.counter))
        return Strip(segments, look.width)

    def _render_lane(self, lane: Lane, selected: bool, look: Look) -> Strip:
        """A lane's label, then a glyph per cell, a segment per run of equal cells."""
        palette = lane.palette
        index = self._index(lane)
        cells = lane_cells(
            lane.begin,
            lane.end,
            lane.code,
            palette.ranks,
            self._t0,
            self._t1,
            look.time_width,
            index,
        )
        segments = self._label(lane.label, look.selected if selected else look.label, look)
        for code, run in groupby(cells):
            count = sum(1 for _ in run)
            if code == NO_SPAN:
                segments.append(Segment(" " * count, look.base))
            else:
                shade = palette.shades[code]
                segments.append(Segment(shade.glyph * count, look.base + Style.parse(shade.style)))
        return Strip(segments, look.width)

    def _index(self, lane: Lane) -> SpanIndex | None:
        """The index of a long lane, brought up to date; None for a short one."""
        if len(lane.code) <= DENSE_LANE:
            return None
        codes, index = self._indexes.get(lane.key, (None, None))
        if index is None or codes is not lane.code or index.spans > len(lane.code):
            index = SpanIndex()  # a new lane, or its spans were replaced
            self._indexes[lane.key] = (lane.code, index)
        index.update(lane.begin, lane.end, lane.code)
        return index

"""The program's stdout and stderr, one line per row, following the newest unless scrolled back."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...model.state import Output
from ..format import offset

MAX_LINES = 200_000  # the oldest lines beyond this are let go (the trace keeps them all)
STREAMS = {1: ("out", ""), 2: ("err", "red"), 3: ("out", ""), 4: ("err", "red")}


def _time(line: tuple[int, int, str]) -> int:
    return line[0]


class OutputView(ScrollView, can_focus=True):
    """Output lines with their time since the start; stderr marked; follow mode."""

    DEFAULT_CSS = """
    OutputView { scrollbar-size-vertical: 1; }
    OutputView > .output--time { color: $text-muted; }
    OutputView > .output--err { color: $error; }
    """
    COMPONENT_CLASSES = {"output--time", "output--err"}

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.lines: deque[tuple[int, int, str]] = deque(maxlen=MAX_LINES)
        self.total = 0  # lines ever added; the deque keeps the newest MAX_LINES
        self.start = 0
        self.follow = True
        self.unseen = 0  # lines that arrived while not following
        self._width = 0
        self._partial: dict[int, tuple[int, str]] = {}  # stream -> text after its last newline
        self._taken = 0  # how many of the model's output chunks are in
        self._shown = 0  # lines shown: all, or those printed by the time cursor

    def reset(self) -> None:
        self.lines.clear()
        self.total = self.unseen = self._taken = self._width = self._shown = 0
        self._partial.clear()
        self.follow = True
        self.virtual_size = Size(0, 0)
        self.refresh()

    def take(self, chunks: list[Output], start: int) -> None:
        """Add the chunks that arrived since the last call (`chunks` is the model's list)."""
        self.start = start
        new = chunks[self._taken :]
        self._taken = len(chunks)
        if not new:
            return
        before = self.total
        for chunk in new:
            self._split(chunk)
        self._grow(self.total - before)

    def _split(self, chunk: Output) -> None:
        t0, head = self._partial.pop(chunk.stream, (chunk.t, ""))
        parts = (head + chunk.text).split("\n")
        for part in parts[:-1]:
            self.lines.append((t0, chunk.stream, part))
            self.total += 1
            self._width = max(self._width, len(part) + 9)
            t0 = chunk.t
        if parts[-1]:
            self._partial[chunk.stream] = (t0, parts[-1])

    def _grow(self, added: int) -> None:
        self._shown = len(self.lines)
        self.virtual_size = Size(self._width, len(self.lines))
        if self.follow:
            self.scroll_end(animate=False, immediate=True)
        else:
            self.unseen += added
        self._show_status()
        self.refresh()

    def show_until(self, t: int | None) -> None:
        """Show only the lines printed by `t` (None: all), the last of them at the bottom."""
        shown = len(self.lines) if t is None else bisect_right(self.lines, t, key=_time)
        if shown == self._shown:
            return
        self._shown = shown
        self.virtual_size = Size(self._width, shown)
        if t is not None or self.follow:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def _show_status(self) -> None:
        if self.follow or not self.unseen:
            self.border_subtitle = f"{self.total:,} lines"
        else:
            self.border_subtitle = f"{self.unseen:,} new lines · End to follow"

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        at_end = new >= self.max_scroll_y
        if at_end and not self.follow:
            self.follow, self.unseen = True, 0
            self._show_status()
        elif new < old and not at_end:
            self.follow = False
            self._show_status()

    def action_follow_output(self) -> None:
        self.follow, self.unseen = True, 0
        self.scroll_end(animate=False)
        self._show_status()

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        if index >= self._shown:
            return Strip.blank(width, self.rich_style)
        t, stream, text = self.lines[index]
        time_style = self.get_component_rich_style("output--time", partial=True)
        label, colour = STREAMS.get(stream, ("out", ""))
        text_style = self.get_component_rich_style("output--err") if colour else Style()
        segments = [
            Segment(f"{offset(max(0, t - self.start)):>8} ", time_style),
            Segment("▌" if label == "err" else " ", text_style),
            Segment(text.expandtabs(), text_style),
        ]
        strip = Strip(segments).crop(int(self.scroll_offset.x), int(self.scroll_offset.x) + width)
        return strip.extend_cell_length(width).apply_style(self.rich_style)

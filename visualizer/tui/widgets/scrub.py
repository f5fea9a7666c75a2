"""The scrub bar: where the time cursor is in the whole run, and the replay speed; click to jump."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from ..format import offset


class ScrubBar(Static):
    """One line: ``▶ 4×  0.312s ━━━━━━●──────── 5.678s``; a click moves the cursor there."""

    DEFAULT_CSS = """
    ScrubBar { height: 1; background: $panel; }
    """

    class Jump(Message):
        """The user clicked at time `t`."""

        def __init__(self, t: int) -> None:
            super().__init__()
            self.t = t

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._span = (0, 1)
        self._bar = (0, 1)  # first cell and width of the bar

    def show(self, start: int, end: int, cursor: int | None, playing: bool, speed: float) -> None:
        end = max(end, start + 1)
        self._span = (start, end)
        at = end if cursor is None else cursor
        state = f"{'▶' if playing else '⏸'} {speed:g}×" if cursor is not None else "● live"
        left = f" {state}  {offset(at - start):>9}s "
        right = f" {offset(end - start)}s "
        width = max(4, self.size.width - len(left) - len(right))
        self._bar = (len(left), width)
        filled = min(width - 1, (at - start) * width // (end - start))
        line = Text(left, style="bold")
        line.append("━" * filled, style="bold yellow" if cursor is not None else "green")
        line.append("●", style="bold")
        line.append("─" * (width - filled - 1), style="dim")
        line.append(right)
        self.update(line)

    def on_click(self, event: events.Click) -> None:
        first, width = self._bar
        if first <= event.x < first + width:
            start, end = self._span
            self.post_message(self.Jump(start + (event.x - first) * (end - start) // width))

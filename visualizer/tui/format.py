"""How the viewer writes things for a person: durations, states (colour, glyph, word), sites."""

from __future__ import annotations

import signal

from rich.text import Text

from ..model import State
from ..model.state import short_site as short_site  # shown the same way everywhere
from ..summary import format_duration

# One palette for every view (DESIGN.md): colour always goes with a glyph and a word.
STATE_LOOK: dict[State, tuple[str, str, str]] = {
    State.RUNNING: ("▶", "running", "bold green"),
    State.READY: ("●", "ready", "bold dodger_blue1"),
    State.WAITING: ("◌", "waiting", "dark_orange"),
    State.WAITING_IO: ("⇅", "io", "cyan"),
    State.SLEEPING: ("◔", "sleeping", "grey62"),
    State.DONE: ("✓", "done", "dim"),
    State.FAILED: ("✗", "failed", "bold red"),
    State.CANCELLED: ("⊘", "cancelled", "magenta"),
}
FINISHED = frozenset({State.DONE, State.FAILED, State.CANCELLED})


def state_text(state: State) -> Text:
    glyph, word, style = STATE_LOOK[state]
    return Text(f"{glyph} {word}", style=style)


def duration(ns: int | None) -> str:
    """A duration in at most 7 cells (see `format_duration`), or "" for none."""
    return "" if ns is None else format_duration(ns)


def clock(ns: int) -> str:
    """Elapsed time as a clock: 0:12.3, 12:05.0, 1:02:03."""
    tenths = ns // 100_000_000
    seconds, tenth = divmod(tenths, 10)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minute:02d}:{second:02d}"
    return f"{minute}:{second:02d}.{tenth}"


def offset(ns: int) -> str:
    """Time since the start for a timestamp column: 0.312, 75.004, then 12:05.0 from 1000 s."""
    if ns < 1_000_000_000_000:
        return f"{ns / 1e9:.3f}"
    return clock(ns)


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "-"


def exit_words(status: int | None) -> str:
    """How a program ended, as a shell user says it."""
    if status is None:
        return "running"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited {status}"


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int) -> str:
    """The last `width` values as block characters, scaled to their maximum."""
    values = values[-width:]
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(7, value * 8 // (top + 1))] for value in values)

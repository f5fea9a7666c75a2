"""The help screen: every key, from the same declarations as the bindings and the footer."""

from __future__ import annotations

from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..format import STATE_LOOK
from ..keys import GROUPS, key_label
from ..widgets.timeline import Timeline


def help_text() -> RichTable:
    grid = RichTable.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for title, keys in GROUPS:
        grid.add_row(Text(title, style="bold underline"), "")
        for key in keys:
            grid.add_row(key_label(key), key.help)
        grid.add_row("", "")
    grid.add_row(Text("Timeline", style="bold underline"), "")
    for binding in Timeline.BINDINGS:
        assert isinstance(binding, Binding)  # declared as Binding objects, with descriptions
        grid.add_row(binding.key.replace(",", " ").replace("_", " "), binding.description)
    grid.add_row("", "")
    grid.add_row(Text("Task states", style="bold underline"), "")
    for glyph, word, style in STATE_LOOK.values():
        grid.add_row(Text(f"{glyph} {word}", style=style), "")
    return grid


class HelpScreen(ModalScreen[None]):
    """Keys and what the colours mean; any of Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "loopviz keys · Esc to close"
            yield Static(help_text())

"""The Warnings view: what the rules found, counted per rule; Enter goes to the task and time."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...model.diagnose import ERROR, RULES, Finding, counts
from ..format import offset
from ..session import Session
from ..widgets.table import Column, Table

SEVERITY_LOOK = {ERROR: ("✗", "bold red"), "warning": ("⚠", "bold yellow")}


def finding_columns(session: Session) -> list[Column]:
    def at(finding: Finding) -> str:
        return f"{offset(max(0, finding.t - (session.model.start or 0)))}s"

    def tasks(finding: Finding) -> str:
        names = [session.model.tasks[i].name for i in finding.tasks[:3]]
        return ", ".join(names) + (" ..." if len(finding.tasks) > 3 else "")

    def severity(finding: Finding) -> Text:
        glyph, style = SEVERITY_LOOK.get(finding.severity, ("?", ""))
        return Text(f"{glyph} {finding.rule}", style=style)

    rank = {rule.name: n for n, rule in enumerate(RULES)}
    return [
        Column("at", "at", 9, at, lambda f: f.t, align="right", priority=9),
        Column("rule", "rule", 21, severity, lambda f: rank[f.rule], priority=10),
        Column("tasks", "tasks", 16, tasks, tasks, priority=7),
        Column(
            "what",
            "what happened",
            40,
            lambda f: f.sentence,
            lambda f: f.sentence,
            flex=True,
            min_width=20,
            priority=8,
        ),  # fmt: skip
    ]


class WarningsScreen(Screen[Finding | None]):
    """Every warning of the run; Enter closes it on the chosen one, Esc on none."""

    BINDINGS = [
        Binding("escape,W", "dismiss_none", "Back"),
        Binding("enter", "choose", "Go to it"),
    ]
    DEFAULT_CSS = """
    WarningsScreen { layout: vertical; }
    WarningsScreen > #rules { height: auto; max-height: 35%; border: round $primary;
        padding: 0 1; }
    WarningsScreen > #findings { height: 1fr; min-height: 5; border: round $primary-darken-2; }
    WarningsScreen > #findings:focus { border: round $accent; }
    WarningsScreen > #finding { height: auto; max-height: 35%; border: round $primary-darken-2;
        padding: 0 1; }
    """

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static(id="rules")
        table = Table(finding_columns(self.session), row_key=id, id="findings")
        table.empty_text = "No warnings: no rule fired."
        yield table
        yield Static(id="finding")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rules", Static).border_title = "Warnings by rule"
        self.query_one("#finding", Static).border_title = "the selected warning"
        table = self.query_one("#findings", Table)
        table.border_title = "Warnings · Enter: to its task and time · Esc: back"
        table.focus()
        self.refresh_view()
        self.set_interval(1.0, self.refresh_view)

    def refresh_view(self) -> None:
        findings = self.session.findings
        found = counts(findings)
        text = Text()
        fired = [rule for rule in RULES if found[rule.name]]
        for n, rule in enumerate(fired):  # the rules that fired, a line each
            glyph, style = SEVERITY_LOOK.get(rule.severity, ("?", ""))
            text.append("\n" if n else "")
            text.append(f"{found[rule.name]:5,} {glyph} {rule.title}", style=style)
            text.append(f"  {rule.explains}", style="dim")
        quiet = [rule.name for rule in RULES if not found[rule.name]]
        if quiet:  # and the others, on one line: a short screen keeps room for the list
            text.append("\n" if fired else "")
            text.append(f"    0 from {', '.join(quiet)}", style="dim")
        self.query_one("#rules", Static).update(text)
        table = self.query_one("#findings", Table)
        table.set_rows(findings)
        table.border_subtitle = f"{len(findings):,}"
        self._show(table.current)

    def on_table_highlighted(self, event: Table.Highlighted) -> None:
        self._show(event.row)

    def on_table_selected(self, event: Table.Selected) -> None:
        self.dismiss(event.row)

    def _show(self, finding: Any) -> None:
        if finding is None:
            self.query_one("#finding", Static).update("")
            return
        text = Text(finding.sentence)
        text.append(f"\nfix: {finding.fix}", style="dim")
        self.query_one("#finding", Static).update(text)

    def action_choose(self) -> None:
        self.dismiss(self.query_one("#findings", Table).current)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

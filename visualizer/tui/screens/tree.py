"""The task tree: who created whom (like pstree), or who waits on whom; at the time cursor too.

"Waits on" follows what each task's last step waited on: another task (``await task``), or,
for ``gather``, a ``TaskGroup`` or ``asyncio.wait``, the task's own children that were still
running (what those wait on in practice). A task seen again below itself is a cycle: it is
shown once more, marked, and not followed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Tree
from textual.widgets.tree import TreeNode

from ...model import Model, State
from ...trace import schema
from ..format import FINISHED, STATE_LOOK
from ..session import Session
from ..timetravel import task_of, waiting_words

# Waits that are on the task's children (the recorder does not say which futures they hold).
ON_CHILDREN = (schema.WAIT_GATHER, schema.WAIT_TASKGROUP, schema.WAIT_WAIT)


def tree_rows(session: Session, model: Model) -> dict[int, Any]:
    """Every task that existed at the view's time, as a Task (live) or a TaskAt (the past)."""
    if session.cursor is None:
        return {task.index: task for task in model.tasks}
    return dict(model.at(session.cursor).tasks)


def waits_on(model: Model, rows: dict[int, Any], index: int) -> list[int]:
    """The tasks task `index` waits on at the view's time, as far as the trace says."""
    row = rows[index]
    if row.state in FINISHED:
        return []
    if row.wait == schema.WAIT_TASK and row.wait_ref in rows:
        return [row.wait_ref]
    if row.wait in ON_CHILDREN:
        task = task_of(row)
        return [child for child in task.children
                if child in rows and rows[child].state not in FINISHED]  # fmt: skip
    return []


class TreeScreen(Screen[None]):
    """Tasks as a tree: by parent, or by what they wait on (Tab switches); Esc goes back."""

    BINDINGS = [
        Binding("escape,T", "dismiss", "Back"),
        Binding("tab", "switch", "Created by / waits on"),
        Binding("d", "toggle_done", "Done"),
    ]
    DEFAULT_CSS = """
    TreeScreen > Tree { height: 1fr; border: round $primary; }
    """

    def __init__(self, session: Session, open_task: Any = None) -> None:
        super().__init__()
        self.session = session
        self.by_waits = False
        self.show_done = True
        self.open_task = open_task  # called with a Task on Enter
        self._seen: object = None

    def compose(self) -> ComposeResult:
        yield Tree("tasks", id="tree")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = False
        self.rebuild()
        self.set_interval(1.0, self.rebuild)

    def action_switch(self) -> None:
        self.by_waits = not self.by_waits
        self._seen = None
        self.rebuild()

    def action_toggle_done(self) -> None:
        self.show_done = not self.show_done
        self._seen = None
        self.rebuild()

    def rebuild(self) -> None:
        session = self.session
        seen = (session.version, session.cursor, self.by_waits, self.show_done)
        if seen == self._seen:
            return
        self._seen = seen
        tree = self.query_one(Tree)
        tree.clear()
        with session.view() as model:
            rows = tree_rows(session, model)
            if not self.show_done:
                rows = {i: row for i, row in rows.items() if row.state not in FINISHED}
            if self.by_waits:
                shown = self._by_waits(model, rows, tree.root)
            else:
                shown = self._by_parent(model, rows, tree.root)
        when = "now" if session.cursor is None else "at the time cursor"
        mode = "what each waits on" if self.by_waits else "who created whom"
        tree.border_title = (f"Tasks: {mode} · {when} · Tab: switch · d: done ones · "
                             "Enter: details · Esc: back")  # fmt: skip
        tree.border_subtitle = f"{shown:,} tasks"
        tree.root.expand_all()

    def _label(self, model: Model, row: Any, note: str = "") -> Text:
        glyph, word, style = STATE_LOOK[row.state]
        text = Text.assemble((f"{glyph} ", style), task_of(row).label)
        waiting = waiting_words(model, row, self.session.view_time())
        if waiting and row.state not in (State.READY, State.RUNNING):
            text.append(f"  {waiting}", style="dim")
        elif row.state not in FINISHED:
            text.append(f"  {word}", style="dim")
        if note:
            text.append(f"  {note}", style="bold magenta")
        return text

    def _by_parent(self, model: Model, rows: dict[int, Any], root: TreeNode[int]) -> int:
        def add(node: TreeNode[int], index: int) -> None:
            kids = [kid for kid in task_of(rows[index]).children if kid in rows]
            if not kids:
                node.add_leaf(self._label(model, rows[index]), data=index)
                return
            child = node.add(self._label(model, rows[index]), data=index)
            for kid in kids:
                add(child, kid)

        roots = [i for i, row in rows.items()
                 if task_of(row).parent is None or task_of(row).parent not in rows]  # fmt: skip
        for index in sorted(roots):
            add(root, index)
        return len(rows)

    def _by_waits(self, model: Model, rows: dict[int, Any], root: TreeNode[int]) -> int:
        edges = {index: waits_on(model, rows, index) for index in rows}
        awaited = {target for targets in edges.values() for target in targets}
        placed: set[int] = set()

        def add(node: TreeNode[int], index: int, above: tuple[int, ...]) -> None:
            if index in above:
                node.add_leaf(self._label(model, rows[index], "↺ cycle: waits on a task above"),
                              data=index)  # fmt: skip
                return
            placed.add(index)
            if not edges[index]:
                node.add_leaf(self._label(model, rows[index]), data=index)
                return
            child = node.add(self._label(model, rows[index]), data=index)
            for target in edges[index]:
                add(child, target, (*above, index))

        for index in sorted(rows):  # roots: the tasks nobody waits on
            if index not in awaited:
                add(root, index, ())
        for index in sorted(rows):  # what is left waits in a ring: shown from one of it
            if index not in placed:
                add(root, index, ())
        return len(rows)

    def on_tree_node_selected(self, event: Tree.NodeSelected[int]) -> None:
        index = event.node.data
        if index is not None and self.open_task is not None:
            self.open_task(self.session.model.tasks[index])

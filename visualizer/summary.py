"""`loopviz summary`: a trace's tasks and loop totals, as Rich tables or as JSON."""

from __future__ import annotations

import json
from typing import Any

from .model import NO_LOOP, UNRECORDED, Loop, Model, State, Task
from .model.diagnose import ERROR, Finding, counts, diagnose
from .model.state import short_site
from .trace import schema


def seconds(ns: int) -> float:
    return round(ns / 1e9, 6)


def format_duration(ns: int) -> str:
    """A duration for a person in at most 7 cells: 850ns, 12.3µs, 4.56ms, 1.234s, 12m05s."""
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.2f}ms"
    if ns < 60_000_000_000:
        return f"{ns / 1e9:.3f}s"
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def outcome(task: Task) -> str:
    if task.outcome is not None:
        return schema.OUTCOME_NAMES[task.outcome]
    waiting = schema.WAIT_NAMES.get(task.wait, "?") if task.state != State.READY else "ready"
    return f"pending ({waiting})"


def task_row(model: Model, task: Task) -> dict[str, Any]:
    start = model.start or 0
    return {
        "id": task.index,
        "loop": task.loop,
        "name": task.name,
        "coroutine": task.coro,
        "outcome": outcome(task),
        "steps": len(task.steps),
        "busy_s": seconds(task.busy),
        "scheduled_s": seconds(task.scheduled_delay),
        "idle_s": seconds(task.idle(model.end)),
        "total_s": seconds(task.total(model.end)),
        "longest_step_s": seconds(task.longest_step),
        "created_at_s": seconds(task.created - start),
        "created_site": task.site,
        "parent": task.parent,
        "eager": task.eager,
        "woken_by": dict(task.wakers.most_common()),
        "waiting_on": schema.WAIT_NAMES.get(task.wait, "?") if task.outcome is None else None,
        "suspended_at": task.wait_site or None,
        "error": task.error or None,
    }


def loop_row(model: Model, source: int) -> dict[str, Any]:
    """A loop's totals. Recorded from outside (uvloop's), what it cannot know is null, and its
    counts and times are those of the handles it saw."""
    loop = model.loops[source]
    inside = not loop.outside
    return {
        "loop": source,
        "thread": loop.thread_name,
        "class": loop.cls,
        "recorded_from_outside": loop.outside or None,
        "iterations": loop.iterations if inside else None,
        "handles": loop.handles,
        "task_steps": loop.steps,
        "callbacks": loop.callbacks,
        "busy_s": seconds(loop.busy_time),
        "select_s": seconds(loop.select_time) if inside else None,
        "longest_handle_s": seconds(loop.longest_handle),
        "io_events": loop.io_events if inside else None,
        "timers_added": loop.timers_added,
        "timers_cancelled": loop.timers_cancelled,
        "threadsafe_calls": loop.threadsafe_calls,
        "closed": loop.closed is not None,
    }


def loop_line(source: int, loop: Loop) -> str:
    """A loop's totals in one line (Rich markup)."""
    handles = (f"{loop.handles:,} handles ({loop.steps:,} task steps, "
               f"{loop.callbacks:,} callbacks)")  # fmt: skip
    ending = "" if loop.closed is not None else ", [yellow]not closed[/]"
    if loop.outside:
        return (
            f"[bold]loop {source}[/] ({loop.thread_name}, {loop.outside} recorded from outside): "
            f"{handles} seen, busy {format_duration(loop.busy_time)} in them, longest handle "
            f"{format_duration(loop.longest_handle)}, {loop.timers_added:,} timers; "
            f"its iterations, select, I/O and ready queue: {UNRECORDED}{ending}"
        )
    return (
        f"[bold]loop {source}[/] ({loop.thread_name}): {loop.iterations:,} iterations, "
        f"{handles}, busy {format_duration(loop.busy_time)}, "
        f"in select {format_duration(loop.select_time)}, "
        f"longest handle {format_duration(loop.longest_handle)}, "
        f"{loop.io_events:,} I/O events, {loop.timers_added:,} timers{ending}"
    )


def finding_row(model: Model, finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "t_s": seconds(finding.t - (model.start or 0)),
        "until_s": None if finding.until is None else seconds(finding.until - (model.start or 0)),
        "loop": finding.loop,
        "tasks": list(finding.tasks),
        "message": finding.sentence,
        "fix": finding.fix,
    }


def summary_dict(model: Model, path: str, findings: list[Finding] | None = None) -> dict[str, Any]:
    findings = diagnose(model) if findings is None else findings
    return {
        "trace": path,
        "python": model.header.get("python"),
        "argv": model.header.get("argv"),
        "records": model.records,
        "truncated": model.truncated,
        "duration_s": seconds(model.duration),
        "exit_status": model.exit_status,
        "notes": [text for _, text in model.notes],
        "loops": [loop_row(model, source) for source in sorted(model.loops)],
        "tasks": [task_row(model, task) for task in model.tasks],
        "marks": [{"t_s": seconds(m.t - (model.start or 0)), "text": m.text} for m in model.marks],
        "errors": [{"message": e.message, "detail": e.detail} for e in model.errors],
        "output_lines": sum(o.text.count("\n") for o in model.output),
        "warnings": [finding_row(model, finding) for finding in findings],
        "warning_counts": dict(counts(findings)),
    }


def summary_json(model: Model, path: str, findings: list[Finding] | None = None) -> str:
    return json.dumps(summary_dict(model, path, findings), indent=2)


_OUTCOME_STYLE = {"finished": "dim", "failed": "red", "cancelled": "magenta"}
_TASK_COLUMNS = [
    ("id", "right"), ("name", "left"), ("coroutine", "left"), ("outcome", "left"),
    ("steps", "right"), ("busy", "right"), ("idle", "right"), ("longest", "right"),
    ("created at", "left"),
]  # fmt: skip


def print_summary(model: Model, path: str, findings: list[Finding] | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    findings = diagnose(model) if findings is None else findings
    argv = " ".join(model.header.get("argv") or [])
    status = "running or killed" if model.exit_status is None else f"exit {model.exit_status}"
    console.print(
        f"[bold]{argv or path}[/]  Python {model.header.get('python', '?')}  "
        f"{format_duration(model.duration)}  {status}  {model.records:,} records"
        + ("  [red](trace cut short)[/]" if model.truncated else "")
    )
    for _, note in model.notes:
        console.print(f"[yellow]loopviz: {escape(note)}[/]")
    if not model.loops:
        console.print(f"[bold yellow]{NO_LOOP.capitalize()}.[/]")
    rows = [
        [
            str(task.index), task.name, task.coro, outcome(task), str(len(task.steps)),
            format_duration(task.busy), format_duration(task.idle(model.end)),
            format_duration(task.longest_step), short_site(task.site).partition(" in ")[0],
        ]
        for task in model.tasks
    ]  # fmt: skip
    tasks = Table(
        title=f"{len(model.tasks)} tasks", title_justify="left", box=box.SIMPLE_HEAD,
        expand=True, pad_edge=False, collapse_padding=True, padding=(0, 1),
    )  # fmt: skip
    for i, (column, justify) in enumerate(_TASK_COLUMNS):
        width = max([len(column), *(len(row[i]) for row in rows)])
        flexible = column in ("name", "coroutine", "created at")
        tasks.add_column(
            column, justify=justify, no_wrap=True, overflow="ellipsis",
            width=None if flexible else width, ratio=1 if flexible else None,
            min_width=min(width, 10) if flexible else None,
        )  # fmt: skip
    for row in rows:
        row[3] = f"[{_OUTCOME_STYLE.get(row[3], 'yellow')}]{row[3]}[/]"
        tasks.add_row(*row)
    console.print(tasks)
    for source in sorted(model.loops):
        console.print(loop_line(source, model.loops[source]))
    for error in model.errors:
        console.print(f"[red]loop error:[/] {error.message}")
    print_findings(console, model, findings)


def print_findings(console: Any, model: Model, findings: list[Finding]) -> None:
    """The warnings, one paragraph each, then the count per rule that fired."""
    from rich.markup import escape

    if not findings:
        console.print("[green]no warnings[/]")
        return
    console.print(f"[bold]{len(findings)} warning{'s' if len(findings) > 1 else ''}[/]")
    for finding in findings:
        style = "red" if finding.severity == ERROR else "yellow"
        at = format_duration(finding.t - (model.start or 0))
        console.print(f"  [{style}]{finding.rule}[/] at {at}: {escape(finding.sentence)}")
        console.print(f"    [dim]fix: {escape(finding.fix)}[/]")
    fired = ", ".join(f"{rule} {n}" for rule, n in counts(findings).items() if n)
    console.print(f"  [dim]by rule: {fired}[/]")

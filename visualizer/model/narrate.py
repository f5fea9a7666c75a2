"""Plain English for what the event loop does, for a person learning asyncio.

`sentence` says what one trace record means; `story` is the line a stepper shows while it holds
a loop: what the last handle did, whom it woke, and what comes next.

A record says little by itself (a task's id, a string's id), so both read the model: task labels,
the loop's strings, a step's begin. Where a record's meaning needs the model's state at the
record's time, the state now stands in for it where it tells the same (a step's begin, the task
an id named then; a task renamed since goes by its new name); where it may not (an fd no longer
watched, a timer since due), the words say less. Nothing here raises on a strange record: a
viewer must not stop because of one damaged field, so every record falls back to plainer words.
"""

from __future__ import annotations

import signal
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from ..trace import schema
from .replay import Model
from .state import (
    END,
    REF,
    ROW,
    SUSPENSION,
    UNRECORDED,
    Held,
    Loop,
    Origin,
    Queued,
    Scheduled,
    StackSample,
    Task,
)  # fmt: skip

Record = tuple[Any, ...]

HANDLE_KINDS = frozenset(
    {
        schema.STEP_YIELD,
        schema.STEP_WAIT,
        schema.STEP_DONE,
        schema.CALLBACK,
        schema.SKIP,
        schema.ABORT,
    }
)
STEP_KINDS = frozenset({schema.STEP_YIELD, schema.STEP_WAIT, schema.STEP_DONE})
IO_WAITS = (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE)
SLEEP_CALLBACK = "_set_result_unless_cancelled"  # what a sleep's timer runs
QUOTE_LIMIT = 60  # characters of program text quoted in a sentence

# When a task's step woke another task that waited on one of these: what the step did, and why
# the woken task goes on (read from what the woken task waited on; see `deed_for`).
DEEDS: dict[int, tuple[str, str]] = {
    schema.WAIT_QUEUE_GET: ("put an item in the queue", "its Queue.get got an item"),
    schema.WAIT_QUEUE_PUT: ("took an item from the queue", "its Queue.put found room"),
    schema.WAIT_LOCK: ("released the lock", "it gets the lock"),
    schema.WAIT_EVENT: ("set the event", "its Event.wait returns"),
    schema.WAIT_SEMAPHORE: ("released the semaphore", "it gets the semaphore"),
    schema.WAIT_CONDITION: ("notified the condition", "its Condition.wait returns"),
    schema.WAIT_BARRIER: ("reached the barrier", "the barrier lets it through"),
    schema.WAIT_FUTURE: ("completed a future", "the future it awaited is done"),
}


# -- small words ------------------------------------------------------------------------------


def duration(ns: int) -> str:
    """A duration with its unit, short enough to read at a glance."""
    ns = max(0, int(ns))
    if ns < 1_000:
        return f"{ns} ns"
    if ns < 100_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 100_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def plural(n: int, one: str, many: str | None = None) -> str:
    """ "1 fd", "2 fds": counts read better with their noun."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def quote(text: object) -> str:
    """Program text (output, marks) in quotes: its first line, cut short."""
    lines = str(text).strip().splitlines()
    line = lines[0] if lines else ""
    if len(line) > QUOTE_LIMIT or len(lines) > 1:
        line = line[:QUOTE_LIMIT].rstrip() + "…"
    return f"'{line}'"


def last_line(detail: str) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def short_site(site: str) -> str:
    """ "/long/path/prog.py:6 in producer" as "prog.py:6": where, without the noise."""
    where = site.split(" in ", 1)[0].strip()
    return where.rsplit("/", 1)[-1]


def queue_left(n: int) -> str:
    """How many handles wait in the ready queue, as a clause."""
    if n <= 0:
        return "the ready queue is now empty"
    return f"{plural(n, 'callback')} now {'waits' if n == 1 else 'wait'} in the ready queue"


def opening(words: str) -> str:
    """`words` to open a sentence: our own "a task" gets its capital; a task's name (program
    text, "flaky-1") is left as the program wrote it."""
    return "A" + words[1:] if words.startswith("a task") else words


def mask_words(mask: int, adjective: bool = False) -> str:
    """An interest mask as "reading"/"writing", or as "readable"/"writable"."""
    names = ("readable", "writable") if adjective else ("reading", "writing")
    words = [
        name for bit, name in zip((schema.READ, schema.WRITE), names, strict=True) if mask & bit
    ]
    return " and ".join(words) or f"events {mask}"


# -- reading the model ---------------------------------------------------------------------------


def fields(record: Record) -> dict[str, Any]:
    """A record's fields by name (without the ``$`` of string ids); missing ones left out, so a
    record of another schema version still reads."""
    names = schema.FIELDS.get(record[0], ())
    return {name.rstrip("$"): value for name, value in zip(names, record[1:], strict=False)}


def text(model: Model, source: int, sid: object) -> str:
    """The text of a string id in `source` ("" when it is not known)."""
    if not isinstance(sid, int) or not sid:
        return ""
    if source == 0:
        return model._strings.get(sid, "")
    replay = model._replays.get(source)
    return "" if replay is None else replay.strings.get(sid, "")


def find_task(model: Model, source: int, ident: object, t: int | None = None) -> Task | None:
    """The task a loop's records called `ident` at `t` (now, when `t` is None).

    An id names one task until its TASK_GONE, then maybe another: the one that had it at `t`
    is the latest created by then. Without `t` (a QUEUED record has none), a task that is gone
    is named only if no other task of the loop ever had its id.
    """
    if not isinstance(ident, int) or not ident:
        return None
    task = model.task_of(source, ident)
    if task is not None and (t is None or task.created <= t):
        return task
    had = [c for c in model.tasks if c.loop == source and c.ident == ident]
    if t is None:
        return had[0] if len(had) == 1 else None  # no time to choose by: only if unambiguous
    return max((c for c in had if c.created <= t), key=lambda c: c.created, default=None)


def label(task: Task | None) -> str:
    """How a task is named to the reader; a task the trace never introduced is just "a task"."""
    if task is None or task.placeholder:
        return "a task"
    return task.label


def task_label(model: Model, source: int, ident: object, t: int | None = None) -> str:
    return label(find_task(model, source, ident, t))


def step_begin(task: Task, end: int) -> int | None:
    """When the step of `task` that ended at `end` began (None: no such step)."""
    rows = task.rows
    n = len(rows) // ROW
    i = bisect_left(range(n), end, key=lambda k: rows[k * ROW + END])
    if i < n and rows[i * ROW + END] == end:
        return rows[i * ROW]
    return None


def ran_for(task: Task | None, end: int) -> str:
    """ "ran for 0.12 ms", or just "ran" when the step is not in the model.

    A step that seems to begin before its task was made (a loop whose first records are
    missing: the replay then knows no handle's begin) gets no duration rather than a wrong one;
    an eager task's first step begins before its TASK_NEW, so it is let through.
    """
    if task is None:
        return "ran"
    begin = step_begin(task, end)
    if begin is None or begin <= 0 or (begin < task.created and not task.eager):
        return "ran"
    return f"ran for {duration(end - begin)}"


# -- what a task waits on -------------------------------------------------------------------------


def wait_words(model: Model, source: int, wait: int, ref: int, t: int) -> str:
    """What a step left its task waiting on (STEP_WAIT's wait and ref, as recorded)."""
    if wait == schema.WAIT_SLEEP:
        timer = model.loops[source].timers.get(ref) if source in model.loops else None
        if timer is not None and timer[0] >= t:
            return f"a sleep of {duration(timer[0] - t)} (timer #{ref})"
        return f"a sleep (timer #{ref})" if ref else "a sleep"
    if wait == schema.WAIT_TASK:
        awaited = find_task(model, source, ref, t)
        return "another task" if awaited is None else f"{label(awaited)} to finish"
    if wait in (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE):
        adjective = "readable" if wait == schema.WAIT_IO_READ else "writable"
        return f"fd {ref} to be {adjective}" if ref > 0 else f"a file to be {adjective}"
    if wait == schema.WAIT_THREAD:
        return "a thread"
    name = schema.WAIT_NAMES.get(wait)
    if name is None or wait == 0:
        return "something"
    return "a future" if wait == schema.WAIT_FUTURE else name


def wait_phrase(model: Model, source: int, wait: int, ref: int, t: int) -> str:
    """ "waits on Queue.get", "waits for fd 7 to be readable": `wait_words` with its verb."""
    verb = "waits for" if wait in (schema.WAIT_TASK, *IO_WAITS) else "waits on"
    return f"{verb} {wait_words(model, source, wait, ref, t)}"


def waiting_words(model: Model, task: Task) -> str:
    """What `task` waits on, from its last step (the model's row holds a task's index)."""
    wait, ref = task.wait, task.wait_ref
    if wait == schema.WAIT_TASK and 0 <= ref < len(model.tasks):
        return f"{label(model.tasks[ref])} to finish"
    if wait == schema.WAIT_SLEEP:
        return "a sleep"
    end = task.rows[-ROW + END] if task.rows else 0
    return wait_words(model, task.loop, wait, ref, end)


def select_plan(timeout_ns: int | None, why: int = 0, ready: int | None = None) -> str:
    """What the coming select does, and why that long (`ready`: how many handles are ready,
    when known)."""
    if why == schema.WHY_STOPPING:
        return "checks for I/O in select with no wait: loop.stop() was called"
    if timeout_ns is not None and timeout_ns >= 0 and why == schema.WHY_READY:
        if ready:
            are = "is" if ready == 1 else "are"
            return f"checks for I/O in select with no wait: {plural(ready, 'callback')} {are} ready"
        return "checks for I/O in select with no wait: callbacks are ready"
    if timeout_ns is None or timeout_ns < 0 or why == schema.WHY_NOTHING:
        return "waits in select until I/O arrives (nothing else is scheduled)"
    if timeout_ns == 0:
        return "checks for I/O in select with no wait: a timer is already due"
    if why == schema.WHY_TIMER or why == 0:
        return f"waits in select for up to {duration(timeout_ns)}: the next timer is due then"
    return f"waits in select for up to {duration(timeout_ns)}"


def handle_words(model: Model, source: int, task: Task | None, what: str, where: str) -> str:
    """A handle in the ready queue (a QUEUED record, or a model's Queued)."""
    at = f" at {short_site(where)}" if where else ""
    if task is not None and what == "wakeup":
        return f"wake {label(task)}{at}"
    if task is not None:
        return f"step {label(task)}{at}"
    if what in ("step", "wakeup"):
        return f"a task's {what}{at}"  # a task the model cannot name
    return f"call {what}" if what else "a callback"


# -- one record ---------------------------------------------------------------------------------


def sentence(model: Model, source: int, record: Record) -> str:
    """One sentence for a person learning asyncio on what `record` (of `source`) means."""
    try:
        kind = record[0]
        words = SENTENCES.get(kind)
        if words is not None:
            said = words(model, source, fields(record))
            if said:
                return said
        return plain(record)
    except Exception:  # a damaged record must not stop the viewer: say less instead
        return plain(record)


def plain(record: Record) -> str:
    """The plainest words for a record: its kind."""
    try:
        name = schema.Kind(record[0]).name.replace("_", " ").lower()
    except (ValueError, IndexError, TypeError):
        return "The trace has a record of a kind this viewer does not know."
    return f"The trace has a {name} record."


F = dict[str, Any]


def _str(model: Model, source: int, f: F) -> str:
    return f"Bookkeeping: the trace stores the text {quote(f['text'])} as string #{f['id']}."


def _loop_open(model: Model, source: int, f: F) -> str:
    cls = text(model, source, f.get("cls"))
    thread = text(model, source, f.get("thread_name"))
    kind = f" ({cls})" if cls else ""
    where = f" in thread {thread}" if thread else ""
    return f"Event loop {source}{kind} was created{where}."


def _loop_close(model: Model, source: int, f: F) -> str:
    return "The loop was closed: it will run nothing more."


def _run_begin(model: Model, source: int, f: F) -> str:
    thread = text(model, source, f.get("thread_name"))
    where = f" in thread {thread}" if thread else ""
    return f"The loop starts running{where}: it goes round, running ready callbacks."


def _run_end(model: Model, source: int, f: F) -> str:
    return "The loop stops running: run_until_complete or run_forever returned."


def _select(model: Model, source: int, f: F) -> str:
    waited = duration(f["t_end"] - f["t"])
    events = f["events"]
    ready = f"; {plural(events, 'fd')} became ready" if events else ""
    if f["timeout_ns"] == 0:
        if not events:
            return "The loop checked for I/O in select without waiting; no fd was ready."
        return f"The loop checked for I/O in select without waiting{ready}."
    if not events:
        ended = "its timeout ran out" if f["timeout_ns"] > 0 else "something woke it"
        return f"The loop waited {waited} in select; no fd became ready: {ended}."
    return f"The loop waited {waited} in select{ready}."


def _io_event(model: Model, source: int, f: F) -> str:
    fd, mask = f["fd"], f["mask"]
    said = f"The OS reports fd {fd} {mask_words(mask, adjective=True)}"
    loop = model.loops.get(source)
    watchers = loop.watchers if loop is not None else {}
    callback = watchers.get((fd, schema.READ if mask & schema.READ else schema.WRITE))
    if callback:
        return f"{said}: its callback {callback} goes in the ready queue."
    return f"{said}: the callback watching it goes in the ready queue."


def sleeper(model: Model, source: int, timer: int) -> Task | None:
    """The task whose sleep timer `timer` is, from its steps (None: not a sleep).

    A task sleeping on it now says so in its last step; an older timer is looked for in every
    step's REF column, read as one array per task (a trace may hold millions of steps).
    """
    tasks = [task for task in model.tasks if task.loop == source]
    for task in tasks:
        if task.wait == schema.WAIT_SLEEP and task.wait_ref == timer:
            return task
    suspensions = model.registry.suspensions
    for task in tasks:
        refs = task.rows[REF::ROW]
        if timer not in refs:  # an array search: skips nearly every task quickly
            continue
        # a REF is a timer only after a sleep: an fd or a task index may match too
        for ref, suspension in zip(refs, task.rows[SUSPENSION::ROW], strict=True):
            if ref == timer and suspensions[suspension][0] == schema.WAIT_SLEEP:
                return task
    return None


def _timer_due(model: Model, source: int, f: F) -> str:
    timer = f["timer"]
    task = sleeper(model, source, timer) if timer else None
    if task is not None:
        return f"Timer #{timer} is due: it wakes {label(task)} from its sleep."
    name = f"Timer #{timer}" if timer else "A timer"
    if outside(model, source):  # uvloop runs a timer's callback as it comes due
        return f"{name} is due: its callback runs now."
    return f"{name} is due: its callback goes in the ready queue."


def outside(model: Model, source: int) -> str:
    """The C loop class loop `source` is recorded from outside ("uvloop.Loop"), or ""."""
    loop = model.loops.get(source)
    return loop.outside if loop is not None else ""


def _ready(model: Model, source: int, f: F) -> str:
    ntodo, from_timers = f["ntodo"], f["ntodo"] - f["qlen_io"]
    due = f" ({plural(from_timers, 'timer')} came due)" if from_timers > 0 else ""
    pending = f"; {plural(f['timers'], 'timer')} still pending" if f["timers"] else ""
    if not ntodo:
        return f"This iteration has no callback to run{pending}."
    return f"This iteration runs the {plural(ntodo, 'ready callback')}{due}{pending}."


def _callback(model: Model, source: int, f: F) -> str:
    what = text(model, source, f.get("what"))
    name = f"The callback {what}" if what else "A callback"
    if f["qlen"] < 0:  # a loop recorded from outside: its ready queue is not known
        return f"{name} ran."
    return f"{name} ran; {queue_left(f['qlen'])}."


def _skip(model: Model, source: int, f: F) -> str:
    return "A cancelled callback came up and was skipped: cancelled handles wait for their turn."


def _step_subject(model: Model, source: int, f: F) -> tuple[Task | None, str]:
    """A step record's task, and "Task-2 producer() ran for 0.12 ms"."""
    task = find_task(model, source, f["task"], f["t"])
    return task, opening(f"{label(task)} {ran_for(task, f['t'])}")


def _step_yield(model: Model, source: int, f: F) -> str:
    _, said = _step_subject(model, source, f)
    return f"{said} and yielded: it goes to the back of the ready queue."


def _step_wait(model: Model, source: int, f: F) -> str:
    _, said = _step_subject(model, source, f)
    waits = wait_phrase(model, source, f["wait"], f["ref"], f["t"])
    site = text(model, source, f.get("site"))
    at = f" at {short_site(site)}" if site else ""
    return f"{said} and now {waits}{at}."


def outcome_words(outcome: int, detail: str) -> str:
    """ "finished", "failed with ValueError: bad", "was cancelled"."""
    if outcome == schema.OUTCOME_OK:
        return "finished"
    if outcome == schema.OUTCOME_CANCELLED:
        return "was cancelled"
    if outcome == schema.OUTCOME_FAILED:
        error = last_line(detail)
        return f"failed with {error}" if error else "failed"
    return "ended"


def _step_done(model: Model, source: int, f: F) -> str:
    _, said = _step_subject(model, source, f)
    detail = text(model, source, f.get("detail"))
    return f"{said} and {outcome_words(f['outcome'], detail)}."


def _task_new(model: Model, source: int, f: F) -> str:
    coro = text(model, source, f.get("coro")) or "a coroutine"
    name = f"{f['name']} {coro}()"
    parent = task_label(model, source, f["parent"], f["t"]) if f["parent"] else ""
    by = f" by {parent}" if parent else ""
    site = text(model, source, f.get("site"))
    at = f" at {short_site(site)}" if site else ""
    if f["eager"]:
        return f"{name} was created{by}{at}; it is eager: its first step runs right away."
    return f"{name} was created{by}{at}; its first step waits in the ready queue."


def _task_name(model: Model, source: int, f: F) -> str:
    task = find_task(model, source, f["task"], f["t"])
    coro = f"{task.coro}()" if task is not None and not task.placeholder else "a task"
    return f"The task running {coro} is now named {quote(f['name'])}."


def _task_cancel(model: Model, source: int, f: F) -> str:
    task = find_task(model, source, f["task"], f["t"])
    by = next((who for t, who in (task.cancel_requests if task else ()) if t == f["t"]), "")
    # The model names who queued the step that saw the request: the canceller, unless the task
    # was woken first (a sleep's timer never cancels, so it is not named).
    known = by and by != "unknown" and not by.startswith("sleep timer")
    asked = f" (by {by})" if known else ""
    many = f", {f['requests']} requests in all" if f["requests"] > 1 else ""
    return (
        f"{opening(label(task))} was asked to cancel{asked}{many}: its next step gets "
        "CancelledError where it waits."
    )


def _task_gone(model: Model, source: int, f: F) -> str:
    name = opening(task_label(model, source, f["task"], f["t"]))
    return f"{name} was garbage-collected: its id may name a new task from now on."


def _eager_begin(model: Model, source: int, f: F) -> str:
    return "An eager task is being created: its first step runs now, inside this callback."


def _timer_add(model: Model, source: int, f: F) -> str:
    what = text(model, source, f.get("what"))
    due = duration(f["when_ns"] - f["t"])
    if what == SLEEP_CALLBACK:
        return f"Timer #{f['timer']} is set to end a sleep in {due}."
    does = f": it runs {what}" if what else ""
    return f"Timer #{f['timer']} is set for {due} from now{does}."


def _timer_cancel(model: Model, source: int, f: F) -> str:
    return f"Timer #{f['timer']} was cancelled before it was due: it will never run."


def _io_add(model: Model, source: int, f: F) -> str:
    what = text(model, source, f.get("what"))
    runs = f": {what} runs when it is {mask_words(f['mask'], adjective=True)}" if what else ""
    return f"The loop now watches fd {f['fd']} for {mask_words(f['mask'])}{runs}."


def _io_remove(model: Model, source: int, f: F) -> str:
    return f"The loop stops watching fd {f['fd']} for {mask_words(f['mask'])}."


def _threadsafe(model: Model, source: int, f: F) -> str:
    what = text(model, source, f.get("what"))
    name = f"the callback {what}" if what else "a callback"
    return (
        f"Thread {f['thread']} put {name} in the ready queue of loop {f['loop']} "
        "with call_soon_threadsafe."
    )


def _in_task(model: Model, source: int, f: F) -> str:
    """ " (in Task-2 main())" for a MARK or EXCEPTION that names its task."""
    loop = f.get("loop") or source
    task = find_task(model, loop, f.get("task"), f.get("t"))
    return f" (in {label(task)})" if task is not None else ""


def _exception(model: Model, source: int, f: F) -> str:
    message = text(model, source, f.get("message"))
    error = last_line(text(model, source, f.get("detail")))
    about = ": " + "; ".join(words for words in (message, error) if words)
    return f"The loop's exception handler was called{_in_task(model, source, f)}{about}."


def _mark(model: Model, source: int, f: F) -> str:
    said = quote(text(model, source, f.get("text")))
    return f"The program marked {said}{_in_task(model, source, f)}."


def _output(model: Model, source: int, f: F) -> str:
    where = "to stderr" if f["stream"] == 2 else "on stdout" if f["stream"] == 1 else "output"
    return f"The program printed {quote(f['text'])} {where}."


def _exit(model: Model, source: int, f: F) -> str:
    status = f["status"]
    why = last_line(f.get("detail", ""))
    after = f": {why}" if why else ""
    if status == 0:
        return f"The program exited normally (status 0){after}."
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"The program was killed by {name}{after}."
    return f"The program exited with status {status}{after}."


def _dropped(model: Model, source: int, f: F) -> str:
    batches = plural(f["batches"], "batch", "batches")
    return f"The recording left out {batches} of records: it reached its size limit."


def _abort(model: Model, source: int, f: F) -> str:
    return "A callback raised SystemExit or KeyboardInterrupt: it leaves the loop, which stops."


def _idle(model: Model, source: int, f: F) -> str:
    timeout = f["timeout_ns"]
    if timeout is None or timeout < 0:
        return "The loop has nothing to run: it waits in select until I/O arrives."
    plan = f"waits in select for up to {duration(timeout)}: the next timer is due then"
    return f"The loop has nothing to run: it {plan}."


def _paused(model: Model, source: int, f: F) -> str:
    if f["point"] == schema.POINT_TOP:
        timeout = None if f["timeout_ns"] < 0 else f["timeout_ns"]
        plan = select_plan(timeout, f["why"])
        return f"The stepper holds the loop at the top of an iteration; next it {plan}."
    said = f"The stepper holds the loop before callback {f['k']} of {f['n']}"
    loop = model.loops.get(source)
    held = loop.held if loop is not None else None
    if held is not None and held.t == f["t"] and held.next is not None:
        return f"{said}: {queued_words(model, held.next)}."
    return f"{said}."


def queued_words(model: Model, queued: Queued) -> str:
    task = model.tasks[queued.task] if queued.task is not None else None
    return handle_words(model, task.loop if task else 0, task, queued.what, queued.where)


def _queued(model: Model, source: int, f: F) -> str:
    task = find_task(model, source, f["task"])
    what = text(model, source, f.get("what"))
    where = text(model, source, f.get("where"))
    return f"In the ready queue: {handle_words(model, source, task, what, where)}."


def _stack(model: Model, source: int, f: F) -> str:
    loop = f.get("loop")
    frames = str(f.get("detail", "")).split("\n")
    where = StackSample(0, 0, tuple(frames)).where if frames and frames[0] else ""
    at = f" at {where}" if where else ""
    task = model.task_of(loop, f.get("task") or 0) if isinstance(loop, int) else None
    label = task.label if task is not None else str(f.get("name") or "")
    what = f"in a step of {label}" if label else "in one callback"
    return (
        f"The watchdog saw loop {loop} stuck {what}{at}: nothing has been recorded for a "
        "while, and it is not waiting for I/O."
    )


def _answer(model: Model, source: int, f: F) -> str:
    return f"The program answered the viewer: {str(f.get('text', '')).rstrip('.')}."


def _note(model: Model, source: int, f: F) -> str:
    return f"loopviz: {str(f.get('text', '')).rstrip('.')}."


def _loop_outside(model: Model, source: int, f: F) -> str:
    base = text(model, source, f.get("base")) or "its C class"
    return (
        f"Loop {source} runs as {base} and is recorded from outside, by a subclass: its tasks' "
        f"steps, its callbacks and its timers are seen; its select, I/O and ready queue are "
        f"{UNRECORDED}."
    )


def _handle_begin(model: Model, source: int, f: F) -> str:
    by, ref, t = f["by"], f["ref"], f["t"]
    if by == schema.BY_TIMER:
        return f"Timer #{ref} is due: its callback starts."
    what = text(model, source, f.get("what"))
    if by == schema.BY_TASK:
        who = task_label(model, source, ref, f["queued"])
    elif by == schema.BY_CALLBACK:
        who = f"the callback {what}" if what else "a callback"
    elif by == schema.BY_THREAD:
        who = "another thread"
    elif by == schema.BY_OUTSIDE:
        who = "the program before the loop ran"
    else:
        who = f"uvloop's own I/O or callbacks ({UNRECORDED})"
    return f"A handle starts: {who} queued it {duration(t - f['queued'])} before."


def _resumed(model: Model, source: int, f: F) -> str:
    lag = f.get("lag_ns")
    if isinstance(lag, int) and lag > 0:
        return (
            "The stepper lets the loop go on; the program's clock stood still while it was "
            f"held, and is now {duration(lag)} behind the real one."
        )
    return "The stepper lets the loop go on; the program's clock stood still while it was held."


SENTENCES: dict[int, Callable[[Model, int, F], str]] = {
    schema.STR: _str,
    schema.LOOP_OPEN: _loop_open,
    schema.LOOP_CLOSE: _loop_close,
    schema.RUN_BEGIN: _run_begin,
    schema.RUN_END: _run_end,
    schema.SELECT: _select,
    schema.IO_EVENT: _io_event,
    schema.TIMER_DUE: _timer_due,
    schema.READY: _ready,
    schema.CALLBACK: _callback,
    schema.SKIP: _skip,
    schema.STEP_YIELD: _step_yield,
    schema.STEP_WAIT: _step_wait,
    schema.STEP_DONE: _step_done,
    schema.TASK_NEW: _task_new,
    schema.TASK_NAME: _task_name,
    schema.TASK_CANCEL: _task_cancel,
    schema.TASK_GONE: _task_gone,
    schema.EAGER_BEGIN: _eager_begin,
    schema.TIMER_ADD: _timer_add,
    schema.TIMER_CANCEL: _timer_cancel,
    schema.IO_ADD: _io_add,
    schema.IO_REMOVE: _io_remove,
    schema.THREADSAFE: _threadsafe,
    schema.EXCEPTION: _exception,
    schema.MARK: _mark,
    schema.OUTPUT: _output,
    schema.EXIT: _exit,
    schema.DROPPED: _dropped,
    schema.ABORT: _abort,
    schema.IDLE: _idle,
    schema.PAUSED: _paused,
    schema.QUEUED: _queued,
    schema.RESUMED: _resumed,
    schema.STACK: _stack,
    schema.ANSWER: _answer,
    schema.NOTE: _note,
    schema.LOOP_OUTSIDE: _loop_outside,
    schema.HANDLE_BEGIN: _handle_begin,
}


# -- the story of a hold --------------------------------------------------------------------------


def story(model: Model, source: int, recent: Sequence[Record]) -> str:
    """The line a stepper shows while it holds loop `source`: what the last handle did and
    whom it woke, then what comes next. `recent` is the loop's latest records, oldest first,
    up to the hold."""
    try:
        loop = model.loops.get(source)
        held = loop.held if loop is not None else None
        if loop is None or held is None:
            return _not_held(model, source, recent)
        last = last_handle(recent)
        ran = "The loop has not run a callback yet."
        if last is not None:
            ran = what_ran(model, source, loop, held, last)
        return f"{ran} {what_next(model, held)}"
    except Exception:  # as `sentence`: a strange trace gets fewer words, never an error
        return "The stepper holds the loop."


def _not_held(model: Model, source: int, recent: Sequence[Record]) -> str:
    if recent:
        return sentence(model, source, recent[-1])
    return "The loop is not held by the stepper."


def last_handle(recent: Sequence[Record]) -> Record | None:
    """The last handle record before the latest hold (PAUSED) in `recent`."""
    end = len(recent)
    for at in range(len(recent) - 1, -1, -1):
        if recent[at] and recent[at][0] == schema.PAUSED:
            end = at
            break
    for at in range(end - 1, -1, -1):
        if recent[at] and recent[at][0] in HANDLE_KINDS:
            return recent[at]
    return None


def queued_by(loop: Loop, held: Held, t: int, who: int | None) -> list[tuple[int, Queued, Any]]:
    """The handles of `held.queue` the handle that ended at `t` queued, with their places.

    The model's replayed queue (who queued each entry, and when) and the stepper's (what each
    entry is) hold the same handles in the same order; if their lengths differ (a cut trace, a
    long queue the stepper did not list whole), they cannot be paired and nothing is said.
    `who` is the stepping task's index, or None for a callback.
    """
    if held.expected or len(loop.queue) != len(held.queue):
        return []
    out = []
    for place, ((when, by), queued) in enumerate(zip(loop.queue, held.queue, strict=True)):
        if when == t and queued_by_it(by, who):
            out.append((place, queued, by))
    return out


def queued_by_it(by: int | Scheduled, who: int | None) -> bool:
    """Whether a replayed queue entry's `by` is the running handle: task `who`'s step, or (for
    `who` None) a plain callback."""
    if who is not None:
        return type(by) is int and by == who
    return isinstance(by, Scheduled) and by.origin == Origin.CALLBACK


def place_words(place: int) -> str:
    """Where a queued task is, after "woke Task-3 consumer()"."""
    if place == 0:
        return "which runs next"
    return f"which is now in the ready queue behind {plural(place, 'callback')}"


def what_ran(model: Model, source: int, loop: Loop, held: Held, record: Record) -> str:
    """What the last handle did, and whom it woke."""
    kind = record[0]
    if kind in STEP_KINDS:
        return step_story(model, source, loop, held, record)
    if kind == schema.CALLBACK:
        return callback_story(model, source, loop, held, record)
    return sentence(model, source, record)


def step_story(model: Model, source: int, loop: Loop, held: Held, record: Record) -> str:
    """What a task's step did: what it woke or created, and where the task stands after it."""
    f = fields(record)
    task = find_task(model, source, f["task"], f["t"])
    if task is None:
        return sentence(model, source, record)
    queued = queued_by(loop, held, f["t"], task.index)
    others = [(place, q) for place, q, _ in queued if q.task not in (None, task.index)]
    # a first step queued by this one: the task was created by it (create_task queues it)
    created = [(place, model.tasks[q.task], "") for place, q in others if is_new(model, q)]
    woken = [
        (place, model.tasks[q.task], deed_for(model, task, model.tasks[q.task])[1])
        for place, q in others
        if not is_new(model, q)
    ]
    own = [place for place, q, _ in queued if q.task == task.index]
    callbacks = [q.what or "a callback" for _, q, _ in queued if q.task is None]
    deeds = [deed_for(model, task, other)[0] for _, other, _ in woken]
    clauses = [deed for deed in dict.fromkeys(deeds) if deed]
    one = len(created) + len(woken) == 1
    if created:
        clauses.append(f"created {tasks_words(created, one)}")
    if woken:
        clauses.append(f"woke {tasks_words(woken, one)}")
    said = opening(f"{label(task)} {ran_for(task, f['t'])}")
    after = after_words(model, source, task, f, record[0], own)
    did = join_words(clauses)
    if callbacks:
        queued_words = f"queued {plural(len(callbacks), 'callback')} ({', '.join(callbacks)})"
        did = f"{did}; it also {queued_words}" if did else queued_words
    if not did:
        return f"{said} and {after}."
    if record[0] == schema.STEP_DONE:
        return f"{said} and {after}; it {did}."
    return f"{said}: it {did}. {opening(label(task))} itself {after}."


def is_new(model: Model, queued: Queued) -> bool:
    """Whether `queued` is the first step of a task that has not run yet."""
    return queued.task is not None and queued.what == "step" and not model.tasks[queued.task].rows


def join_words(words: list[str]) -> str:
    """ "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def tasks_words(items: list[tuple[int, Task, str]], one: bool) -> str:
    """Tasks with why they go on and their place in the ready queue: "Task-4 consumer() (its
    Queue.get got an item), which runs next" for one task; shorter places for several."""
    if one and len(items) == 1:
        place, task, reason = items[0]
        why = f" ({reason})" if reason else ""
        return f"{label(task)}{why}, {place_words(place)}"
    parts = []
    for place, task, reason in items:
        where = "runs next" if place == 0 else f"behind {plural(place, 'callback')}"
        parts.append(f"{label(task)} ({reason}; {where})" if reason else f"{label(task)} ({where})")
    return join_words(parts)


def deed_for(model: Model, waker: Task, woken: Task) -> tuple[str, str]:
    """What `waker`'s step did to wake `woken`, and why `woken` goes on ("" when unknown).

    The deed is read from what `woken` waited on: a task waiting on Queue.get is woken by a
    put. (A cancel() wakes a waiting task the same way; the trace shows it only at the woken
    task's next step, so a cancel looks like the deed until then.)
    """
    wait = woken.wait
    if wait == schema.WAIT_TASK and woken.wait_ref == waker.index and waker.outcome is not None:
        return "", "the task it awaited is done"
    if wait in DEEDS:
        return DEEDS[wait]
    if wait == 0:
        return "", ""
    return "", f"it waited for {waiting_words(model, woken)}"


def after_words(model: Model, source: int, task: Task, f: F, kind: int, own: list[int]) -> str:
    """Where the stepping task stands after its step: "now waits on Queue.put", "finished"."""
    if kind == schema.STEP_DONE:
        return outcome_words(f["outcome"], text(model, source, f.get("detail")))
    if kind == schema.STEP_YIELD:
        if own and own[0] == 0:
            return "yielded: it runs next"
        if own:
            return f"yielded: it is back in the ready queue behind {plural(own[0], 'callback')}"
        return "yielded: it is back in the ready queue"
    return f"now {wait_phrase(model, source, f['wait'], f['ref'], f['t'])}"


def callback_story(model: Model, source: int, loop: Loop, held: Held, record: Record) -> str:
    """What a plain callback did (a sleep's timer, an I/O callback), and whom it woke."""
    f = fields(record)
    what = text(model, source, f.get("what"))
    queued = queued_by(loop, held, f["t"], None)
    via = next((by.via for _, _, by in queued if by.via is not None), None)
    said = callback_subject(what, via)
    woken = [
        (place, model.tasks[q.task], callback_reason(model, model.tasks[q.task]))
        for place, q, _ in queued
        if q.task is not None
    ]
    if not woken:
        return f"{said} ran; {queue_left(f['qlen'])}."
    return f"{said} ran and woke {tasks_words(woken, True)}."


def callback_subject(what: str, via: Scheduled | None) -> str:
    """ "The callback of sleep timer #3", "The I/O callback _read_ready for fd 7"..."""
    name = what or "a callback"
    if via is not None and via.origin == Origin.TIMER:
        if what == SLEEP_CALLBACK:
            return f"The callback of sleep timer #{via.ref}"
        return f"Timer #{via.ref}'s callback {name}"
    if via is not None and via.origin == Origin.IO and via.ref != -1:
        return f"The I/O callback {name} for fd {via.ref}"
    return f"The callback {name}" if what else "A callback"


def callback_reason(model: Model, task: Task) -> str:
    """Why a task a callback woke goes on, from what it waited on."""
    wait = task.wait
    if wait == schema.WAIT_SLEEP:
        return "its sleep is over"
    if wait == schema.WAIT_IO_READ:
        return "its fd is readable"
    if wait == schema.WAIT_IO_WRITE:
        return "its fd is writable"
    if wait == 0:
        return ""
    return f"it waited for {waiting_words(model, task)}"


def what_next(model: Model, held: Held) -> str:
    """What the loop does when it is let go."""
    if held.point == schema.POINT_HANDLE:
        at = f"Next comes callback {held.k} of {held.n}"
        nxt = held.next
        return f"{at}: {queued_words(model, nxt)}." if nxt is not None else f"{at}."
    ready = None if held.expected else len(held.queue)
    return f"Next the loop {select_plan(held.timeout, held.why, ready)}."

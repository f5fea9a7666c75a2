"""The stepper's narration: a sentence for every record kind, and the story of a hold.

Hand-made records pin the words exactly; a recorded program shows that every record a real
trace holds gets its own words; a program held by the stepper shows that the story names who
ran, whom it woke and where that task now is in the ready queue.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import visualizer
from tests.stepping import command, holds, loop_records, stepped, wait_for
from visualizer.model import Model
from visualizer.model.narrate import duration, plain, sentence, story
from visualizer.trace import schema as s
from visualizer.trace.reader import read_trace, records

T0 = 1_000_000_000
MS = 1_000_000


def rec(kind: int, **values: Any) -> tuple[Any, ...]:
    """A record of `kind` built by field names (``$`` left out), as the schema lists them now:
    a field not given is 0, one the schema does not have is dropped."""
    return (kind, *(values.get(name.rstrip("$"), 0) for name in s.FIELDS[kind]))


def feed(model: Model, source: int, recs: list[tuple[Any, ...]]) -> None:
    model.feed([source, *[field for record in recs for field in record]])


# -- every kind, by hand ----------------------------------------------------------------------

TRACEBACK = "Traceback (most recent call last):\n  File shop.py, line 33\nValueError: bad input\n"
LOOP_STRINGS = {
    1: "MainThread", 2: "RecordingEventLoop", 3: "main", 4: "/src/shop.py:60 in <module>",
    5: "nap", 6: "/src/shop.py:41 in main", 7: "_set_result_unless_cancelled",
    8: "/src/shop.py:28 in nap", 9: TRACEBACK, 10: "_SelectorSocketTransport._read_ready",
    11: "flaky", 12: "wakeup", 13: "print", 14: "Task exception was never retrieved",
    15: "checkpoint", 16: "/src/shop.py:33 in flaky",
}  # fmt: skip

# (record, words its sentence must hold), in the order the loop's records happen
LOOP_RECORDS: list[tuple[tuple[Any, ...], str]] = [
    *[(rec(s.STR, id=sid, text=text), f"'{text.splitlines()[0]}") for sid, text in
      LOOP_STRINGS.items()],
    (rec(s.LOOP_OPEN, t=T0, thread=1, thread_name=1, cls=2),
     "Event loop 1 (RecordingEventLoop) was created in thread MainThread."),
    (rec(s.RUN_BEGIN, t=T0, thread=1, thread_name=1),
     "The loop starts running in thread MainThread"),
    (rec(s.TASK_NEW, t=T0, task=1, name="Task-1", coro=3, site=4),
     "Task-1 main() was created at shop.py:60; its first step waits in the ready queue."),
    (rec(s.SELECT, t=T0 + MS, timeout_ns=0, t_end=T0 + MS, qlen=1),
     "The loop checked for I/O in select without waiting; no fd was ready."),
    (rec(s.READY, t=T0 + MS, qlen_io=1, ntodo=1), "This iteration runs the 1 ready callback."),
    (rec(s.EAGER_BEGIN, t=T0 + MS), "eager task"),
    (rec(s.TASK_NEW, t=T0 + 2 * MS, task=2, name="Task-2", coro=5, site=6, parent=1),
     "Task-2 nap() was created by Task-1 main() at shop.py:41"),
    (rec(s.TASK_NEW, t=T0 + 2 * MS, task=3, name="Task-3", coro=11, site=6, parent=1),
     "Task-3 flaky() was created by Task-1 main()"),
    (rec(s.STEP_WAIT, t=T0 + 3 * MS, task=1, qlen=2, wait=s.WAIT_TASK, ref=2, site=6, chain=6),
     "Task-1 main() ran for 2.00 ms and now waits for Task-2 nap() to finish at shop.py:41."),
    (rec(s.SELECT, t=T0 + 3 * MS, timeout_ns=0, t_end=T0 + 3 * MS, qlen=2), "without waiting"),
    (rec(s.READY, t=T0 + 3 * MS, qlen_io=2, ntodo=2), "runs the 2 ready callbacks"),
    (rec(s.TIMER_ADD, t=T0 + 4 * MS, timer=1, when_ns=T0 + 504 * MS, what=7),
     "Timer #1 is set to end a sleep in 0.50 s."),
    (rec(s.STEP_WAIT, t=T0 + 4 * MS, task=2, qlen=1, wait=s.WAIT_SLEEP, ref=1, site=8, chain=8),
     "Task-2 nap() ran for 1.00 ms and now waits on a sleep (timer #1) at shop.py:28."),
    (rec(s.STEP_DONE, t=T0 + 5 * MS, task=3, outcome=s.OUTCOME_FAILED, detail=9),
     "flaky-1 flaky() ran for 1.00 ms and failed with ValueError: bad input."),
    (rec(s.IO_ADD, t=T0 + 6 * MS, fd=7, mask=s.READ, what=10),
     "The loop now watches fd 7 for reading: _SelectorSocketTransport._read_ready runs when it "
     "is readable."),
    (rec(s.IDLE, t=T0 + 6 * MS, timeout_ns=500 * MS),
     "The loop has nothing to run: it waits in select for up to 0.50 s: the next timer is due "
     "then."),
    (rec(s.SELECT, t=T0 + 6 * MS, timeout_ns=500 * MS, t_end=T0 + 506 * MS, events=1),
     "The loop waited 0.50 s in select; 1 fd became ready."),
    (rec(s.IO_EVENT, fd=7, mask=s.READ),
     # fd 7 is not watched any more (IO_REMOVE below): the model now cannot say by what
     "The OS reports fd 7 readable: the callback watching it goes in the ready queue."),
    (rec(s.TIMER_DUE, timer=1), "Timer #1 is due: it wakes Task-2 nap() from its sleep."),
    (rec(s.READY, t=T0 + 506 * MS, qlen_io=1, ntodo=2),
     "This iteration runs the 2 ready callbacks (1 timer came due)."),
    (rec(s.CALLBACK, t=T0 + 507 * MS, qlen=1, what=10),
     "The callback _SelectorSocketTransport._read_ready ran; 1 callback now waits in the ready "
     "queue."),
    (rec(s.CALLBACK, t=T0 + 508 * MS, qlen=1, what=7),
     "The callback _set_result_unless_cancelled ran"),
    (rec(s.PAUSED, t=T0 + 508 * MS, point=s.POINT_TOP, timeout_ns=0, why=s.WHY_READY, queued=1),
     "The stepper holds the loop at the top of an iteration; next it checks for I/O in select "
     "with no wait: callbacks are ready."),
    (rec(s.QUEUED, task=2, what=12, where=8),
     "In the ready queue: wake Task-2 nap() at shop.py:28."),
    (rec(s.RESUMED, t=T0 + 508 * MS, lag_ns=2_000 * MS), "The stepper lets the loop go on"),
    (rec(s.SELECT, t=T0 + 508 * MS, timeout_ns=0, t_end=T0 + 508 * MS, qlen=1), "without"),
    (rec(s.READY, t=T0 + 508 * MS, qlen_io=1, ntodo=1), "1 ready callback"),
    (rec(s.TASK_CANCEL, t=T0 + 509 * MS, task=2, requests=1),
     # the model's guess at who asked is the sleep's timer that woke nap: not said
     "Task-2 nap() was asked to cancel: its next step gets CancelledError where it waits."),
    (rec(s.STEP_DONE, t=T0 + 510 * MS, task=2, qlen=1, outcome=s.OUTCOME_CANCELLED),
     "Task-2 nap() ran for 2.00 ms and was cancelled."),
    (rec(s.PAUSED, t=T0 + 510 * MS, point=s.POINT_HANDLE, k=2, n=2, timeout_ns=-1, queued=1),
     "The stepper holds the loop before callback 2 of 2."),  # not held now: what ran is unsaid
    (rec(s.QUEUED, task=1, what=12, where=6), "wake Task-1 main()"),
    (rec(s.RESUMED, t=T0 + 510 * MS), "the program's clock stood still while it was held"),
    (rec(s.STEP_YIELD, t=T0 + 511 * MS, task=1, qlen=1),
     "Task-1 main() ran for 1.00 ms and yielded: it goes to the back of the ready queue."),
    (rec(s.SKIP, qlen=1), "A cancelled callback came up and was skipped"),
    (rec(s.TASK_NAME, t=T0 + 512 * MS, task=3, name="flaky-1"),
     "The task running flaky() is now named 'flaky-1'."),
    (rec(s.TIMER_CANCEL, t=T0 + 512 * MS, timer=1), "Timer #1 was cancelled before it was due"),
    (rec(s.IO_REMOVE, t=T0 + 512 * MS, fd=7, mask=s.READ),
     "The loop stops watching fd 7 for reading."),
    (rec(s.EXCEPTION, t=T0 + 513 * MS, task=3, message=14, detail=9),
     "The loop's exception handler was called (in flaky-1 flaky()): Task exception was never "
     "retrieved; ValueError: bad input."),
    (rec(s.MARK, t=T0 + 513 * MS, task=1, text=15),
     "The program marked 'checkpoint' (in Task-1 main())."),
    (rec(s.TASK_GONE, t=T0 + 514 * MS, task=3),
     "flaky-1 flaky() was garbage-collected: its id may name a new task from now on."),
    (rec(s.STEP_DONE, t=T0 + 515 * MS, task=1, outcome=s.OUTCOME_OK),
     "Task-1 main() ran for 4.00 ms and finished."),
    (rec(s.ABORT, t=T0 + 516 * MS), "SystemExit or KeyboardInterrupt"),
    (rec(s.RUN_END, t=T0 + 517 * MS), "The loop stops running"),
    (rec(s.LOOP_CLOSE, t=T0 + 518 * MS), "The loop was closed"),
]  # fmt: skip

# A uvloop loop kept with --keep-uvloop (loop 2), recorded from outside: each handle it saw
# begins with who queued it; it has no select, no ready queue (qlen -1).
OUTSIDE_STRINGS = {1: "MainThread", 2: "Loop", 3: "uvloop.Loop", 4: "main", 5: "/src/uv.py:9",
                   6: "_set_result_unless_cancelled"}  # fmt: skip
OUTSIDE_RECORDS: list[tuple[tuple[Any, ...], str]] = [
    *[(rec(s.STR, id=sid, text=text), f"'{text}'") for sid, text in OUTSIDE_STRINGS.items()],
    (rec(s.LOOP_OPEN, t=T0, thread=1, thread_name=1, cls=2), "Event loop 2 (Loop) was created"),
    (rec(s.LOOP_OUTSIDE, t=T0, base=3),
     "Loop 2 runs as uvloop.Loop and is recorded from outside, by a subclass: its tasks' steps, "
     "its callbacks and its timers are seen; its select, I/O and ready queue are not recorded "
     "under uvloop."),
    (rec(s.TASK_NEW, t=T0, task=1, name="Task-1", coro=4, site=5), "Task-1 main() was created"),
    (rec(s.HANDLE_BEGIN, t=T0 + MS, queued=T0, by=s.BY_OUTSIDE),
     "A handle starts: the program before the loop ran queued it 1.00 ms before."),
    (rec(s.TIMER_ADD, t=T0 + MS, timer=1, when_ns=T0 + 11 * MS, what=6),
     "Timer #1 is set to end a sleep in 10.00 ms."),
    (rec(s.STEP_WAIT, t=T0 + 2 * MS, task=1, qlen=-1, wait=s.WAIT_SLEEP, ref=1, site=5, chain=5),
     "Task-1 main() ran for 1.00 ms and now waits on a sleep (timer #1) at uv.py:9."),
    (rec(s.HANDLE_BEGIN, t=T0 + 11 * MS, queued=T0 + 11 * MS, by=s.BY_TIMER, ref=1, what=6),
     "Timer #1 is due: its callback starts."),
    (rec(s.TIMER_DUE, timer=1), "Timer #1 is due: it wakes Task-1 main() from its sleep."),
    (rec(s.CALLBACK, t=T0 + 12 * MS, qlen=-1, what=6),
     "The callback _set_result_unless_cancelled ran."),  # nothing said of the ready queue
    (rec(s.HANDLE_BEGIN, t=T0 + 13 * MS, queued=T0 + 12 * MS, by=s.BY_CALLBACK, what=6,
         via=s.BY_TIMER, via_ref=1),
     "A handle starts: the callback _set_result_unless_cancelled queued it 1.00 ms before."),
    (rec(s.STEP_DONE, t=T0 + 14 * MS, task=1, qlen=-1, outcome=s.OUTCOME_OK),
     "Task-1 main() ran for 1.00 ms and finished."),
]  # fmt: skip

PROCESS_RECORDS: list[tuple[tuple[Any, ...], str]] = [
    (rec(s.STR, id=1, text="poke"), "'poke'"),
    (rec(s.THREADSAFE, t=T0 + 400 * MS, loop=1, thread=77, what=1),
     "Thread 77 put the callback poke in the ready queue of loop 1 with call_soon_threadsafe."),
    (rec(s.OUTPUT, t=T0 + 400 * MS, stream=1, text="shop open\nmore\n"),
     "The program printed 'shop open…' on stdout."),
    (rec(s.OUTPUT, t=T0 + 401 * MS, stream=2, text="oops\n"), "printed 'oops' to stderr"),
    (rec(s.DROPPED, t=T0 + 401 * MS, batches=3), "left out 3 batches"),
    (rec(s.STACK, t=T0 + 402 * MS, loop=1, stuck_ns=200 * MS, task=0, name="",
         detail="/a/asyncio/events.py:80 in Handle._run\n/p/prog.py:9 in main\n"
         "/p/prog.py:5 in crunch"),
     "The watchdog saw loop 1 stuck in one callback at /p/prog.py:5 in crunch"),
    (rec(s.ANSWER, t=T0 + 403 * MS, text="asked Task-3 worker() to cancel"),
     "The program answered the viewer: asked Task-3 worker() to cancel."),
    (rec(s.NOTE, t=T0 + 404 * MS, text="recording stopped: disk full at 12.4 MB"),
     "loopviz: recording stopped: disk full at 12.4 MB."),
    (rec(s.EXIT, t=T0 + 600 * MS, status=-9, detail=""), "The program was killed by SIGKILL."),
    (rec(s.EXIT, t=T0 + 600 * MS, status=1, detail=TRACEBACK),
     "The program exited with status 1: ValueError: bad input."),
]  # fmt: skip


@pytest.fixture(scope="module")
def shop() -> Model:
    model = Model()
    feed(model, 1, [record for record, _ in LOOP_RECORDS])
    feed(model, 2, [record for record, _ in OUTSIDE_RECORDS])
    feed(model, 0, [record for record, _ in PROCESS_RECORDS])
    return model


def test_the_hand_made_records_cover_every_kind():
    kinds = {record[0] for record, _ in LOOP_RECORDS + OUTSIDE_RECORDS + PROCESS_RECORDS}
    assert kinds == set(s.FIELDS)


@pytest.mark.parametrize(
    ("source", "record", "words"),
    [(1, *case) for case in LOOP_RECORDS]
    + [(2, *case) for case in OUTSIDE_RECORDS]
    + [(0, *case) for case in PROCESS_RECORDS],
    ids=lambda value: s.Kind(value[0]).name if isinstance(value, tuple) else None,
)
def test_every_kind_gets_its_own_sentence(shop, source, record, words):
    said = sentence(shop, source, record)
    assert words in said
    assert said != plain(record) and said.endswith(".")


def test_a_resumed_record_says_how_far_the_clock_is_behind():
    said = sentence(Model(), 1, rec(s.RESUMED, t=T0, lag_ns=2_000 * MS))
    if "lag_ns" in s.FIELDS[s.RESUMED]:
        assert "is now 2.00 s behind the real one" in said


def test_durations_have_units():
    assert [duration(n) for n in (0, 999, 45_300, 120_000, 12_340_000, 500 * MS, -5)] == [
        "0 ns", "999 ns", "45.3 µs", "0.12 ms", "12.34 ms", "0.50 s", "0 ns",
    ]  # fmt: skip


def test_select_timeouts_are_said_with_their_reason():
    model = Model()
    top = rec(s.PAUSED, t=T0, point=s.POINT_TOP, timeout_ns=500 * MS, why=s.WHY_TIMER)
    assert "waits in select for up to 0.50 s: the next timer is due then" in sentence(model, 1, top)
    forever = rec(s.PAUSED, t=T0, point=s.POINT_TOP, timeout_ns=-1, why=s.WHY_NOTHING)
    assert "waits in select until I/O arrives" in sentence(model, 1, forever)
    idle = sentence(model, 1, rec(s.IDLE, t=T0, timeout_ns=-1))
    assert idle == "The loop has nothing to run: it waits in select until I/O arrives."
    stop = rec(s.PAUSED, t=T0, point=s.POINT_TOP, timeout_ns=0, why=s.WHY_STOPPING)
    assert "no wait: loop.stop() was called" in sentence(model, 1, stop)


def test_a_strange_record_gets_plainer_words_never_an_error(shop):
    unknown_task = rec(s.STEP_WAIT, t=T0, task=999, qlen=0, wait=77, ref=5, site=4242, chain=1)
    assert sentence(shop, 1, unknown_task).startswith("A task ran and now waits on something")
    assert sentence(shop, 1, rec(s.TASK_GONE, t=T0, task=12345)).startswith("A task was")
    assert sentence(shop, 7, rec(s.CALLBACK, t=T0, qlen=0, what=3)) == (
        "A callback ran; the ready queue is now empty."  # loop 7 and its strings: unknown
    )
    assert sentence(shop, 1, (99, 1, 2)) == plain((99, 1, 2))
    for kind, names in s.FIELDS.items():
        for junk in (-1, 2**70, "x", None):
            said = sentence(shop, 1, (kind, *[junk] * len(names)))
            assert isinstance(said, str) and said
        assert sentence(shop, 1, (kind,))  # cut short


# -- every record of a recorded program -------------------------------------------------------


async def nap() -> None:
    await asyncio.sleep(0.02)


async def reader(sock: socket.socket) -> bytes:
    return await asyncio.get_running_loop().sock_recv(sock, 100)


async def flaky() -> None:
    raise ValueError("bad input")


async def forever() -> None:
    await asyncio.sleep(3600)


async def producer(queue: asyncio.Queue[int]) -> None:
    for i in range(3):
        await queue.put(i)


async def consumer(queue: asyncio.Queue[int]) -> None:
    for _ in range(3):
        await queue.get()


async def program() -> None:
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    with a, b:
        read = asyncio.create_task(reader(a), name="reader")
        napper = asyncio.create_task(nap(), name="napper")
        failing = asyncio.create_task(flaky(), name="flaky")
        waiting = asyncio.create_task(forever(), name="forever")
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        await asyncio.gather(producer(queue), consumer(queue))
        await napper
        visualizer.mark("napped")
        threading.Thread(target=lambda: (time.sleep(0.01), b.send(b"hi"))).start()
        await read
        loop.call_soon(print, "skipped").cancel()
        loop.call_later(10, print, "never").cancel()
        done = threading.Event()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(done.set)).start()
        while not done.is_set():
            await asyncio.sleep(0.001)
        loop.call_exception_handler({"message": "a problem reported by hand"})
        waiting.cancel()
        await asyncio.gather(failing, waiting, return_exceptions=True)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Model, list[tuple[int, tuple[Any, ...]]]]:
    path = tmp_path_factory.mktemp("narrate") / "program.lvtrace"
    with visualizer.record(str(path)), asyncio.Runner(loop_factory=visualizer.loop_factory) as r:
        r.run(program())
    batches = read_trace(str(path)).batches
    all_records = [(batch[0], record) for batch in batches for record in records(batch)]
    return Model.load(path), all_records


def test_every_record_of_a_real_trace_gets_its_own_sentence(recorded):
    model, all_records = recorded
    seen = set()
    for source, record in all_records:
        said = sentence(model, source, record)
        assert said and said != plain(record), record
        seen.add(record[0])
    # the program did all of these: a test that saw fewer would prove little
    assert seen >= {
        s.STR, s.LOOP_OPEN, s.RUN_BEGIN, s.SELECT, s.IO_EVENT, s.TIMER_DUE, s.READY,
        s.CALLBACK, s.SKIP, s.STEP_WAIT, s.STEP_DONE, s.TASK_NEW, s.TASK_CANCEL, s.TIMER_ADD,
        s.TIMER_CANCEL, s.IO_ADD, s.IO_REMOVE, s.THREADSAFE, s.EXCEPTION, s.MARK, s.IDLE,
        s.RUN_END, s.LOOP_CLOSE,
    }  # fmt: skip


def _named(model: Model, name: str):
    return next(task for task in model.tasks if task.name == name)


def _said(recorded, kind: int, **where: Any) -> list[str]:
    """The sentences of one kind's records whose fields match `where`."""
    model, all_records = recorded
    out = []
    for source, record in all_records:
        if record[0] != kind:
            continue
        fields = dict(zip((n.rstrip("$") for n in s.FIELDS[kind]), record[1:], strict=False))
        if all(fields.get(key) == value for key, value in where.items()):
            out.append(sentence(model, source, record))
    return out


def _said_of(recorded, kind: int, task: Any) -> list[str]:
    """The sentences of one kind's records about `task`: those naming its id that tell of it
    (a collected task's id is soon another's: 3.15 reuses them more)."""
    return [said for said in _said(recorded, kind, task=task.ident) if said.startswith(task.label)]


def test_a_sleep_and_its_timer_are_told(recorded):
    model, _ = recorded
    napper = _named(model, "napper")
    timer = napper.steps[0].ref
    assert napper.steps[0].wait == s.WAIT_SLEEP
    (waits,) = _said(recorded, s.STEP_WAIT, task=napper.ident, wait=s.WAIT_SLEEP)
    assert re.fullmatch(
        rf"napper nap\(\) ran for [\d.]+ (ns|µs|ms) and now waits on a sleep \(timer #{timer}\) "
        r"at test_narrate\.py:\d+\.",
        waits,
    )
    (added,) = _said(recorded, s.TIMER_ADD, timer=timer)
    assert re.fullmatch(rf"Timer #{timer} is set to end a sleep in (19|20)\.\d\d ms\.", added)
    assert _said(recorded, s.TIMER_DUE, timer=timer) == [
        f"Timer #{timer} is due: it wakes napper nap() from its sleep."
    ]
    main = model.tasks[0]
    awaits = _said(recorded, s.STEP_WAIT, task=main.ident, wait=s.WAIT_TASK)
    assert any("now waits for napper nap() to finish" in said for said in awaits)


def test_a_socket_read_is_told(recorded):
    model, _ = recorded
    task = _named(model, "reader")
    fd = task.steps[0].ref
    assert task.steps[0].wait == s.WAIT_IO_READ and fd > 0
    (waits,) = _said(recorded, s.STEP_WAIT, task=task.ident)
    assert "ran for" in waits and f"now waits for fd {fd} to be readable" in waits
    assert any(f"The loop now watches fd {fd} for reading" in x for x in _said(recorded, s.IO_ADD))
    assert _said(recorded, s.IO_EVENT, fd=fd) == [
        f"The OS reports fd {fd} readable: the callback watching it goes in the ready queue."
    ]
    assert any("1 fd became ready" in said for said in _said(recorded, s.SELECT, events=1))
    (done,) = _said_of(recorded, s.STEP_DONE, task)
    assert done.startswith("reader reader() ran for ") and done.endswith(" and finished.")


def test_a_failure_and_a_cancellation_are_told(recorded):
    model, _ = recorded
    failing, waiting, main = _named(model, "flaky"), _named(model, "forever"), model.tasks[0]
    (failed,) = _said_of(recorded, s.STEP_DONE, failing)
    assert failed.startswith("flaky flaky() ran for ")
    assert failed.endswith(" and failed with ValueError: bad input.")
    assert _said_of(recorded, s.TASK_CANCEL, waiting) == [
        f"forever forever() was asked to cancel (by {main.label}): its next step gets "
        "CancelledError where it waits."
    ]
    (cancelled,) = _said_of(recorded, s.STEP_DONE, waiting)
    assert cancelled.endswith(" and was cancelled.")
    (handled,) = _said(recorded, s.EXCEPTION)
    assert handled.startswith("The loop's exception handler was called")
    assert "a problem reported by hand" in handled
    assert _said(recorded, s.MARK) == [f"The program marked 'napped' (in {main.label})."]


# -- the story of a hold, by hand -------------------------------------------------------------

STORY_STRINGS = [
    rec(s.STR, id=1, text="produce"), rec(s.STR, id=2, text="consume"),
    rec(s.STR, id=3, text="tick"), rec(s.STR, id=4, text="/src/shop.py:12 in produce"),
    rec(s.STR, id=5, text="/src/shop.py:20 in consume"), rec(s.STR, id=6, text="step"),
    rec(s.STR, id=7, text="wakeup"), rec(s.STR, id=8, text="/src/shop.py:30 in tick"),
]  # fmt: skip


def _shop_held(queued: list[tuple[Any, ...]]) -> tuple[Model, list[tuple[Any, ...]]]:
    """A producer that put into a queue a consumer waits on, a ticker that yielded, and a
    stepper holding the loop after the producer's step with `queued` as its ready queue."""
    recent = [
        *STORY_STRINGS,
        rec(s.TASK_NEW, t=T0, task=2, name="Task-2", coro=1, site=4),
        rec(s.TASK_NEW, t=T0, task=3, name="Task-3", coro=2, site=5),
        rec(s.TASK_NEW, t=T0, task=4, name="Task-4", coro=3, site=8),
        rec(s.SELECT, t=T0 + MS, timeout_ns=0, t_end=T0 + MS, qlen=3),
        rec(s.READY, t=T0 + MS, qlen_io=3, ntodo=3),
        rec(s.STEP_WAIT, t=T0 + 2 * MS, task=3, qlen=2, wait=s.WAIT_QUEUE_GET, site=5, chain=5),
        rec(s.STEP_YIELD, t=T0 + 3 * MS, task=4, qlen=2),
        rec(s.STEP_WAIT, t=T0 + 3 * MS + 120_000, task=2, qlen=2, wait=s.WAIT_QUEUE_PUT, site=4,
            chain=4),
        rec(s.PAUSED, t=T0 + 4 * MS, point=s.POINT_TOP, timeout_ns=0, why=s.WHY_READY,
            queued=len(queued)),
        *queued,
    ]  # fmt: skip
    model = Model()
    feed(model, 1, recent)
    return model, recent


def test_the_story_says_who_ran_whom_it_woke_and_where_that_task_is():
    model, recent = _shop_held(
        [rec(s.QUEUED, task=4, what=6, where=8), rec(s.QUEUED, task=3, what=7, where=5)]
    )
    assert story(model, 1, recent) == (
        "Task-2 produce() ran for 0.12 ms: it put an item in the queue and woke Task-3 "
        "consume() (its Queue.get got an item), which is now in the ready queue behind 1 "
        "callback. Task-2 produce() itself now waits on Queue.put. Next the loop checks for "
        "I/O in select with no wait: 2 callbacks are ready."
    )


def test_the_story_says_less_when_the_two_queues_do_not_line_up():
    model, recent = _shop_held([rec(s.QUEUED, task=3, what=7, where=5)])  # one left out
    assert story(model, 1, recent) == (
        "Task-2 produce() ran for 0.12 ms and now waits on Queue.put. Next the loop checks for "
        "I/O in select with no wait: 1 callback is ready."
    )


def test_the_story_leaves_out_what_the_same_task_queued_in_an_earlier_step():
    recent = [
        *STORY_STRINGS,
        rec(s.STR, id=9, text="wait_for_it"),
        rec(s.TASK_NEW, t=T0, task=3, name="Task-3", coro=2, site=5),
        rec(s.TASK_NEW, t=T0, task=4, name="Task-4", coro=9, site=8),
        rec(s.TASK_NEW, t=T0, task=2, name="Task-2", coro=1, site=4),
        rec(s.SELECT, t=T0 + MS, timeout_ns=0, t_end=T0 + MS, qlen=3),
        rec(s.READY, t=T0 + MS, qlen_io=3, ntodo=3),
        rec(s.STEP_WAIT, t=T0 + 2 * MS, task=3, qlen=2, wait=s.WAIT_QUEUE_GET, site=5, chain=5),
        rec(s.STEP_WAIT, t=T0 + 3 * MS, task=4, qlen=1, wait=s.WAIT_EVENT, site=8, chain=8),
        # the producer sets the event (waking Task-4) and yields: two entries of its own
        rec(s.STEP_YIELD, t=T0 + 4 * MS, task=2, qlen=2),
        rec(s.SELECT, t=T0 + 4 * MS, timeout_ns=0, t_end=T0 + 4 * MS, qlen=2),
        rec(s.READY, t=T0 + 4 * MS, qlen_io=2, ntodo=2),
        rec(s.STEP_WAIT, t=T0 + 5 * MS, task=2, qlen=2, wait=s.WAIT_QUEUE_PUT, site=4, chain=4),
        rec(s.PAUSED, t=T0 + 6 * MS, point=s.POINT_TOP, why=s.WHY_READY, queued=2),
        rec(s.QUEUED, task=4, what=7, where=8),  # queued by the producer's step before
        rec(s.QUEUED, task=3, what=7, where=5),
    ]  # fmt: skip
    model = Model()
    feed(model, 1, recent)
    said = story(model, 1, recent)
    assert said.startswith(
        "Task-2 produce() ran for 1.00 ms: it put an item in the queue and woke Task-3 "
        "consume() (its Queue.get got an item), which is now in the ready queue behind 1 "
        "callback."
    )
    assert "Task-4" not in said and "event" not in said


def test_the_story_at_a_handle_says_which_callback_comes_next():
    model, recent = _shop_held([])
    feed(model, 1, [
        rec(s.RESUMED, t=T0 + 4 * MS),
        rec(s.SELECT, t=T0 + 4 * MS, timeout_ns=0, t_end=T0 + 4 * MS, qlen=2),
        rec(s.READY, t=T0 + 4 * MS, qlen_io=2, ntodo=2),
        rec(s.STEP_YIELD, t=T0 + 5 * MS, task=4, qlen=2),
        rec(s.PAUSED, t=T0 + 5 * MS, point=s.POINT_HANDLE, k=2, n=2, timeout_ns=-1, queued=2),
        rec(s.QUEUED, task=2, what=7, where=4),  # the producer's wakeup: it goes first
        rec(s.QUEUED, task=4, what=6, where=8),
    ])  # fmt: skip
    recent = [rec(s.STEP_YIELD, t=T0 + 5 * MS, task=4, qlen=2),
              rec(s.PAUSED, t=T0 + 5 * MS, point=s.POINT_HANDLE, k=2, n=2, queued=2)]  # fmt: skip
    assert sentence(model, 1, recent[-1]) == (
        "The stepper holds the loop before callback 2 of 2: wake Task-2 produce() at shop.py:12."
    )
    assert story(model, 1, recent) == (
        "Task-4 tick() ran for 1.00 ms and yielded: it is back in the ready queue behind 1 "
        "callback. Next comes callback 2 of 2: wake Task-2 produce() at shop.py:12."
    )


def test_the_story_of_a_loop_not_held_or_not_known_never_fails():
    model, recent = _shop_held([])
    feed(model, 1, [rec(s.RESUMED, t=T0 + 4 * MS)])
    assert story(model, 1, recent[:-1]) == sentence(model, 1, recent[-2])
    assert story(model, 1, []) == "The loop is not held by the stepper."
    assert story(model, 9, [(99, "junk")]) == plain((99, "junk"))
    model, recent = _shop_held([])
    assert story(model, 1, [(s.STEP_WAIT, "junk")]).startswith("The stepper holds the loop")


# -- the story of a program held by the stepper -----------------------------------------------

QUEUE_PROGRAM = """
import asyncio

async def producer(q):
    for i in range(3):
        await q.put(i)

async def consumer(q):
    for i in range(3):
        await q.get()

async def ticker():
    for i in range(6):
        await asyncio.sleep(0)

async def nap():
    await asyncio.sleep(0.01)

async def main():
    q = asyncio.Queue(maxsize=1)
    await asyncio.gather(consumer(q), ticker(), producer(q))
    await asyncio.create_task(nap())

asyncio.run(main())
"""


def _stories(tmp_path: Path, steps: int) -> list[tuple[str, Model]]:
    """The story at each of the program's first holds, with the model it was told from."""
    out = []
    with stepped(tmp_path, QUEUE_PROGRAM) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        for _ in range(steps):
            model = Model.load(trace)
            out.append((story(model, 1, loop_records(trace)), model))
            command(program, trace, "step")
        program.send("continue")
        wait_for(lambda: program.poll() is not None, "the program to end")
    return out


def _behind(model: Model, task) -> str:
    """Where `task` waits in the held loop's ready queue, as the stepper listed it."""
    held = model.loops[1].held
    place = next(i for i, queued in enumerate(held.queue) if queued.task == task.index)
    return (
        "which runs next"
        if place == 0
        else (f"which is now in the ready queue behind {place} callback{'s' * (place > 1)}")
    )


def test_a_stepped_producer_and_consumer_are_told_as_they_wake_each_other(tmp_path):
    stories = _stories(tmp_path, 16)
    put = [(said, model) for said, model in stories if "put an item in the queue" in said]
    took = [(said, model) for said, model in stories if "took an item from the queue" in said]
    assert put and took, [said for said, _ in stories]
    for said, model in put:
        producer = next(task for task in model.tasks if task.coro == "producer")
        consumer = next(task for task in model.tasks if task.coro == "consumer")
        assert said.startswith(f"{producer.label} ran for ")
        assert (
            f"it put an item in the queue and woke {consumer.label} (its Queue.get got an "
            f"item), {_behind(model, consumer)}"
        ) in said
    assert any(f"{producer.label} itself now waits on Queue.put." in said for said, _ in put)
    # the ticker's yield sits between them: the woken consumer is behind it, not next
    assert any("behind 1 callback" in said for said, _ in put)
    for said, model in took:
        producer = next(task for task in model.tasks if task.coro == "producer")
        assert f"and woke {producer.label} (its Queue.put found room)" in said
    first = stories[1][0]
    assert re.search(r" main\(\) ran for [0-9.]+ [µm]?s: it created ", first), first
    assert "(runs next)" in first
    timer = [said for said, _ in stories if "sleep timer" in said]
    assert not timer or re.search(r"woke Task-\d+ nap\(\) \(its sleep is over\)", timer[0])


def test_a_stepped_sleep_is_told_when_its_timer_wakes_the_task(tmp_path):
    stories = [said for said, _ in _stories(tmp_path, 26)]
    timer = [said for said in stories if "sleep timer" in said]
    assert timer, stories
    assert re.match(
        r"The callback of sleep timer #\d+ ran and woke Task-\d+ nap\(\) \(its sleep is over\), "
        r"which runs next\. Next the loop",
        timer[0],
    )
    before = stories[stories.index(timer[0]) - 1]
    assert "waits in select for up to " in before and "the next timer is due then" in before

"""`loopviz export`: Perfetto trace-event JSON, and the records as JSON / JSON lines."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import visualizer
from tests.conftest import requires_eager
from visualizer import RecordingEventLoop
from visualizer.export import default_output, write
from visualizer.model import UNRECORDED, Activity, Model
from visualizer.trace import schema as s
from visualizer.trace.format import encode_batch, encode_header
from visualizer.trace.reader import Trace, read_stream, records

LOOPVIZ = [sys.executable, "-m", "visualizer"]


# -- making traces ------------------------------------------------------------------------------


def recorded(main: Callable[[], Coroutine[Any, Any, Any]], **run_kwargs: Any) -> Trace:
    """Run `main()` under the recorder; return the trace it wrote."""
    with visualizer.record() as recording:
        asyncio.run(main(), **run_kwargs)
    return read_stream(io.BytesIO(recording.data()), "test trace")


def trace_bytes(*batches: list[Any], meta: dict[str, Any] | None = None) -> bytes:
    return encode_header(meta or {"pid": 42}) + b"".join(map(encode_batch, batches))


def handmade(*batches: list[Any]) -> Trace:
    return read_stream(io.BytesIO(trace_bytes(*batches)), "handmade")


def batch(source: int, *recs: tuple[Any, ...]) -> list[Any]:
    return [source, *[field for record in recs for field in record]]


def exported(trace: Trace, fmt: str) -> bytes:
    out = io.BytesIO()
    write(trace, fmt, out)
    return out.getvalue()


def perfetto(trace: Trace) -> dict[str, Any]:
    doc = json.loads(exported(trace, "perfetto"))
    check_perfetto(doc)
    return doc


# -- what every perfetto export must hold ----------------------------------------------------------


def ns(us: float) -> int:
    """A trace-event time back in nanoseconds (as Perfetto reads it)."""
    return round(us * 1000)


def slices_by_track(events: list[dict[str, Any]]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    tracks: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            tracks[e["pid"], e["tid"]].append((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])))
    return tracks


def check_perfetto(doc: dict[str, Any]) -> None:
    """The structure ui.perfetto.dev and chrome://tracing need, checked on any export."""
    assert isinstance(doc["displayTimeUnit"], str)
    events = doc["traceEvents"]
    timed = [e for e in events if e["ph"] != "M"]
    assert all(e["ts"] >= 0 for e in timed)
    assert all(e["dur"] >= 0 for e in events if e["ph"] == "X")
    # slices on one track come one after another, in the order the file gives them
    tracks = slices_by_track(events)
    for track, spans in tracks.items():
        assert spans == sorted(spans), track
        for (_, end), (begin, _) in zip(spans, spans[1:], strict=False):
            assert end <= begin, f"overlapping slices on {track}"
    # every flow has both ends, and each end lies inside a slice of its own track
    flows: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in events:
        if e["ph"] in ("s", "f"):
            assert e["ph"] not in flows[e["id"]], f"flow {e['id']} has two {e['ph']} events"
            flows[e["id"]][e["ph"]] = e
    for flow_id, ends in flows.items():
        assert set(ends) == {"s", "f"}, f"flow {flow_id} is missing an end"
        assert ends["f"]["bp"] == "e"
        for e in ends.values():
            t = ns(e["ts"])
            spans = tracks[e["pid"], e["tid"]]
            assert any(begin <= t < end for begin, end in spans), f"flow {flow_id} is unbound"
    # names for every process and track; a tid names one track in the whole file, never 0
    processes = {e["pid"] for e in events if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]) for e in events if e["name"] == "thread_name"}
    for e in timed:
        assert e["pid"] in processes and (e["pid"], e["tid"]) in threads, e
    pids_of_tid: dict[int, set[int]] = defaultdict(set)
    for e in events:
        pids_of_tid[e["tid"]].add(e["pid"])
    assert 0 not in pids_of_tid
    assert all(len(pids) == 1 for pids in pids_of_tid.values()), pids_of_tid


def thread_names(doc: dict[str, Any]) -> dict[int, str]:
    return {
        e["tid"]: e["args"]["name"]
        for e in doc["traceEvents"]
        if e["ph"] == "M" and e["name"] == "thread_name"
    }


def of(doc: dict[str, Any], ph: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in doc["traceEvents"]
        if e["ph"] == ph and all(e.get(k) == v for k, v in match.items())
    ]


# -- perfetto: real programs --------------------------------------------------------------------


async def producer(queue: asyncio.Queue[int]) -> None:
    for item in range(6):
        await queue.put(item)
    visualizer.mark("all queued")


async def consumer(queue: asyncio.Queue[int]) -> None:
    while True:
        await queue.get()
        await asyncio.sleep(0.001)
        queue.task_done()


async def producer_consumer() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    consumers = [asyncio.create_task(consumer(queue), name=f"consumer-{n}") for n in (1, 2)]
    await asyncio.create_task(producer(queue), name="producer")
    await queue.join()
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


def test_perfetto_export_of_a_real_program_loads_and_holds_together():
    doc = perfetto(recorded(producer_consumer))
    assert of(doc, "X", cat="step") and of(doc, "s") and of(doc, "C")


def test_every_task_gets_a_named_track_and_every_loop_a_named_process():
    trace = recorded(producer_consumer)
    model = Model.from_trace(trace)
    doc = perfetto(trace)
    names = set(thread_names(doc).values())
    assert {task.label for task in model.tasks} <= names
    assert "loop" in names and "callbacks" in names
    assert "producer producer()" in names
    (process,) = [e for e in of(doc, "M", name="process_name") if e["pid"] == 1]
    assert process["args"]["name"] == "loop 1 (MainThread)"


def test_a_step_slice_is_named_after_its_coroutine_and_says_what_it_waits_on():
    doc = perfetto(recorded(producer_consumer))
    tids = {name: tid for tid, name in thread_names(doc).items()}
    steps = of(doc, "X", tid=tids["consumer-1 consumer()"])
    assert {e["name"] for e in steps} == {"consumer"}
    waits = {e["args"]["waits_on"] for e in steps}
    assert {"Queue.get", "sleep"} <= waits
    assert all(e["args"]["site"].endswith("in consumer") for e in steps if "site" in e["args"])
    assert any(e["args"]["woken_by"] == "producer producer()" for e in steps)
    assert steps[-1]["args"]["outcome"] == "cancelled"


def test_producer_and_consumers_are_joined_by_wakeup_arrows():
    doc = perfetto(recorded(producer_consumer))
    names = thread_names(doc)
    starts = {e["id"]: names[e["tid"]] for e in of(doc, "s")}
    arrows = {(starts[e["id"]], names[e["tid"]]) for e in of(doc, "f")}
    producer = "producer producer()"
    consumers = {"consumer-1 consumer()", "consumer-2 consumer()"}
    assert any(src == producer and dst in consumers for src, dst in arrows), arrows
    assert any(src in consumers and dst == producer for src, dst in arrows), arrows
    assert all(src != dst for src, dst in arrows)  # a task's own yields draw no arrow


def test_counters_follow_the_ready_queue_and_the_tasks_alive():
    doc = perfetto(recorded(producer_consumer))
    ready = of(doc, "C", name="ready queue")
    alive = of(doc, "C", name="tasks")
    assert ready and alive
    assert max(e["args"]["handles"] for e in ready) >= 1
    values = [e["args"]["alive"] for e in sorted(alive, key=lambda e: e["ts"])]
    assert max(values) >= 4  # main, producer and two consumers at once
    assert values[-1] == 0  # asyncio.run leaves none behind


def test_loop_track_shows_select_waits_and_busy_stretches_in_turn():
    doc = perfetto(recorded(producer_consumer))
    loop_tid = next(tid for tid, name in thread_names(doc).items() if name == "loop")
    slices = sorted(of(doc, "X", tid=loop_tid), key=lambda e: e["ts"])
    assert {e["name"] for e in slices} == {"select", "busy"}
    assert any(e["name"] == "select" and e["dur"] >= 500 for e in slices)  # the 1 ms sleeps
    assert all(e["args"]["handles"] >= 1 for e in slices if e["name"] == "busy")


def test_marks_are_instants_on_the_program_track():
    doc = perfetto(recorded(producer_consumer))
    (mark,) = of(doc, "i", cat="mark")
    assert mark["name"] == "all queued" and mark["args"]["task"] == "producer producer()"
    assert thread_names(doc)[mark["tid"]] == "program"


def test_times_start_near_zero():
    doc = perfetto(recorded(producer_consumer))
    first = min(e["ts"] for e in doc["traceEvents"] if e["ph"] != "M")
    assert 0 <= first < 100_000  # µs: the loop opens before its first event
    assert int(doc["otherData"]["t0_ns"]) > 0


def test_callbacks_get_their_own_track():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_later(0.001, done.set_result, None)
        await done

    doc = perfetto(recorded(main))
    callbacks_tid = next(tid for tid, name in thread_names(doc).items() if name == "callbacks")
    assert any("set_result" in e["name"] for e in of(doc, "X", tid=callbacks_tid))


def test_each_loop_is_a_process_and_tracks_stay_apart():
    async def spin() -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    def run_one() -> None:
        loop = RecordingEventLoop()
        try:
            loop.run_until_complete(spin())
        finally:
            loop.close()

    with visualizer.record() as recording:
        threads = [threading.Thread(target=run_one, name=f"worker-{n}") for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    doc = perfetto(read_stream(io.BytesIO(recording.data()), "threads"))
    processes = {e["pid"]: e["args"]["name"] for e in of(doc, "M", name="process_name")}
    loops = sorted(name for name in processes.values() if name.startswith("loop "))
    assert [name.split(" (")[1] for name in loops] == ["worker-0)", "worker-1)", "worker-2)"]
    step_pids = {e["pid"] for e in of(doc, "X", cat="step")}
    assert len(step_pids) == 3


@requires_eager
def test_eager_tasks_export_cleanly():
    async def child(n: int) -> int:
        await asyncio.sleep(0)
        return n

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        await asyncio.gather(*(asyncio.create_task(child(n)) for n in range(5)))

    doc = perfetto(recorded(main))
    eager = [e for e in of(doc, "X", cat="step") if e["args"]["woken_by"].startswith("nobody")]
    assert len(eager) >= 5


# -- perfetto: a hand-made record stream, where every number is known ---------------------------

STRINGS = (
    (s.STR, 1, "main"), (s.STR, 2, "app.py:3 in <module>"), (s.STR, 3, "child"),
    (s.STR, 4, "app.py:9 in main"), (s.STR, 5, "cb"), (s.STR, 6, "MainThread"),
)  # fmt: skip
MAIN_AND_CHILD = batch(
    1,
    *STRINGS,
    (s.LOOP_OPEN, 100, 0, 7, 6, 0),
    (s.TASK_NEW, 100, 1, "Task-1", 1, 2, 0, 0),
    (s.SELECT, 110, 0, 111, 0, 1),
    (s.READY, 112, 1, 1, 0),
    (s.TASK_NEW, 115, 2, "Task-2", 3, 4, 1, 0),  # main creates child...
    (s.STEP_WAIT, 120, 1, 1, s.WAIT_TASK, 2, 4, 4),  # ...and waits for it
    (s.SELECT, 121, 5_000_000, 122, 0, 1),
    (s.READY, 123, 1, 1, 0),
    (s.STEP_DONE, 130, 2, 1, s.OUTCOME_OK, 0),  # child ends, waking main
    (s.SELECT, 131, -1, 132, 1, 1),
    (s.READY, 133, 1, 1, 0),
    (s.STEP_DONE, 140, 1, 0, s.OUTCOME_OK, 0),
)


def test_step_slices_are_exact():
    doc = perfetto(handmade(MAIN_AND_CHILD))
    names = thread_names(doc)
    steps = [(names[e["tid"]], ns(e["ts"]), ns(e["dur"])) for e in of(doc, "X", cat="step")]
    # microseconds from the first record (t=100)
    assert sorted(steps, key=lambda step: step[1]) == [
        ("Task-1 main()", 12, 8), ("Task-2 child()", 23, 7), ("Task-1 main()", 33, 7),
    ]  # fmt: skip
    first, _, last = sorted(of(doc, "X", cat="step"), key=lambda e: e["ts"])
    assert first["args"] == {
        "task": "Task-1 main()",
        "waits_on": "task",
        "waits_for": "Task-2 child()",
        "site": "app.py:9 in main",
        "await_chain": "app.py:9 in main",
        "woken_by": "outside the loop",
        "scheduled_delay_us": 0.012,
    }
    assert last["args"]["outcome"] == "finished"
    assert last["args"]["woken_by"] == "Task-2 child()"


def test_flows_leave_the_waking_step_just_before_it_ends_and_enter_the_woken_one():
    doc = perfetto(handmade(MAIN_AND_CHILD))
    names = thread_names(doc)
    flows = sorted((e["id"], e["ph"], names[e["tid"]], ns(e["ts"])) for e in of(doc, "s"))
    flows += sorted((e["id"], e["ph"], names[e["tid"]], ns(e["ts"])) for e in of(doc, "f"))
    assert sorted(flows) == [
        (1, "f", "Task-1 main()", 34), (1, "s", "Task-2 child()", 29),
        (2, "f", "Task-2 child()", 24), (2, "s", "Task-1 main()", 19),
    ]  # fmt: skip


def test_loop_track_and_counters_are_exact():
    doc = perfetto(handmade(MAIN_AND_CHILD))
    loop = [(e["name"], ns(e["ts"]), ns(e["dur"]), e["args"]) for e in of(doc, "X", cat="loop")]
    assert loop == [
        ("select", 10, 1, {"timeout": "0 ms", "events": 0}),
        ("busy", 12, 8, {"handles": 1}),
        ("select", 21, 1, {"timeout": "5 ms", "events": 0}),
        ("busy", 23, 7, {"handles": 1}),
        ("select", 31, 1, {"timeout": "until I/O", "events": 1}),
        ("busy", 33, 7, {"handles": 1}),
    ]
    ready = [(ns(e["ts"]), e["args"]["handles"]) for e in of(doc, "C", name="ready queue")]
    assert ready == [(11, 1), (40, 0)]  # a sample only when the length changes
    alive = [(ns(e["ts"]), e["args"]["alive"]) for e in of(doc, "C", name="tasks")]
    assert alive == [(0, 1), (15, 2), (30, 1), (40, 0)]


def test_a_callback_that_creates_an_eager_task_spans_the_whole_handle():
    trace = handmade(
        batch(
            1,
            *STRINGS,
            (s.SELECT, 100, 0, 101, 0, 1),
            (s.READY, 102, 1, 1, 0),
            (s.EAGER_BEGIN, 105),
            (s.TASK_NEW, 110, 1, "Task-1", 1, 2, 0, 1),
            (s.STEP_YIELD, 110, 1, 1),  # the eager first step, inside the callback
            (s.CALLBACK, 120, 1, 5),
        )
    )
    doc = perfetto(trace)
    (callback,) = of(doc, "X", tid=2)
    assert (callback["name"], ns(callback["ts"]), ns(callback["dur"])) == ("cb", 2, 18)
    (step,) = of(doc, "X", cat="step")
    assert (ns(step["ts"]), ns(step["dur"])) == (5, 5)
    (busy,) = of(doc, "X", name="busy")
    assert (ns(busy["ts"]), ns(busy["dur"]), busy["args"]) == (2, 18, {"handles": 1})


def test_output_errors_marks_and_exit_are_instants_on_the_program_track():
    trace = handmade(
        MAIN_AND_CHILD,
        batch(
            0,
            (s.STR, 1, "checkpoint"),
            (s.STR, 2, "Task exception was never retrieved"),
            (s.STR, 3, "Traceback ..."),
            (s.OUTPUT, 125, 1, "hello\nworld\n"),
            (s.OUTPUT, 126, 2, "oops\n"),
            (s.MARK, 127, 1, 0, 1),
            (s.EXCEPTION, 128, 1, 0, 2, 3),
            (s.EXIT, 141, 3, ""),
        ),
    )
    doc = perfetto(trace)
    instants = [(e["cat"], e["name"], ns(e["ts"])) for e in of(doc, "i")]
    assert instants == [
        ("mark", "checkpoint", 27),
        ("error", "loop error: Task exception was never retrieved", 28),
        ("output", "stdout: hello", 25),
        ("output", "stderr: oops", 26),
        ("exit", "exit 3", 41),
    ]
    assert of(doc, "i", cat="output")[0]["args"] == {"stream": "stdout", "text": "hello\nworld\n"}
    assert of(doc, "i", cat="error")[0]["args"]["detail"] == "Traceback ..."
    program = {e["tid"] for e in of(doc, "i")}
    assert [thread_names(doc)[tid] for tid in program] == ["program"]
    (process,) = [e for e in of(doc, "M", name="process_name") if e["tid"] in program]
    assert process["args"]["name"] == "program (pid 42)"


def test_an_empty_trace_exports_an_empty_timeline():
    doc = perfetto(handmade())
    assert not [e for e in doc["traceEvents"] if e["ph"] != "M"]


# -- perfetto: a loop recorded from outside (uvloop kept) -----------------------------------------

OUTSIDE_STRINGS = (
    (s.STR, 1, "main"), (s.STR, 2, "app.py:3 in <module>"), (s.STR, 3, "ring"),
    (s.STR, 4, "MainThread"), (s.STR, 5, "Loop"), (s.STR, 6, "uvloop.Loop"),
)  # fmt: skip
# main queues a timer and waits; the timer's callback `ring` wakes it 30 ns after main's step
# ended; every qlen is -1 (not known) and each handle's begin comes in its HANDLE_BEGIN.
MAIN_AND_TIMER_FROM_OUTSIDE = batch(
    1,
    *OUTSIDE_STRINGS,
    (s.LOOP_OPEN, 100, 0, 7, 4, 5),
    (s.LOOP_OUTSIDE, 100, 6),
    (s.TASK_NEW, 100, 1, "Task-1", 1, 2, 0, 0),
    (s.RUN_BEGIN, 105, 7, 4),
    (s.HANDLE_BEGIN, 110, 101, s.BY_OUTSIDE, 0, 0, 0, 0),
    (s.TIMER_ADD, 112, 1, 150, 3),
    (s.STEP_WAIT, 120, 1, -1, s.WAIT_FUTURE, 0, 0, 0),
    (s.HANDLE_BEGIN, 150, 150, s.BY_TIMER, 1, 3, 0, 0),
    (s.TIMER_DUE, 1),
    (s.CALLBACK, 155, -1, 3),
    (s.HANDLE_BEGIN, 160, 155, s.BY_CALLBACK, 0, 3, s.BY_TIMER, 1),
    (s.STEP_DONE, 170, 1, -1, s.OUTCOME_OK, 0),
    (s.RUN_END, 175),
    (s.LOOP_CLOSE, 180),
)
NOT_RECORDED = f"{UNRECORDED}: iterations, select, I/O, ready queue"


def test_a_loop_recorded_from_outside_exports_its_handles_where_they_began():
    doc = perfetto(handmade(MAIN_AND_TIMER_FROM_OUTSIDE))
    steps = [(ns(e["ts"]), ns(e["dur"])) for e in of(doc, "X", cat="step")]
    assert steps == [(10, 10), (60, 10)]
    callbacks = [(e["name"], ns(e["ts"]), ns(e["dur"]), e["args"]) for e in of(doc, "X", tid=2)]
    assert callbacks == [("ring", 50, 5, {})]  # from its HANDLE_BEGIN, not main's end (20)


def test_a_loop_recorded_from_outside_has_no_ready_queue_or_loop_slices_and_says_so():
    doc = perfetto(handmade(MAIN_AND_TIMER_FROM_OUTSIDE))
    assert not of(doc, "C", name="ready queue")
    assert not of(doc, "X", cat="loop", tid=1)  # no select waits, no iterations
    (note,) = of(doc, "i", tid=1)
    assert (note["name"], ns(note["ts"]), note["args"]) == (
        NOT_RECORDED, 0, {"recorded_from_outside": "uvloop.Loop"},
    )  # fmt: skip
    (process,) = [e for e in of(doc, "M", name="process_name") if e["pid"] == 1]
    assert process["args"]["name"] == "loop 1 (MainThread, uvloop.Loop recorded from outside)"
    assert doc["otherData"]["loop_1"] == f"uvloop.Loop recorded from outside; {NOT_RECORDED}"


# A callback queued at once, a timer's callback that comes after the loop was idle, and sleeps.
UVLOOP_PROGRAM = """
    import asyncio
    import uvloop

    def ring(future):
        future.set_result("rang")

    async def nap(seconds):
        await asyncio.sleep(seconds)
        return seconds

    async def main():
        loop = asyncio.get_running_loop()
        rang = loop.create_future()
        loop.call_later(0.01, ring, rang)
        loop.call_soon(print, "soon")
        print(await asyncio.gather(nap(0.005), nap(0.002)), await rang)

    uvloop.run(main())
"""


@pytest.fixture(scope="module")
def kept_uvloop(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    """UVLOOP_PROGRAM recorded by ``loopviz record --keep-uvloop``."""
    pytest.importorskip("uvloop")
    tmp_path = tmp_path_factory.mktemp("kept_uvloop")
    (tmp_path / "prog.py").write_text(textwrap.dedent(UVLOOP_PROGRAM))
    trace = tmp_path / "prog.lvtrace"
    result = _run("record", "-q", "--keep-uvloop", "-o", str(trace), "prog.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return read_stream(io.BytesIO(trace.read_bytes()), "kept uvloop")


def test_kept_uvloop_step_slices_are_the_models_steps(kept_uvloop: Trace):
    model = Model.from_trace(kept_uvloop)
    assert next(iter(model.loops.values())).outside == "uvloop.Loop"
    doc = perfetto(kept_uvloop)
    tids = {name: tid for tid, name in thread_names(doc).items()}
    t0 = model.start or 0
    for task in model.tasks:
        slices = [(ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]))
                  for e in of(doc, "X", cat="step", tid=tids[task.label])]  # fmt: skip
        assert slices == [(step.begin - t0, step.end - t0) for step in task.steps], task.label


def test_kept_uvloop_callbacks_and_steps_span_the_handles_the_model_saw(kept_uvloop: Trace):
    model = Model.from_trace(kept_uvloop)
    ((source, loop),) = model.loops.items()
    doc = perfetto(kept_uvloop)
    t0 = model.start or 0
    series = loop.series
    spans = zip(series.begin, series.end, series.kind, strict=True)
    handles = [(begin - t0, end - t0) for begin, end, kind in spans if kind == Activity.HANDLES]
    callbacks = of(doc, "X", pid=source, cat="loop")
    assert {e["name"] for e in callbacks} >= {"ring", "print"}
    exported = sorted((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]))
                      for e in callbacks + of(doc, "X", pid=source, cat="step"))  # fmt: skip
    assert exported == handles


def test_kept_uvloop_export_writes_no_unknown_number(kept_uvloop: Trace):
    doc = perfetto(kept_uvloop)
    counters = of(doc, "C")
    assert {e["name"] for e in counters} == {"tasks"}  # no ready queue
    assert all(value >= 0 for e in counters for value in e["args"].values())
    assert not [e for e in of(doc, "X", cat="loop") if "qlen_after" in e["args"]]
    (note,) = of(doc, "i", cat="loop")
    assert note["name"] == NOT_RECORDED


# -- json and jsonl ------------------------------------------------------------------------------


def record_count(trace: Trace) -> int:
    return sum(len(records(b)) for b in trace.batches)


def schema_keys(kind: int) -> set[str]:
    fields = {name.rstrip("$") for name in s.FIELDS[kind]}
    if "loop" in fields:
        fields = fields - {"loop"} | {"on_loop"}
    return {"loop", "kind"} | fields


def test_json_holds_every_record_with_the_schema_field_names():
    trace = recorded(producer_consumer)
    doc = json.loads(exported(trace, "json"))
    assert doc["header"]["format"] == s.FORMAT_VERSION
    assert doc["header"]["pid"] == trace.header.meta["pid"]
    objects = doc["records"]
    assert len(objects) == record_count(trace)
    for obj in objects:
        assert set(obj) == schema_keys(s.Kind[obj["kind"]]), obj
    new = [obj for obj in objects if obj["kind"] == "TASK_NEW"]
    assert {obj["coro"] for obj in new} >= {"producer_consumer", "producer", "consumer"}
    assert all(isinstance(obj["site"], str) for obj in new)


def test_jsonl_is_the_header_then_one_record_per_line():
    trace = recorded(producer_consumer)
    lines = exported(trace, "jsonl").decode().splitlines()
    header, *objects = map(json.loads, lines)
    assert header == {"header": json.loads(exported(trace, "json"))["header"]}
    assert len(objects) == record_count(trace)
    assert objects == json.loads(exported(trace, "json"))["records"]


def test_json_resolves_string_ids_with_each_sources_own_strings():
    trace = handmade(
        batch(1, (s.STR, 1, "first"), (s.TIMER_ADD, 10, 1, 99, 1)),
        batch(2, (s.STR, 1, "second"), (s.TIMER_ADD, 11, 1, 99, 1), (s.IO_ADD, 12, 5, 1, 7)),
        batch(0, (s.STR, 1, "cb"), (s.THREADSAFE, 13, 2, 555, 1)),
    )
    objects = json.loads(exported(trace, "json"))["records"]
    assert objects[1] == {
        "loop": 1, "kind": "TIMER_ADD", "t": 10, "timer": 1, "when_ns": 99, "what": "first",
    }  # fmt: skip
    assert objects[3]["what"] == "second"
    assert objects[4]["what"] == "<string 7?>"  # never defined: said, not hidden
    assert objects[6] == {
        "loop": 0, "kind": "THREADSAFE", "t": 13, "on_loop": 2, "thread": 555, "what": "cb",
    }  # fmt: skip


def test_json_of_a_damaged_batch_is_a_one_line_trace_error():
    from visualizer.trace.reader import TraceError

    trace = handmade([1, s.SELECT, 1, 2])  # a SELECT cut short
    with pytest.raises(TraceError, match="needs 5 fields"):
        exported(trace, "jsonl")


# -- the command line ----------------------------------------------------------------------------

PROGRAM = """
    import asyncio
    import visualizer

    async def worker(n):
        await asyncio.sleep(0.001)
        print("worker", n, "done")

    async def main():
        visualizer.mark("start")
        await asyncio.gather(*(worker(n) for n in range(3)))

    asyncio.run(main())
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOOPVIZ, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def program_trace(tmp_path: Path) -> Path:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(PROGRAM))
    trace = tmp_path / "prog.lvtrace"
    result = _run("record", "-q", "-o", str(trace), str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return trace


def test_cli_exports_jsonl_to_stdout(program_trace: Path):
    result = _run("export", str(program_trace), "--format", "jsonl", cwd=program_trace.parent)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    header, *objects = map(json.loads, result.stdout.splitlines())
    assert header["header"]["argv"] == [str(program_trace.parent / "prog.py")]
    trace = read_stream(io.BytesIO(program_trace.read_bytes()), "prog")
    assert len(objects) == record_count(trace)
    output = "".join(obj["text"] for obj in objects if obj["kind"] == "OUTPUT")
    assert sorted(output.splitlines()) == [f"worker {n} done" for n in range(3)]


def test_cli_writes_perfetto_next_to_the_trace_by_default(program_trace: Path):
    result = _run("export", str(program_trace), cwd=program_trace.parent)
    assert result.returncode == 0, result.stderr
    out = program_trace.parent / "prog.perfetto.json"
    assert result.stderr.strip() == f"loopviz: perfetto export written to {out}"
    doc = json.loads(out.read_text())
    check_perfetto(doc)
    assert {e["name"] for e in of(doc, "i", cat="mark")} == {"start"}
    assert len(of(doc, "i", cat="output")) >= 1
    assert of(doc, "i", cat="exit")[0]["args"]["status"] == 0
    assert not list(program_trace.parent.glob("*.partial"))


def test_cli_writes_json_to_the_file_given(program_trace: Path):
    out = program_trace.parent / "records.json"
    result = _run("export", str(program_trace), "-f", "json", "-o", str(out), cwd=out.parent)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["records"]


def test_cli_exports_what_a_truncated_trace_holds_and_says_so(program_trace: Path):
    cut = program_trace.parent / "cut.lvtrace"
    cut.write_bytes(program_trace.read_bytes()[:-3])
    result = _run("export", str(cut), "-f", "jsonl", cwd=cut.parent)
    assert result.returncode == 0
    assert len(result.stderr.splitlines()) == 1 and "was cut short" in result.stderr
    assert len(result.stdout.splitlines()) > 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x89PNG\r\n\x1a\n....", "is not a loopviz trace"), (None, "cannot open")],
)
def test_cli_bad_file_is_one_line_and_exit_1(tmp_path: Path, content: bytes | None, message: str):
    bad = tmp_path / "bad.lvtrace"
    if content is not None:
        bad.write_bytes(content)
    result = _run("export", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "bad.perfetto.json").exists()


def test_cli_corrupt_batch_leaves_no_output_file(tmp_path: Path):
    bad = tmp_path / "bad.lvtrace"
    bad.write_bytes(trace_bytes([1, s.SELECT, 1, 2]))
    result = _run("export", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "corrupt" in result.stderr
    assert list(tmp_path.iterdir()) == [bad]


def test_cli_will_not_overwrite_the_trace(program_trace: Path):
    before = program_trace.read_bytes()
    result = _run("export", str(program_trace), "-o", str(program_trace), cwd=program_trace.parent)
    assert result.returncode == 2
    assert "is the trace itself" in result.stderr
    assert program_trace.read_bytes() == before


def test_default_outputs():
    assert default_output("runs/app.lvtrace", "perfetto") == "runs/app.perfetto.json"
    assert default_output("app.trace", "perfetto") == "app.trace.perfetto.json"
    assert default_output("app.lvtrace", "json") == "-"
    assert default_output("app.lvtrace", "jsonl") == "-"

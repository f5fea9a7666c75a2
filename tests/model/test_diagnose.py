"""The warning rules find real asyncio bugs in real recordings, and only those.

Each rule gets a small program that has the bug (recorded for real: in-process where the
conftest helpers can, through `loopviz record` in a fresh interpreter where the bug shows only
on the program's stderr) and a near-miss that must not fire it. Every example must come out
clean except the two written to show a bug, which must show exactly that one. Then
`loopviz check` on the command line: exit status, rule selection, thresholds and JSON.

Thresholds are lowered through `Settings` to keep the programs short, except for loop-blocked,
which is tested at its default of 100 ms (a 150 ms block fires it, a 50 ms one does not).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import visualizer
from tests.conftest import ROOT, record_run, replay_bytes
from visualizer.model import Model
from visualizer.model.diagnose import RULE_NAMES, Finding, Settings, diagnose
from visualizer.trace import schema

MS = 1_000_000
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(path.stem for path in EXAMPLES_DIR.glob("*.py"))
# The examples written to show a bug, and the one rule each must fire (and no other).
BUGGY_EXAMPLES = {"blocking_call": "loop-blocked", "forgotten_task": "never-retrieved"}
TIMEOUT = 60


def findings_of(
    main: Callable[[], Coroutine[Any, Any, Any]], settings: Settings | None = None
) -> tuple[Model, list[Finding]]:
    # The programs collect garbage inside a step on purpose: with pytest's whole heap frozen
    # out of the collector's sight, that takes a few ms, not the 100-300 ms a big test process
    # takes, which loop-blocked rightly reports as a block.
    gc.collect()
    gc.freeze()
    try:
        _, model = record_run(main)
    finally:
        gc.unfreeze()
    return model, diagnose(model, settings)


def rules(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


def names(model: Model, finding: Finding) -> list[str]:
    return [model.tasks[index].name for index in finding.tasks]


def only(findings: list[Finding], rule: str) -> Finding:
    """The one finding of the program, which must be of `rule`."""
    assert rules(findings) == [rule], [(f.rule, f.sentence) for f in findings]
    return findings[0]


def named(model: Model, name: str):
    (task,) = [task for task in model.tasks if task.name == name]
    return task


def _spawn(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """subprocess.run, tried twice on EFAULT (seen once spawning from a thread on 3.12.1,
    before the child ran: see tests/e2e/test_examples.py)."""
    for attempt in range(2):
        try:
            return subprocess.run(
                command,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                stdin=subprocess.DEVNULL,
                **kwargs,
            )
        except OSError as exc:
            if exc.errno != errno.EFAULT or attempt:
                raise
    raise AssertionError("unreachable")


def record_program(script: Path) -> tuple[subprocess.CompletedProcess[str], Model]:
    """`loopviz record` the script in a fresh interpreter; the run and its model."""
    trace = script.with_suffix(".lvtrace")
    command = [sys.executable, "-m", "visualizer", "record", "-q", "-o", str(trace), str(script)]
    result = _spawn(command)
    assert trace.exists(), f"{script.name}: no trace\n{result.stderr}"
    return result, Model.load(trace)


def write_program(tmp_path: Path, name: str, source: str) -> Path:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    return script


# -- loop-blocked (default threshold: 100 ms) ---------------------------------------------------


async def _blocking_step(seconds: float) -> None:
    async def blocker() -> None:
        await asyncio.sleep(0.001)  # a real wait: the trace knows where the task went on from
        time.sleep(seconds)  # blocks the loop in the task's second step

    await asyncio.create_task(blocker(), name="blocker")


async def _blocking_callback(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def slow() -> None:
        time.sleep(seconds)
        done.set_result(None)

    loop.call_soon(slow)
    await done


def test_loop_blocked_names_the_task_whose_step_took_150_ms() -> None:
    model, findings = findings_of(lambda: _blocking_step(0.15))
    finding = only(findings, "loop-blocked")
    assert names(model, finding) == ["blocker"]
    assert finding.severity == "warning" and finding.loop in model.loops
    assert finding.until is not None and finding.until - finding.t >= 150 * MS
    assert finding.sentence.startswith(f"{named(model, 'blocker').label} held loop ")
    # where: the line it went on from, or where a stack sampler saw it stuck
    assert re.search(r"\btest_diagnose\.py:\d+ in _blocking_step\.", finding.sentence)
    assert "no other task, callback or I/O could run" in finding.sentence
    assert "to_thread" in finding.fix


def test_loop_blocked_by_a_callback_names_no_task() -> None:
    model, findings = findings_of(lambda: _blocking_callback(0.15))
    finding = only(findings, "loop-blocked")
    assert finding.tasks == ()
    assert finding.sentence.startswith("A callback held loop ")
    assert finding.until is not None and finding.until - finding.t >= 150 * MS


def test_loop_blocked_does_not_fire_for_50_ms() -> None:
    model, findings = findings_of(lambda: _blocking_callback(0.05))
    (loop,) = model.loops.values()
    assert loop.longest_handle >= 45 * MS  # the recorder saw the callback...
    assert findings == []  # ...and 50 ms is under the 100 ms threshold
    model, findings = findings_of(lambda: _blocking_step(0.05))
    assert named(model, "blocker").longest_step >= 45 * MS
    assert findings == []


def test_loop_blocked_threshold_comes_from_the_settings() -> None:
    model, findings = findings_of(lambda: _blocking_step(0.05), Settings(block_ms=30))
    assert names(model, only(findings, "loop-blocked")) == ["blocker"]


# -- never-retrieved -----------------------------------------------------------------------------


async def _boom() -> None:
    await asyncio.sleep(0)
    raise ValueError("boom")


async def forgets_a_failing_task() -> None:
    asyncio.create_task(_boom(), name="doomed")  # no reference kept, never awaited
    await asyncio.sleep(0.01)
    gc.collect()
    await asyncio.sleep(0)


async def awaits_a_failing_task() -> None:
    task = asyncio.create_task(_boom(), name="doomed")
    await asyncio.sleep(0.01)
    gc.collect()
    try:
        await task
    except ValueError:
        pass


async def reads_the_exception_in_a_callback() -> None:
    seen: list[BaseException | None] = []
    task = asyncio.create_task(_boom(), name="doomed")
    task.add_done_callback(lambda done: seen.append(done.exception()))
    del task
    await asyncio.sleep(0.01)
    gc.collect()
    await asyncio.sleep(0)
    assert isinstance(seen[0], ValueError)


def test_never_retrieved_names_the_failed_task_and_its_exception() -> None:
    model, findings = findings_of(forgets_a_failing_task)
    finding = only(findings, "never-retrieved")
    assert names(model, finding) == ["doomed"]
    assert finding.severity == "error"
    assert "failed with ValueError: boom" in finding.sentence
    assert "nobody awaited it" in finding.sentence and "garbage-collected" in finding.sentence


@pytest.mark.parametrize("main", [awaits_a_failing_task, reads_the_exception_in_a_callback])
def test_never_retrieved_does_not_fire_when_the_exception_is_retrieved(main) -> None:
    model, findings = findings_of(main)
    assert named(model, "doomed").outcome == schema.OUTCOME_FAILED  # it did fail
    assert findings == []


# -- destroyed-pending ---------------------------------------------------------------------------


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()  # never done


async def _short() -> None:
    await asyncio.sleep(0.005)


async def drops_a_pending_task() -> None:
    asyncio.create_task(_forever(), name="lost")  # no reference kept
    await asyncio.sleep(0.01)
    gc.collect()  # a pending task is in a cycle with its future: only the GC frees it
    await asyncio.sleep(0)


async def keeps_tasks_in_a_set() -> None:
    tasks: set[asyncio.Task[None]] = set()
    for n in range(3):
        task = asyncio.create_task(_short(), name=f"kept-{n}")
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    del task
    gc.collect()  # while they are pending: the set keeps them
    await asyncio.sleep(0.02)
    gc.collect()
    assert not tasks


def test_destroyed_pending_fires_when_a_pending_task_is_collected() -> None:
    model, findings = findings_of(drops_a_pending_task)
    (finding,) = [f for f in findings if f.rule == "destroyed-pending"]
    assert rules(findings) == ["destroyed-pending"]  # not also pending at shutdown: it was gone
    assert finding.severity == "error"
    assert "garbage-collected before it finished" in finding.sentence
    assert "nothing kept a reference to it" in finding.sentence
    assert "add_done_callback(tasks.discard)" in finding.fix
    assert named(model, "lost").gone is not None


def test_destroyed_pending_names_the_task() -> None:
    # the collector clears the recorder's weak reference before Task.__del__ reports the task
    model, findings = findings_of(drops_a_pending_task)
    (finding,) = [f for f in findings if f.rule == "destroyed-pending"]
    assert names(model, finding) == ["lost"]
    assert finding.sentence.startswith(named(model, "lost").label)


def test_a_destroyed_task_is_not_also_pending_at_shutdown() -> None:
    _, findings = findings_of(drops_a_pending_task)
    assert rules(findings) == ["destroyed-pending"]


def test_destroyed_pending_does_not_fire_for_tasks_kept_in_a_set() -> None:
    model, findings = findings_of(keeps_tasks_in_a_set)
    kept = [task for task in model.tasks if task.name.startswith("kept-")]
    assert len(kept) == 3 and all(task.outcome == schema.OUTCOME_OK for task in kept)
    assert findings == []


# -- pending-at-shutdown -------------------------------------------------------------------------


async def leaves_tasks_running() -> None:
    keep = [asyncio.create_task(_forever(), name=f"straggler-{n}") for n in (1, 2)]
    finished = asyncio.create_task(_short(), name="finished")
    await asyncio.sleep(0.02)
    assert finished.done() and not any(task.done() for task in keep)


async def cancels_and_awaits() -> None:
    tasks = [asyncio.create_task(_forever(), name=f"worker-{n}") for n in (1, 2)]
    await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def cancels_without_awaiting() -> None:
    task = asyncio.create_task(_forever(), name="worker")
    await asyncio.sleep(0.01)
    task.cancel()  # it ends only after main() returns, at its next step


async def uses_a_task_group() -> None:
    async with asyncio.TaskGroup() as group:
        for n in (1, 2):
            group.create_task(_short(), name=f"member-{n}")


def test_pending_at_shutdown_names_the_tasks_asyncio_run_cancelled() -> None:
    model, findings = findings_of(leaves_tasks_running)
    finding = only(findings, "pending-at-shutdown")
    assert names(model, finding) == ["straggler-1", "straggler-2"]  # not "finished"
    assert finding.sentence.startswith("2 tasks were still pending when main() returned")
    assert "asyncio.run cancelled 2 of them" in finding.sentence
    main = named(model, "finished").parent
    assert main is not None and finding.t == model.tasks[main].ended


def test_pending_at_shutdown_when_the_loop_is_closed_without_asyncio_run() -> None:
    async def main() -> None:
        asyncio.create_task(_forever(), name="orphan")
        await asyncio.sleep(0.01)

    with visualizer.record() as recording:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
    model = replay_bytes(recording.data())
    finding = only(diagnose(model), "pending-at-shutdown")
    assert names(model, finding) == ["orphan"]
    assert finding.sentence.startswith("1 task was still pending when main() returned: orphan")
    assert "they never finished" in finding.sentence  # nobody cancelled it


@pytest.mark.parametrize("main", [cancels_and_awaits, cancels_without_awaiting, uses_a_task_group])
def test_pending_at_shutdown_does_not_fire_for_tasks_the_program_stopped(main) -> None:
    model, findings = findings_of(main)
    children = [task for task in model.tasks if task.parent is not None]
    assert children and all(task.outcome is not None for task in children)
    assert findings == []


# -- never-awaited (a fresh interpreter: Python prints the RuntimeWarning to stderr) -------------

NEVER_AWAITED = """\
    import asyncio


    async def fetch():
        await asyncio.sleep(0)


    async def main():
        {call}
        await asyncio.sleep(0.01)
        {after}


    asyncio.run(main())
"""


def test_never_awaited_names_the_coroutine_and_where_it_was_called(tmp_path: Path) -> None:
    source = NEVER_AWAITED.format(call="fetch()", after="")
    run, model = record_program(write_program(tmp_path, "forgets", source))
    assert run.returncode == 0 and "was never awaited" in run.stderr
    finding = only(diagnose(model), "never-awaited")
    assert finding.tasks == () and finding.severity == "error"
    assert finding.sentence.startswith("The coroutine fetch() was created but never awaited")
    assert f"(at {tmp_path / 'forgets.py'}:9)" in finding.sentence
    assert "its code never ran" in finding.sentence


def test_never_awaited_does_not_fire_for_an_awaited_coroutine(tmp_path: Path) -> None:
    source = NEVER_AWAITED.format(call="coro = fetch()", after="await coro")
    run, model = record_program(write_program(tmp_path, "awaits", source))
    assert run.returncode == 0 and run.stderr == ""
    assert model.tasks and model.exit_status == 0
    assert diagnose(model) == []


# -- long-delay ----------------------------------------------------------------------------------


async def _hog_and_late(seconds: float, *late_names: str) -> None:
    """A task that blocks the loop for `seconds` while the tasks `late_names` (default: one,
    "late") wait in the ready queue."""

    async def hog() -> None:
        await asyncio.sleep(0)
        time.sleep(seconds)  # the late ones became ready just before this step

    async def late() -> None:
        await asyncio.sleep(0)

    tasks = [asyncio.create_task(hog(), name="hog")]
    tasks += [asyncio.create_task(late(), name=name) for name in late_names or ("late",)]
    await asyncio.gather(*tasks)


def test_long_delay_names_the_task_kept_waiting_in_the_ready_queue() -> None:
    model, findings = findings_of(lambda: _hog_and_late(0.06), Settings(delay_ms=30))
    finding = only(findings, "long-delay")
    assert names(model, finding) == ["late"]
    assert finding.until is not None and finding.until - finding.t >= 60 * MS
    assert finding.sentence.startswith(f"{named(model, 'late').label} was ready but waited ")
    assert "the loop was busy elsewhere" in finding.sentence


def test_long_delay_does_not_fire_for_a_short_wait() -> None:
    model, findings = findings_of(lambda: _hog_and_late(0.02))
    assert named(model, "late").scheduled_delay >= 15 * MS  # it did wait, but not 100 ms
    assert findings == []


def test_long_delay_of_many_tasks_on_one_loop_is_one_finding_naming_them_all() -> None:
    many = [f"late-{n}" for n in range(12)]
    model, findings = findings_of(lambda: _hog_and_late(0.06, *many), Settings(delay_ms=30))
    finding = only(findings, "long-delay")
    assert sorted(names(model, finding)) == sorted(many)
    assert finding.sentence.startswith("12 tasks on loop 1 waited 30")
    assert "the worst, " in finding.sentence


def test_long_delay_of_a_few_tasks_names_each() -> None:
    few = ["late-0", "late-1", "late-2"]
    model, findings = findings_of(lambda: _hog_and_late(0.06, *few), Settings(delay_ms=30))
    late = [f for f in findings if f.rule == "long-delay"]
    assert sorted(name for f in late for name in names(model, f)) == few
    assert all(len(f.tasks) == 1 for f in late)


# -- busy-self-wake ------------------------------------------------------------------------------


async def _spin(yields: int, every: int = 0) -> None:
    async def spinner() -> None:
        for n in range(1, yields + 1):
            await asyncio.sleep(0)
            if every and n % every == 0:
                await asyncio.sleep(0.001)  # a real wait breaks the run of yields

    await asyncio.create_task(spinner(), name="spinner")


SPIN = Settings(spin_ms=0.01)  # 100 yields in a row, however fast


def test_busy_self_wake_names_the_spinning_task() -> None:
    model, findings = findings_of(lambda: _spin(200), SPIN)
    finding = only(findings, "busy-self-wake")
    assert names(model, finding) == ["spinner"]
    assert finding.sentence.startswith(f"{named(model, 'spinner').label} yielded 200 times")
    assert "without waiting on anything: it spins" in finding.sentence


@pytest.mark.parametrize(
    ("yields", "every", "settings"),
    [(50, 0, SPIN), (150, 50, SPIN), (200, 0, Settings())],
    ids=["50-yields", "runs-of-50", "200-fast-yields-under-100-ms"],
)
def test_busy_self_wake_does_not_fire(yields: int, every: int, settings: Settings) -> None:
    model, findings = findings_of(lambda: _spin(yields, every), settings)
    assert len(named(model, "spinner").steps) > yields  # every yield was a step
    assert findings == []


# -- never-yielded -------------------------------------------------------------------------------


async def _slow_start(first: float, second: float = 0) -> None:
    async def starter() -> None:
        time.sleep(first)
        await asyncio.sleep(0)
        time.sleep(second)

    await asyncio.create_task(starter(), name="starter")


def test_never_yielded_names_the_task_with_a_long_first_step() -> None:
    model, findings = findings_of(lambda: _slow_start(0.06), Settings(first_step_ms=40))
    finding = only(findings, "never-yielded")
    assert names(model, finding) == ["starter"]
    assert finding.until is not None and finding.until - finding.t >= 60 * MS
    assert finding.sentence.startswith(f"{named(model, 'starter').label} ran ")
    assert "from its start before it first awaited" in finding.sentence


def test_never_yielded_does_not_fire_for_a_20_ms_first_step() -> None:
    model, findings = findings_of(lambda: _slow_start(0.02))
    assert named(model, "starter").longest_step >= 18 * MS
    assert findings == []


def test_never_yielded_looks_only_at_the_first_step() -> None:
    settings = Settings(first_step_ms=40)
    model, findings = findings_of(lambda: _slow_start(0, second=0.06), settings)
    assert named(model, "starter").longest_step >= 60 * MS
    assert findings == []


# -- the examples: clean, except the two that show a bug ----------------------------------------


def _record_example(name: str, out: Path) -> tuple[subprocess.CompletedProcess[str], Model]:
    trace = out / f"{name}.lvtrace"
    command = [sys.executable, "-m", "visualizer", "record", "-q", "-o", str(trace)]
    result = _spawn([*command, str(EXAMPLES_DIR / f"{name}.py")])
    assert trace.exists(), f"{name}: no trace\n{result.stderr}"
    return result, Model.load(trace)


@pytest.fixture(scope="module")
def example_runs(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[dict[str, Future]]:
    """Record the examples this session tests, four at a time, as test_examples.py does."""
    wanted = {
        item.callspec.params["example"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_example_gets_no_false_warning"
        and item.module is request.module
    } or set(EXAMPLES)
    out = tmp_path_factory.mktemp("examples")
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield {name: pool.submit(_record_example, name, out) for name in sorted(wanted)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_gets_no_false_warning(example: str, example_runs) -> None:
    run, model = example_runs[example].result()
    assert run.returncode == 0, run.stderr
    assert model.tasks and model.exit_status == 0 and not model.truncated
    findings = diagnose(model)
    described = [(f.rule, f.sentence) for f in findings]
    if example not in BUGGY_EXAMPLES:
        assert findings == [], described
        return
    finding = only(findings, BUGGY_EXAMPLES[example])
    (task,) = [model.tasks[index] for index in finding.tasks]
    if example == "blocking_call":
        assert task.coro == "main" and finding.until - finding.t >= 450 * MS
        assert re.search(r"\bblocking_call\.py:\d+ in with_ticker\b", finding.sentence)
    else:
        assert task.name == "send-report"
        assert "ConnectionError: mail server unreachable" in finding.sentence


def test_the_buggy_examples_still_exist() -> None:
    assert set(BUGGY_EXAMPLES) <= set(EXAMPLES) and len(EXAMPLES) >= 13


# -- loopviz check -------------------------------------------------------------------------------


async def blocks_and_leaves_a_task() -> None:
    asyncio.create_task(_forever(), name="straggler")
    await asyncio.sleep(0)
    time.sleep(0.15)  # 150 ms: over the default 100 ms, under 200 ms


async def clean() -> None:
    await asyncio.gather(*(asyncio.create_task(_short(), name=f"nap-{n}") for n in range(3)))


def _record_to(path: Path, main: Callable[[], Coroutine[Any, Any, Any]]) -> Path:
    with visualizer.record(path):
        asyncio.run(main())
    return path


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("check")
    return {
        "buggy": _record_to(out / "buggy.lvtrace", blocks_and_leaves_a_task),
        "clean": _record_to(out / "clean.lvtrace", clean),
    }


def loopviz_check(trace: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return _spawn([sys.executable, "-m", "visualizer", "check", *options, str(trace)])


def fired(output: str) -> set[str]:
    """The rules a text report names at the start of a warning's line."""
    return {rule for rule in RULE_NAMES for line in output.splitlines()
            if line.lstrip().startswith(f"{rule} at ")}  # fmt: skip


def test_check_exits_1_and_names_the_rules_that_fired(traces) -> None:
    result = loopviz_check(traces["buggy"])
    assert result.returncode == 1, result.stderr
    assert fired(result.stdout) == {"loop-blocked", "pending-at-shutdown"}
    assert "2 warnings" in result.stdout and "straggler" in result.stdout


def test_check_exits_0_on_a_clean_trace(traces) -> None:
    result = loopviz_check(traces["clean"])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == "no warnings"


def test_check_disable_turns_rules_off(traces) -> None:
    result = loopviz_check(traces["buggy"], "--disable", "loop-blocked")
    assert result.returncode == 1 and fired(result.stdout) == {"pending-at-shutdown"}
    for options in (
        ["--disable", "loop-blocked", "--disable", "pending-at-shutdown"],
        ["--disable", "loop-blocked,pending-at-shutdown"],
    ):
        result = loopviz_check(traces["buggy"], *options)
        assert result.returncode == 0 and result.stdout.strip() == "no warnings", options


def test_check_only_runs_the_rules_named(traces) -> None:
    result = loopviz_check(traces["buggy"], "--only", "loop-blocked")
    assert result.returncode == 1 and fired(result.stdout) == {"loop-blocked"}
    result = loopviz_check(traces["buggy"], "--only", "never-awaited,long-delay")
    assert result.returncode == 0 and result.stdout.strip() == "no warnings"


def test_check_json_is_a_list_of_the_findings(traces) -> None:
    result = loopviz_check(traces["buggy"], "--json")
    assert result.returncode == 1
    found = json.loads(result.stdout)
    assert isinstance(found, list)
    assert [f["rule"] for f in found] == ["loop-blocked", "pending-at-shutdown"]  # time order
    model = Model.load(traces["buggy"])
    blocked, pending = found
    assert blocked["until_s"] - blocked["t_s"] >= 0.15
    assert [model.tasks[index].name for index in pending["tasks"]] == ["straggler"]
    assert "still pending when main() returned" in pending["message"] and pending["fix"]
    result = loopviz_check(traces["clean"], "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_check_max_block_ms_raises_the_threshold(traces) -> None:
    result = loopviz_check(traces["buggy"], "--only", "loop-blocked", "--max-block-ms", "200")
    assert result.returncode == 0 and result.stdout.strip() == "no warnings"
    result = loopviz_check(traces["buggy"], "--only", "loop-blocked", "--max-block-ms", "120")
    assert result.returncode == 1 and fired(result.stdout) == {"loop-blocked"}


@pytest.mark.parametrize("option", ["--disable", "--only"])
def test_check_rejects_an_unknown_rule_in_one_line(traces, option: str) -> None:
    result = loopviz_check(traces["buggy"], option, "loop-blocked,no-such-rule")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("loopviz: error: no rule no-such-rule") and "loop-blocked" in line


def _shutdown_trace(ticker_requests: int, ticker_ends_in_main_run: bool) -> Model:
    """main ends at 10 ms and its run of the loop at 11 ms; a ticker, woken by its own timer,
    ends cancelled after main, and asyncio.run's clean-up run follows."""
    from tests.tui.scenes import MS as ms
    from tests.tui.scenes import T0, _Loop

    loop = _Loop()
    loop.add(schema.LOOP_OPEN, T0, 0, 1, loop.sid("MainThread"), loop.sid("RecordingEventLoop"))
    loop.task(T0, 1, "Task-1", "main", "x.py:9 in <module>", 0)
    loop.task(T0, 2, "ticker", "ticker", "x.py:5 in main", 1)
    loop.add(schema.SELECT, T0 + ms, 0, T0 + ms, 0, 2)
    loop.add(schema.READY, T0 + ms, 2, 2, 0)
    loop.add(schema.STEP_WAIT, T0 + 2 * ms, 1, 1, schema.WAIT_SLEEP, 0, loop.sid("x.py:6"), 0)
    loop.add(schema.STEP_WAIT, T0 + 3 * ms, 2, 0, schema.WAIT_SLEEP, 0, loop.sid("x.py:2"), 0)
    loop.add(schema.SELECT, T0 + 4 * ms, 0, T0 + 9 * ms, 0, 2)  # both timers due
    loop.add(schema.READY, T0 + 9 * ms, 2, 2, 0)
    loop.add(schema.STEP_DONE, T0 + 10 * ms, 1, 1, schema.OUTCOME_OK, 0)  # main cancels it
    ends = T0 + (10 * ms + 500 if ticker_ends_in_main_run else 12 * ms)
    if not ticker_ends_in_main_run:
        loop.add(schema.RUN_END, T0 + 11 * ms)
        loop.add(schema.RUN_BEGIN, T0 + 12 * ms - 1, 1, loop.sid("MainThread"))
    loop.add(schema.TASK_CANCEL, ends, 2, ticker_requests)
    loop.add(schema.STEP_DONE, ends, 2, 0, schema.OUTCOME_CANCELLED, 0)
    loop.add(schema.RUN_END, ends + 1)
    loop.add(schema.LOOP_CLOSE, ends + 2)
    model = Model()
    model.feed(loop.batch())
    return model


def test_pending_at_shutdown_counts_what_asyncio_run_had_to_cancel_alone() -> None:
    # the ticker's step was queued by its timer: who asked for the cancel is not known
    assert rules(diagnose(_shutdown_trace(1, False))) == ["pending-at-shutdown"]
    # two cancel() calls pending at once: asyncio.run's, and the program's own
    assert diagnose(_shutdown_trace(2, False)) == []
    # it ended in main's own run of the loop, after main: asyncio.run never had it
    assert diagnose(_shutdown_trace(1, True)) == []

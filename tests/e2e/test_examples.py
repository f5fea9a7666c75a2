"""Every program in examples/ runs under the recorder and shows what its docstring promises.

The examples are recorded in subprocesses, a few at a time in parallel, by one module-scoped
fixture; each test waits for its own recording. Timing checks are loose (the suite runs on
loaded machines), except the one that finds the blocking call, which is half a second long.
"""

from __future__ import annotations

import ast
import errno
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from visualizer.model import Model, Origin, Scheduled, State, Task
from visualizer.trace import schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(path.stem for path in EXAMPLES_DIR.glob("*.py"))
SECOND = 1_000_000_000  # trace times are nanoseconds
TIMEOUT = 60  # per example; each one runs for about a second
RUN_TEST = "test_example_runs_and_shows_what_it_teaches"


@dataclass
class Run:
    name: str
    returncode: int
    stdout: str
    stderr: str
    model: Model

    def task(self, name: str) -> Task:
        matches = [task for task in self.model.tasks if task.name == name]
        assert matches, f"{self.name}: no task {name!r} in {[t.name for t in self.model.tasks]}"
        return matches[-1]

    def tasks(self, coro: str) -> list[Task]:
        return [task for task in self.model.tasks if task.coro == coro]

    @property
    def main(self) -> Task:
        (task,) = self.tasks("main")
        return task


def _record(name: str, out: Path) -> Run:
    trace = out / f"{name}.lvtrace"
    command = [sys.executable, "-m", "visualizer", "record", "-q", "-o", str(trace)]
    for attempt in range(2):
        try:
            result = subprocess.run(
                [*command, str(EXAMPLES_DIR / f"{name}.py")],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
            break
        except OSError as exc:
            # Seen once on 3.12.1 in a clean-clone run: spawning from one of these threads
            # failed with EFAULT before the child ran. Nothing of loopviz had run: try again.
            if exc.errno != errno.EFAULT or attempt:
                raise
    assert trace.exists(), f"{name}: no trace\n{result.stderr}"
    return Run(name, result.returncode, result.stdout, result.stderr, Model.load(trace))


@pytest.fixture(scope="module")
def recordings(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[dict[str, Future]]:
    """Start recording every example this session will test, four at a time."""
    wanted = {
        item.callspec.params["example"]
        for item in request.session.items
        if getattr(item, "originalname", "") == RUN_TEST and item.module is request.module
    } or set(EXAMPLES)
    out = tmp_path_factory.mktemp("examples")
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield {name: pool.submit(_record, name, out) for name in sorted(wanted)}


def _waits(task: Task) -> list[int]:
    return [step.wait for step in task.steps]


def _from_a_task(waker: Scheduled | None) -> bool:
    while waker is not None:
        if waker.origin == Origin.TASK:
            return True
        waker = waker.via
    return False


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text}"
    return float(match.group(1))


# -- what each example promises --------------------------------------------------------------


def check_hello(run: Run) -> None:
    greeter = run.task("greeter")
    assert greeter.coro == "greet" and greeter.parent == run.main.index
    assert greeter.outcome == schema.OUTCOME_OK
    assert _waits(greeter)[0] == schema.WAIT_SLEEP
    assert {schema.WAIT_SLEEP, schema.WAIT_TASK} <= set(_waits(run.main))
    assert any(waker.startswith("greeter") for waker in run.main.wakers)  # its result wakes main
    assert "hello, event loop" in run.stdout


def check_gather_sleeps(run: Run) -> None:
    naps = run.tasks("nap")
    assert len(naps) == 3
    assert all(nap.parent == run.main.index and nap.outcome == schema.OUTCOME_OK for nap in naps)
    assert schema.WAIT_GATHER in _waits(run.main)
    assert max(nap.created for nap in naps) < min(nap.ended for nap in naps)  # all at once
    elapsed = _number(r"elapsed ([\d.]+) s", run.stdout)
    total = _number(r"sum of sleeps ([\d.]+) s", run.stdout)
    assert 0.55 <= elapsed < total


def check_create_task_vs_await(run: Run) -> None:
    brews = run.tasks("brew")
    assert [task.name for task in brews] == ["brew-tea", "brew-coffee", "brew-cocoa"]
    assert max(task.created for task in brews) < min(task.ended for task in brews)
    waits = _waits(run.main)
    assert waits[:3] == [schema.WAIT_SLEEP] * 3  # part 1: main sleeps three times itself
    assert schema.WAIT_TASK in waits[3:]  # part 2: main waits on the tasks
    one_by_one = _number(r"one after another took ([\d.]+) s", run.stdout)
    tasks_first = _number(r"creating the tasks first took ([\d.]+) s", run.stdout)
    assert one_by_one >= 0.85 and tasks_first < one_by_one


def check_producer_consumer(run: Run) -> None:
    producer = run.task("producer")
    assert producer.outcome == schema.OUTCOME_OK
    assert schema.WAIT_QUEUE_PUT in _waits(producer)  # back-pressure: the queue was full
    assert any(waker.startswith("consumer-") for waker in producer.wakers)
    consumers = run.tasks("consumer")
    assert len(consumers) == 2
    for consumer in consumers:
        assert schema.WAIT_QUEUE_GET in _waits(consumer)
        assert schema.WAIT_SLEEP in _waits(consumer)
        assert consumer.outcome == schema.OUTCOME_CANCELLED
    assert run.stdout.count("handled") == 8


def check_blocking_call(run: Run) -> None:
    (loop,) = run.model.loops.values()
    assert loop.longest_handle >= 0.45 * SECOND
    long_steps = [
        (task, step)
        for task in run.model.tasks
        for step in task.steps
        if step.end - step.begin >= 0.45 * SECOND
    ]
    assert len(long_steps) == 1, [(t.name, s.end - s.begin) for t, s in long_steps]
    ((task, blocked),) = long_steps
    assert task is run.main and task.longest_step >= 0.45 * SECOND
    # After the fix: main waits on a thread, and the ticker keeps ticking meanwhile.
    ticker = run.task("ticker-threaded")
    assert ticker.created > blocked.end
    steps = run.main.steps
    (i,) = [i for i, step in enumerate(steps) if step.wait == schema.WAIT_THREAD]
    waiting_from, waiting_until = steps[i].end, steps[i + 1].begin
    assert waiting_from > blocked.end
    ticks = [step for step in ticker.steps if waiting_from < step.begin < waiting_until]
    assert len(ticks) >= 2, "the loop did not tick while the thread slept"
    assert run.stdout.count("threaded: tick") >= 4


def check_cancel_timeout(run: Run) -> None:
    assert run.main.outcome == schema.OUTCOME_OK
    assert run.main.cancel_requests  # asyncio.timeout cancels the task that waits in it
    for name in ("download-B", "download-C"):
        task = run.task(name)
        assert task.outcome == schema.OUTCOME_CANCELLED and task.state == State.CANCELLED
        assert task.cancel_requests
    ((_, by),) = run.task("download-C").cancel_requests
    assert by.startswith(run.main.name)
    assert run.stdout.count("cleanup in finally") == 3
    assert "A: timed out" in run.stdout and "B: timed out" in run.stdout


def check_taskgroup_failure(run: Run) -> None:
    assert schema.WAIT_TASKGROUP in _waits(run.main)
    assert run.main.outcome == schema.OUTCOME_OK
    assert run.task("quick").outcome == schema.OUTCOME_OK
    for name in ("slow-1", "slow-2"):
        assert run.task(name).outcome == schema.OUTCOME_CANCELLED
        assert run.task(name).state == State.CANCELLED
    flaky = run.task("flaky")
    assert flaky.outcome == schema.OUTCOME_FAILED and flaky.state == State.FAILED
    assert "ConnectionError" in flaky.error
    assert "main: caught ExceptionGroup" in run.stdout


def check_semaphore_limit(run: Run) -> None:
    workers = run.tasks("fetch")
    assert len(workers) == 6
    assert all(worker.outcome == schema.OUTCOME_OK for worker in workers)
    assert sum(schema.WAIT_SEMAPHORE in _waits(worker) for worker in workers) >= 4
    # Each worker sleeps while it holds a slot: never more than 2 sleeps at a time.
    edges = []
    for worker in workers:
        for step, after in zip(worker.steps, worker.steps[1:], strict=False):
            if step.wait == schema.WAIT_SLEEP:
                edges += [(step.end, 1), (after.begin, -1)]
    running = peak = 0
    for _, change in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += change
        peak = max(peak, running)
    assert peak == 2
    lists = re.findall(r"running \[([\d, ]*)\]", run.stdout)
    assert len(lists) == 6 and max(len(found.split(",")) for found in lists) == 2


def check_echo_server(run: Run) -> None:
    clients, handlers = run.tasks("client"), run.tasks("handle")
    assert len(clients) == len(handlers) == 3
    for task in clients + handlers:
        assert task.outcome == schema.OUTCOME_OK
        assert schema.WAIT_IO_READ in _waits(task)
        assert any(waker.startswith("I/O fd") for waker in task.wakers)
    assert all(handler.parent != run.main.index for handler in handlers)
    assert run.stdout.count("echo '") == 9
    assert "server: closed after 3 connections" in run.stdout


def check_async_generators(run: Run) -> None:
    assert not run.tasks("countdown") and not run.tasks("squares")  # no task of their own
    assert _waits(run.main).count(schema.WAIT_SLEEP) >= 10
    assert "even squares from an async comprehension: [16, 4]" in run.stdout
    assert run.stdout.index("countdown from 10: closed") < run.stdout.index("main: done")


def check_graceful_shutdown(run: Run) -> None:
    steps = run.main.steps
    assert steps[0].wait == schema.WAIT_EVENT
    assert not _from_a_task(steps[1].waker)  # the signal handler set the Event
    workers = run.tasks("worker")
    assert len(workers) == 3
    for worker in workers:
        assert worker.outcome == schema.OUTCOME_CANCELLED
        assert worker.cancel_requests
        assert worker.steps[-2].wait == schema.WAIT_SLEEP  # it finished its item in `finally`
    assert run.stdout.count("stopping") == 3
    assert "main: all workers stopped" in run.stdout


def check_pubsub_broker(run: Run) -> None:
    brokers = run.tasks("broker")
    assert len(brokers) == 3  # alice, bob and the publisher each have a connection
    for task in [*brokers, run.task("alice"), run.task("bob"), run.task("publisher")]:
        assert task.outcome == schema.OUTCOME_OK
        assert schema.WAIT_IO_READ in _waits(task)
    for name in ("alice", "bob"):
        assert any(waker.startswith("I/O fd") for waker in run.task(name).wakers)
    assert run.stdout.count("alice got") == 2 and run.stdout.count("bob got") == 3
    assert re.findall(r"reached (\d) subscriber", run.stdout) == ["2", "1", "2"]
    assert "broker: closed" in run.stdout


def check_forgotten_task(run: Run) -> None:
    forgotten = run.task("send-report")
    assert forgotten.outcome == schema.OUTCOME_FAILED and forgotten.state == State.FAILED
    assert "ConnectionError" in forgotten.error
    assert not any(waker.startswith("send-report") for waker in run.main.wakers)  # woke nobody
    assert any("never retrieved" in error.message for error in run.model.errors)
    assert "Task exception was never retrieved" in run.stderr
    assert run.stdout.count("still working") == 3


CHECKS: dict[str, Callable[[Run], None]] = {
    name.removeprefix("check_"): check
    for name, check in list(globals().items())
    if name.startswith("check_")
}
NOISY = {"forgotten_task"}  # the examples that are meant to print an error


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs_and_shows_what_it_teaches(example: str, recordings) -> None:
    assert example in CHECKS, f"examples/{example}.py has no check_{example} in this file"
    run = recordings[example].result()
    assert run.returncode == 0, run.stderr
    model = run.model
    assert model.exit_status == 0 and not model.truncated
    assert "".join(o.text for o in model.output if o.stream == 1) == run.stdout
    assert run.stdout.strip(), "an example should print something"
    if example not in NOISY:
        assert run.stderr == ""
        assert not model.errors, [error.message for error in model.errors]
    assert run.main.outcome == schema.OUTCOME_OK
    CHECKS[example](run)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_docstring_has_a_summary_and_what_to_watch(example: str) -> None:
    source = (EXAMPLES_DIR / f"{example}.py").read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring, f"examples/{example}.py has no module docstring"
    summary, blank, *rest = docstring.splitlines()
    assert summary.strip() and len(summary) < 80, summary
    assert not blank.strip(), "the summary should be one line, then a blank line"
    assert "What to watch" in " ".join(rest)
    assert 'if __name__ == "__main__":' in source


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 13 and "hello" in EXAMPLES
    assert set(CHECKS) <= set(EXAMPLES), set(CHECKS) - set(EXAMPLES)

"""Random small asyncio programs: the model's account must agree with what the program did."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import record_run
from visualizer import RecordingEventLoop, record
from visualizer.model import State
from visualizer.trace import schema

OPS = ["yield", "sleep", "lock", "queue", "spawn"]
programs = st.lists(st.lists(st.sampled_from(OPS), max_size=8), min_size=1, max_size=5)
untimed = st.lists(
    st.lists(st.sampled_from(["yield", "lock", "queue", "spawn"]), max_size=8),
    min_size=1,
    max_size=5,
)


def _program(plan: list[list[str]], log: list[str]):
    async def child(name: str) -> None:
        await asyncio.sleep(0)
        log.append(f"{name} child")

    async def worker(index: int, ops: list[str], lock, queue) -> None:
        for n, op in enumerate(ops):
            log.append(f"w{index} {op} {n}")
            if op == "yield":
                await asyncio.sleep(0)
            elif op == "sleep":
                await asyncio.sleep(0.0005)
            elif op == "lock":
                async with lock:
                    await asyncio.sleep(0)
            elif op == "queue":
                await queue.put(n)
                await queue.get()
            elif op == "spawn":
                await asyncio.create_task(child(f"w{index}.{n}"), name=f"child-{index}-{n}")

    async def main() -> None:
        lock = asyncio.Lock()
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        await asyncio.gather(
            *(
                asyncio.create_task(worker(i, ops, lock, queue), name=f"worker-{i}")
                for i, ops in enumerate(plan)
            )
        )

    return main


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_model_agrees_with_the_program(plan):
    log: list[str] = []
    _, model = record_run(_program(plan, log))
    loop = model.loops[min(model.loops)]
    expected_children = sum(ops.count("spawn") for ops in plan)
    workers = [t for t in model.tasks if t.name.startswith("worker-")]
    children = [t for t in model.tasks if t.name.startswith("child-")]
    assert len(workers) == len(plan) and len(children) == expected_children
    assert all(t.outcome == schema.OUTCOME_OK for t in model.tasks)
    assert sum(len(t.steps) for t in model.tasks) == loop.steps
    all_steps = sorted((step.begin, step.end) for t in model.tasks for step in t.steps)
    for (_, end), (next_begin, _) in zip(all_steps, all_steps[1:], strict=False):
        assert end <= next_begin, "two steps overlap on one loop"
    assert model.state_counts() == {state: 0 for state in State} | Counter(
        task.state for task in model.tasks
    )
    for task in model.tasks:
        for step in task.steps:
            assert step.ready_since <= step.begin <= step.end
        for t in {when + delta for when, _, _ in task.history for delta in (-1, 0, 1)}:
            assert task.state_at(t) == _scan(task.history, t, task.created), t
        states = [state for _, state, _ in task.history]
        assert states[0] == State.READY and states[-1] == State.DONE
        for before, after in zip(states, states[1:], strict=False):
            if after == State.RUNNING:
                assert before == State.READY, states  # a task runs only after being queued
            else:
                assert before == State.RUNNING or after == State.READY, states
    for worker, ops in zip(sorted(workers, key=lambda t: t.name), plan, strict=True):
        assert len(worker.steps) >= ops.count("yield") + ops.count("sleep") + 1
        sleeps = [s for s in worker.steps if s.wait == schema.WAIT_SLEEP]
        # each sleep(0.0005) suspends on a timer; the lock's inner sleep(0) is a bare yield
        assert len(sleeps) == ops.count("sleep")
        assert all(s.site.endswith(f"in {_program.__qualname__}.<locals>.worker") for s in sleeps)
        if "sleep" in ops:
            assert any(w.startswith("sleep timer #") for w in worker.wakers)
        if "spawn" in ops:
            assert any(s.wait == schema.WAIT_TASK for s in worker.steps)


def _scan(history: list[tuple[int, State, int]], t: int, created: int) -> State | None:
    """The state at `t` read the slow way: the last change at or before it."""
    found = None
    for when, state, _ in history:
        if when > t:
            break
        found = state
    return None if t < created else found


def _order(plan: list[list[str]], loop_class: type) -> list[str]:
    log: list[str] = []
    with asyncio.Runner(loop_factory=loop_class) as runner:
        runner.run(_program(plan, log)())
    return log


@settings(max_examples=40, deadline=None)
@given(untimed)
def test_recorded_program_runs_in_the_same_order_as_plain_asyncio(plan):
    plain = _order(plan, asyncio.SelectorEventLoop)
    with record():
        recorded = _order(plan, RecordingEventLoop)
    assert recorded == plain

"""The recording loop must not change what a program does, nor keep its objects alive."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import warnings
import weakref
from typing import Any

import pytest

from tests.conftest import record_run, replay_bytes, requires_eager, task_named
from visualizer import RecordingEventLoop, RecordingEventLoopPolicy, loop_factory, record
from visualizer.recorder.loop import RecordingLoop
from visualizer.trace import schema


async def _busy_program(log: list[str]) -> None:
    """Tasks, timers, futures, queues, locks and callbacks interleaved: a fixed order to keep."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
    lock = asyncio.Lock()

    async def producer(n: int) -> None:
        for i in range(n):
            log.append(f"put {i}")
            await queue.put(i)
            if i % 3 == 0:
                await asyncio.sleep(0)

    async def consumer(name: str) -> None:
        while True:
            item = await queue.get()
            async with lock:
                log.append(f"{name} got {item}")
                await asyncio.sleep(0)
            queue.task_done()

    def callback(tag: str) -> None:
        log.append(f"callback {tag}")

    for i in range(5):
        loop.call_soon(callback, f"soon {i}")
    loop.call_later(0, callback, "later")
    handle = loop.call_later(0, callback, "cancelled")
    handle.cancel()
    consumers = [asyncio.create_task(consumer(f"c{i}")) for i in range(3)]
    await producer(20)
    await queue.join()
    fut = loop.create_future()
    loop.call_soon(fut.set_result, "future")
    log.append(await fut)
    for task in consumers:
        task.cancel()
    results = await asyncio.gather(*consumers, return_exceptions=True)
    log.append(" ".join(type(r).__name__ for r in results))


def _run(loop_class: type[asyncio.AbstractEventLoop]) -> list[str]:
    log: list[str] = []
    with asyncio.Runner(loop_factory=loop_class) as runner:
        runner.run(_busy_program(log))
    return log


def test_callbacks_and_steps_run_in_the_same_order_as_plain_asyncio():
    plain = _run(asyncio.SelectorEventLoop)
    with record():
        recorded = _run(RecordingEventLoop)
    assert "\n".join(recorded) == "\n".join(plain)
    assert len(plain) > 40


def test_debug_mode_source_tracebacks_do_not_show_the_recorder():
    loop = RecordingEventLoop()
    loop.set_debug(True)
    try:
        handles = [
            loop.call_soon(lambda: None),
            loop.call_later(1, lambda: None),
            loop.call_at(loop.time() + 1, lambda: None),
            loop.call_soon_threadsafe(lambda: None),
        ]
        for handle in handles:
            last = handle._source_traceback[-1]
            assert last.filename == __file__, handle
            assert not any("visualizer" in entry.filename for entry in handle._source_traceback)
            handle.cancel()

        async def nothing():
            pass

        task = loop.create_task(nothing())
        assert task._source_traceback[-1].filename == __file__
        loop.run_until_complete(task)
    finally:
        loop.close()


def _lifetimes(loop_class: type[asyncio.AbstractEventLoop]) -> list[bool]:
    """Which of a task, a future, a callback's argument and a result are gone after use."""

    class Payload:
        pass

    refs: list[weakref.ref] = []

    async def worker(payload: Payload) -> Payload:
        await asyncio.sleep(0.001)
        return payload

    async def main():
        loop = asyncio.get_running_loop()
        payload = Payload()
        refs.append(weakref.ref(payload))
        task = asyncio.create_task(worker(payload))
        refs.append(weakref.ref(task))
        fut = loop.create_future()
        refs.append(weakref.ref(fut))
        argument = Payload()
        refs.append(weakref.ref(argument))
        loop.call_soon(fut.set_result, argument)
        await fut
        await task
        del task, fut, payload, argument
        for _ in range(3):
            await asyncio.sleep(0)  # let the handles that ran go
        gc.collect()
        return [ref() is None for ref in refs]

    with asyncio.Runner(loop_factory=loop_class) as runner:
        return runner.run(main())


def test_recorder_keeps_no_reference_to_tasks_futures_or_callbacks():
    plain = _lifetimes(asyncio.SelectorEventLoop)
    assert plain == [True, True, True, True]
    with record():
        assert _lifetimes(RecordingEventLoop) == plain


def test_exception_never_retrieved_is_still_reported(caplog):
    async def fails():
        raise RuntimeError("nobody looks at me")

    async def main():
        asyncio.get_running_loop().create_task(fails())
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="asyncio"), record():
        asyncio.run(main())
        gc.collect()
    assert "Task exception was never retrieved" in caplog.text


def test_failed_task_traceback_is_recorded_without_retrieving_it(caplog):
    async def fails():
        raise RuntimeError("boom")

    async def main():
        task = asyncio.get_running_loop().create_task(fails(), name="fails")
        await asyncio.sleep(0.01)
        return task._log_traceback

    log_traceback, model = record_run(main)
    assert log_traceback is True  # the recorder did not mark the exception as retrieved
    failed = task_named(model, "fails")
    assert failed.outcome == schema.OUTCOME_FAILED
    assert 'raise RuntimeError("boom")' in failed.error


def test_policy_and_loop_factory_make_recording_loops():
    async def which():
        return type(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(which()) is RecordingEventLoop
    policy = RecordingEventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert isinstance(loop, RecordingEventLoop)
    finally:
        loop.close()
    plain = asyncio.run(which())
    with record():
        recorded = asyncio.run(which())
    assert issubclass(recorded, RecordingLoop) and issubclass(recorded, plain)
    assert asyncio.run(which()) is plain


class _OwnLoop(asyncio.SelectorEventLoop):
    """A program's own loop class."""


def _every_way_to_make_a_loop(main: Any) -> list[str]:
    """Run `main` on loops made each way a program can make one; what main returned each time."""
    results = []
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        results.append(runner.run(main()))
    if sys.version_info >= (3, 12):
        results.append(asyncio.run(main(), loop_factory=_OwnLoop))
    loop = asyncio.SelectorEventLoop()
    try:
        results.append(loop.run_until_complete(main()))
    finally:
        loop.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # policies, on 3.14+

        class OwnPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[name-defined,misc]
            def new_event_loop(self) -> asyncio.AbstractEventLoop:
                return _OwnLoop()

        previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(OwnPolicy())
        try:
            results.append(asyncio.run(main()))
        finally:
            asyncio.set_event_loop_policy(previous)
    return results


def test_every_loop_a_program_makes_is_recorded_and_looks_the_same():
    async def main() -> str:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.001)
        return f"{loop!r} {type(loop).__qualname__} {asyncio.current_task().get_name()}"

    plain = _every_way_to_make_a_loop(main)
    with record() as recording:
        recorded = _every_way_to_make_a_loop(main)
    assert [line.split(" running=")[0] for line in recorded] == [
        line.split(" running=")[0] for line in plain
    ]
    # the task's name is its own: numbered as under plain asyncio, from where the count was
    assert [line.rsplit("-", 1)[0] for line in recorded] == [
        line.rsplit("-", 1)[0] for line in plain
    ]
    model = replay_bytes(recording.data())
    assert len(model.loops) == len(plain)
    assert sum(1 for task in model.tasks if task.coro.startswith("test_every_loop")) == len(plain)
    assert all(task.steps for task in model.tasks if task.coro.startswith("test_every_loop"))


def test_a_loop_class_with_its_own_run_once_is_left_alone():
    class Custom(asyncio.SelectorEventLoop):
        def _run_once(self) -> None:
            super()._run_once()

    with record() as recording:
        loop = Custom()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()
    assert type(loop) is Custom
    assert not replay_bytes(recording.data()).loops


def test_python_tasks_are_recorded_like_c_tasks():
    py_task = asyncio.tasks._PyTask

    async def child():
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda loop, coro, **kw: py_task(coro, loop=loop, **kw))
        await loop.create_task(child(), name="py")

    _, model = record_run(main)
    task = task_named(model, "py")
    assert [step.wait for step in task.steps] == [0, schema.WAIT_SLEEP, -1]


@requires_eager
def test_eager_task_first_step_runs_inside_create_task():
    async def child():
        await asyncio.sleep(0.001)
        return "eager"

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        task = loop.create_task(child(), name="eager")
        return await task

    result, model = record_run(main)
    assert result == "eager"
    task = task_named(model, "eager")
    assert task.eager
    first = task.steps[0]
    assert first.waker is None  # it ran inside its creator's step, not from the ready queue
    creator_step = model.tasks[0].steps[0]
    assert creator_step.begin <= first.begin <= first.end <= creator_step.end
    assert first.wait == schema.WAIT_SLEEP


def test_task_renamed_right_after_creation_has_its_new_name():
    async def child():
        await asyncio.sleep(0)

    async def main():
        await asyncio.create_task(child(), name="named later")

    _, model = record_run(main)
    assert task_named(model, "named later").coro.endswith("child")


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_accepts_the_loop_factory():
    async def which():
        return type(asyncio.get_running_loop())

    assert asyncio.run(which(), loop_factory=loop_factory) is RecordingEventLoop


@requires_eager
def test_children_made_in_an_eager_first_step_know_their_parent():
    async def leaf():
        await asyncio.sleep(0)

    async def parent():
        await asyncio.gather(leaf(), leaf())

    async def main():
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        await asyncio.get_running_loop().create_task(parent(), name="parent")

    _, model = record_run(main)
    parent_task = task_named(model, "parent")
    leaves = [task for task in model.tasks if task.coro.endswith("leaf")]
    assert len(leaves) == 2
    assert all(task.parent == parent_task.index for task in leaves)
    assert sorted(parent_task.children) == sorted(task.index for task in leaves)

"""What a task waits on after each step, and where it is suspended."""

from __future__ import annotations

import asyncio

from tests.conftest import record_run, task_named
from visualizer.model import State
from visualizer.trace import schema


def _last_wait(task) -> int:
    waits = [step.wait for step in task.steps if step.wait > 0]
    assert waits, f"{task.name} never waited"
    return waits[-1]


def test_sleeping_task_is_shown_waiting_on_timer_at_the_line_of_its_await():
    async def sleeper():
        await asyncio.sleep(0.02)

    async def main():
        task = asyncio.create_task(sleeper(), name="sleeper")
        await asyncio.sleep(0.005)
        await task

    _, model = record_run(main)
    task = task_named(model, "sleeper")
    first = task.steps[0]
    assert first.wait == schema.WAIT_SLEEP
    line = sleeper.__code__.co_firstlineno + 1
    assert first.site.endswith(f"test_waits.py:{line} in {sleeper.__qualname__}")
    assert "asyncio" in first.chain.splitlines()[-1]  # the chain goes down into sleep()
    assert [state for _, state, _ in task.history] == [
        State.READY, State.RUNNING, State.SLEEPING, State.READY, State.RUNNING, State.DONE,
    ]  # fmt: skip
    assert list(task.wakers) == [model.tasks[0].label, f"sleep timer #{first.ref}"]
    assert task.steps[1].begin - first.end >= 15_000_000


def test_bare_yield_is_recorded_as_a_step_that_stays_ready():
    async def spinner():
        for _ in range(50):
            await asyncio.sleep(0)

    async def main():
        await asyncio.create_task(spinner(), name="spinner")

    _, model = record_run(main)
    task = task_named(model, "spinner")
    assert len(task.steps) == 51
    assert all(step.wait == 0 for step in task.steps[:-1])
    assert task.steps[-1].wait == -1
    assert task.outcome == schema.OUTCOME_OK


def test_awaiting_a_task_names_the_awaited_task():
    async def child():
        await asyncio.sleep(0.001)

    async def main():
        await asyncio.create_task(child(), name="child")

    _, model = record_run(main)
    main_task = model.tasks[0]
    child_task = task_named(model, "child")
    assert main_task.steps[0].wait == schema.WAIT_TASK
    assert main_task.steps[0].ref == child_task.index
    # the parent is woken by the child's last step
    assert any(child_task.label in waker for waker in main_task.wakers)
    assert child_task.parent == main_task.index
    assert child_task.index in main_task.children


def test_queue_waits_are_identified_on_both_sides():
    async def producer(queue):
        for item in range(5):
            await queue.put(item)

    async def consumer(queue):
        for _ in range(5):
            await queue.get()
            await asyncio.sleep(0.001)

    async def main():
        queue = asyncio.Queue(maxsize=1)
        await asyncio.gather(
            asyncio.create_task(consumer(queue), name="consumer"),
            asyncio.create_task(producer(queue), name="producer"),
        )

    _, model = record_run(main)
    producer_waits = {step.wait for step in task_named(model, "producer").steps}
    consumer_waits = {step.wait for step in task_named(model, "consumer").steps}
    assert schema.WAIT_QUEUE_PUT in producer_waits
    assert schema.WAIT_QUEUE_GET in consumer_waits
    assert schema.WAIT_GATHER in {step.wait for step in model.tasks[0].steps}
    producer_task = task_named(model, "producer")
    assert any(producer_task.label in w for w in task_named(model, "consumer").wakers)


def test_lock_event_semaphore_condition_and_barrier_waits():
    async def main():
        lock = asyncio.Lock()
        event = asyncio.Event()
        semaphore = asyncio.Semaphore(0)
        condition = asyncio.Condition()

        async def on_lock():
            async with lock:
                pass

        async def on_event():
            await event.wait()

        async def on_semaphore():
            async with semaphore:
                pass

        async def on_condition():
            async with condition:
                await condition.wait()

        await lock.acquire()
        tasks = [
            asyncio.create_task(on_lock(), name="lock"),
            asyncio.create_task(on_event(), name="event"),
            asyncio.create_task(on_semaphore(), name="semaphore"),
            asyncio.create_task(on_condition(), name="condition"),
        ]
        await asyncio.sleep(0.001)
        lock.release()
        event.set()
        semaphore.release()
        async with condition:
            condition.notify_all()
        await asyncio.gather(*tasks)

    _, model = record_run(main)
    expected = {
        "lock": schema.WAIT_LOCK,
        "event": schema.WAIT_EVENT,
        "semaphore": schema.WAIT_SEMAPHORE,
        "condition": schema.WAIT_CONDITION,
    }
    for name, kind in expected.items():
        assert task_named(model, name).steps[0].wait == kind, name


def test_taskgroup_failing_child_cancels_siblings_and_keeps_the_traceback():
    async def fails():
        await asyncio.sleep(0.001)
        raise ValueError("boom")

    async def sibling():
        await asyncio.sleep(10)

    async def main():
        caught = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fails(), name="fails")
                group.create_task(sibling(), name="sibling")
        except* ValueError:
            caught = "caught"
        return caught

    result, model = record_run(main)
    assert result == "caught"
    failed = task_named(model, "fails")
    assert failed.outcome == schema.OUTCOME_FAILED
    assert failed.state == State.FAILED
    assert "ValueError: boom" in failed.error
    sibling_task = task_named(model, "sibling")
    assert sibling_task.outcome == schema.OUTCOME_CANCELLED
    assert sibling_task.cancel_requests, "the cancellation request was not seen"
    assert schema.WAIT_TASKGROUP in {step.wait for step in model.tasks[0].steps}


def test_to_thread_wait_and_executor_wakeup_from_another_thread():
    import time

    async def main():
        await asyncio.to_thread(time.sleep, 0.01)

    _, model = record_run(main)
    main_task = model.tasks[0]
    assert main_task.steps[0].wait == schema.WAIT_THREAD
    loop = model.loops[min(model.loops)]
    assert loop.threadsafe_calls >= 1
    assert any("another thread" in waker for waker in main_task.wakers), main_task.wakers


def test_timeout_cancels_the_inner_wait_and_records_it():
    async def main():
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"

    result, model = record_run(main)
    assert result == "timed out"
    main_task = model.tasks[0]
    assert main_task.cancel_requests
    assert main_task.outcome == schema.OUTCOME_OK


def test_creation_site_is_the_users_line_even_through_gather():
    async def leaf():
        await asyncio.sleep(0)

    async def main():
        await asyncio.gather(leaf(), leaf())  # first line
        await asyncio.gather(leaf())  # second line

    _, model = record_run(main)
    first = main.__code__.co_firstlineno + 1
    sites = [task.site for task in model.tasks if task.coro.endswith("leaf")]
    assert sites == [
        f"{__file__}:{line} in {main.__qualname__}" for line in (first, first, first + 1)
    ]


def test_task_made_by_an_asyncio_callback_is_created_at_asyncios_line():
    async def handler(reader, writer):
        writer.close()

    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    _, model = record_run(main)
    (accepted,) = [task for task in model.tasks if "accept_connection2" in task.coro]
    assert "asyncio" in accepted.site and "_accept_connection" in accepted.site, accepted.site


def test_each_await_of_a_nested_coroutine_has_its_own_site():
    async def inner(queue):
        await queue.get()  # first
        await queue.get()  # second

    async def outer(queue):
        await inner(queue)

    async def main():
        queue = asyncio.Queue()
        task = asyncio.create_task(outer(queue), name="outer")
        for item in range(2):
            await asyncio.sleep(0)
            queue.put_nowait(item)
        await task

    _, model = record_run(main)
    first = inner.__code__.co_firstlineno + 1
    waits = [s for s in task_named(model, "outer").steps if s.wait == schema.WAIT_QUEUE_GET]
    assert [s.site.split(" in ")[0].rsplit(":", 1)[1] for s in waits] == [
        str(first),
        str(first + 1),
    ]
    assert all(s.chain.splitlines()[0].endswith(outer.__qualname__) for s in waits)

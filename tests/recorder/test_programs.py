"""Real programs under the recorder: servers, threads, subprocesses, signals, many loops."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading

from tests.conftest import record_run, replay_bytes, task_named
from visualizer import RecordingEventLoop, record
from visualizer.trace import schema
from visualizer.trace.reader import read_stream, records


def test_streams_echo_server_and_clients_show_io_waits_and_io_wakeups():
    async def handle(reader, writer):
        while data := await reader.readline():
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def client(port, n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(n):
            writer.write(f"{i}\n".encode())
            assert await reader.readline() == f"{i}\n".encode()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await asyncio.gather(*(client(port, 20) for _ in range(5)))
        return "ok"

    result, model = record_run(main)
    assert result == "ok"
    loop = model.loops[min(model.loops)]
    assert loop.io_events >= 100
    io_read_waits = [
        task for task in model.tasks if any(s.wait == schema.WAIT_IO_READ for s in task.steps)
    ]
    assert len(io_read_waits) >= 10  # 5 clients and 5 handlers wait on readline
    fds = {s.ref for task in io_read_waits for s in task.steps if s.wait == schema.WAIT_IO_READ}
    assert 0 not in fds and len(fds) >= 10  # each waits on its own socket
    woken_by_io = [t for t in model.tasks if any(w.startswith("I/O fd") for w in t.wakers)]
    assert woken_by_io, "no task was woken by I/O"
    assert not loop.watchers.get((0, 1))  # everything closed cleanly


def _threadsafe_calls(data: bytes) -> list[tuple[int, str]]:
    """Every call_soon_threadsafe the trace holds: (calling thread's ident, callback name)."""
    strings: dict[int, str] = {}
    calls = []
    for batch in read_stream(io.BytesIO(data), "test trace").batches:
        for rec in records(batch):
            if rec[0] == schema.STR:
                strings[rec[1]] = rec[2]
            elif rec[0] == schema.THREADSAFE:
                calls.append((rec[3], strings.get(rec[4], "")))
    return calls


def _set_states(data: bytes) -> list[int]:
    """The threads that handed a chained future's state over with call_soon_threadsafe."""
    return [thread for thread, what in _threadsafe_calls(data) if "_chain_future" in what]


def test_run_in_executor_result_comes_back_from_the_pool_thread():
    # The results are produced only once every future is chained to the loop (released after the
    # last run_in_executor returned): each one crosses threads on every version.
    release = threading.Event()
    workers = set()

    def work(x):
        release.wait(10)
        workers.add(threading.get_ident())
        return x * 2

    async def main():
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(None, work, i) for i in range(10)]
        pending = sum(not future.done() for future in futures)
        release.set()
        return await asyncio.gather(*futures), pending

    with record() as recording:
        result, pending = asyncio.run(main())
    assert result == [i * 2 for i in range(10)] and pending == 10
    model = replay_bytes(recording.data())
    senders = _set_states(recording.data())
    assert len(senders) == 10 and set(senders) == workers  # each from the pool thread that ran it
    assert threading.get_ident() not in workers
    assert model.loops[min(model.loops)].threadsafe_calls >= 10  # (+ the executor's shutdown)


def test_a_pool_result_ready_before_it_is_chained_is_recorded_as_it_came():
    # Chaining a concurrent future that is already done: 3.11-3.13 still go through
    # call_soon_threadsafe (from the loop's own thread); 3.14+ set the asyncio future at once.
    # Either way the trace must say which happened.
    from concurrent.futures import ThreadPoolExecutor

    async def main():
        with ThreadPoolExecutor(1) as pool:
            done = pool.submit(lambda: 42)
            done.result()
            future = asyncio.wrap_future(done)
            at_once = future.done()
            return await future, at_once

    with record() as recording:
        (result, at_once) = asyncio.run(main())
    assert result == 42
    assert at_once == (sys.version_info >= (3, 14))
    senders = _set_states(recording.data())
    assert senders == ([] if at_once else [threading.get_ident()])


def test_subprocess_output_and_exit_status_pass_through():
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print('from child'); raise SystemExit(3)",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return out, proc.returncode

    (out, code), model = record_run(main)
    assert out == b"from child\n"
    assert code == 3
    assert model.tasks[0].outcome == schema.OUTCOME_OK


def test_signal_handler_runs_as_a_callback():
    async def main():
        loop = asyncio.get_running_loop()
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, got.set)
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(got.wait(), 5)
        loop.remove_signal_handler(signal.SIGUSR1)
        return "signalled"

    result, model = record_run(main)
    assert result == "signalled"
    assert model.tasks[0].outcome == schema.OUTCOME_OK


def test_cancelling_a_waiting_task_records_the_request_and_the_outcome():
    async def victim():
        await asyncio.sleep(10)

    async def main():
        task = asyncio.create_task(victim(), name="victim")
        await asyncio.sleep(0.001)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"

    result, model = record_run(main)
    assert result == "cancelled"
    victim_task = task_named(model, "victim")
    assert victim_task.outcome == schema.OUTCOME_CANCELLED
    ((when, by),) = victim_task.cancel_requests
    assert by.startswith(model.tasks[0].name), by


def test_many_loops_in_threads_lose_no_records():
    steps_per_loop = 300
    loops = 4

    async def spin():
        for _ in range(steps_per_loop):
            await asyncio.sleep(0)

    def run_one():
        loop = RecordingEventLoop()
        try:
            loop.run_until_complete(spin())
        finally:
            loop.close()

    with record() as recording:
        threads = [threading.Thread(target=run_one) for _ in range(loops)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    model = replay_bytes(recording.data())
    assert len(model.loops) == loops
    assert {loop.thread for loop in model.loops.values()} == {t.ident for t in threads}
    for loop in model.loops.values():
        assert loop.steps == steps_per_loop + 1
        assert loop.closed is not None
    assert sorted(len(task.steps) for task in model.tasks) == [steps_per_loop + 1] * loops


def test_call_soon_threadsafe_is_attributed_to_the_other_thread():
    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        threading.Thread(target=loop.call_soon_threadsafe, args=(done.set_result, 7)).start()
        return await done

    result, model = record_run(main)
    assert result == 7
    wakers = model.tasks[0].wakers
    assert any(w.startswith("another thread") for w in wakers), wakers


def test_mark_lands_in_the_task_that_made_it():
    import visualizer

    async def main():
        visualizer.mark("halfway")
        await asyncio.sleep(0)

    _, model = record_run(main)
    (mark,) = model.marks
    assert mark.text == "halfway"
    assert mark.task == model.tasks[0].index


def test_loop_exception_handler_calls_are_recorded():
    async def main():
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: 1 / 0)
        await asyncio.sleep(0.001)

    _, model = record_run(main)
    (error,) = model.errors
    assert error.message.startswith("Exception in callback")
    assert "ZeroDivisionError" in error.detail


def test_memory_recording_keeps_the_beginning_and_says_what_it_dropped():
    async def spin():
        for _ in range(20_000):
            await asyncio.sleep(0)

    with record(limit=20_000) as recording:
        asyncio.run(spin())
    data = recording.data()
    model = replay_bytes(data)
    assert model.dropped > 0
    assert 0 < len(model.tasks[0].steps) < 20_000
    assert len(data) < 20_000 + 100


def test_task_ids_reused_by_the_program_still_make_separate_tasks():
    async def short(n):
        await asyncio.sleep(0)
        return n

    async def main():
        total = 0
        for n in range(300):
            total += await asyncio.create_task(short(n))  # each is freed before the next
        return total

    result, model = record_run(main)
    assert result == sum(range(300))
    shorts = [task for task in model.tasks if task.coro.endswith("short")]
    assert len(shorts) == 300
    assert len({task.ident for task in shorts}) < 300  # ids were reused...
    assert all(len(task.steps) == 2 for task in shorts)  # ...without mixing up tasks


def test_task_made_without_create_task_is_adopted_with_its_name():
    async def direct():
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)

    async def main():
        await asyncio.Task(direct(), name="direct")

    _, model = record_run(main)
    task = task_named(model, "direct")
    assert task.coro.endswith("direct") and not task.placeholder
    assert len(task.steps) == 3
    assert task.site == ""  # where Task() was called is not known: nothing made up


def test_recording_from_inside_a_write_on_the_same_thread_does_not_deadlock():
    # A signal handler, or the weakref callback of a task the GC frees, runs on the thread that
    # may be in the middle of writing a batch, and records something itself.
    from visualizer.trace import schema as kinds

    def reenter(done: list[bool]) -> None:
        with record() as recording:
            loop = RecordingEventLoop()
            rec = recording.recorder
            with rec.lock:
                rec.emit(kinds.MARK, 0, 0, 0, rec.intern("inside a write"))
            with loop._lv.lock:
                loop._lv.put_foreign(kinds.TASK_GONE, 0, 1)
            loop.close()
        done.append(True)

    done: list[bool] = []
    thread = threading.Thread(target=reenter, args=(done,), daemon=True)
    thread.start()
    thread.join(10)
    assert done == [True], "the recorder deadlocked on its own lock"


def test_cancelling_a_ready_task_that_carries_on_is_still_recorded():
    async def stubborn(then_wait: bool):
        try:
            await asyncio.sleep(0)  # ready, not waiting, when the request comes
        except asyncio.CancelledError:
            pass
        if then_wait:
            await asyncio.sleep(0.001)  # carries on, the request still counted

    async def main():
        tasks = [asyncio.create_task(stubborn(wait), name=f"stubborn {wait}") for wait in (0, 1)]
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks)

    _, model = record_run(main)
    for wait in (0, 1):
        task = task_named(model, f"stubborn {wait}")
        assert task.outcome == schema.OUTCOME_OK
        assert len(task.cancel_requests) == 1, wait

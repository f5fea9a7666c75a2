"""What a task waits on and where, as STEP_WAIT records it: the recorder finds a chain it has
seen by a key (codes, and f_lasti only where a code can be suspended at several places) and reads
an I/O wait's fd without making a frame. These tests check that the shortcut says what the long
way says, in the cases where a shortcut could go wrong."""

from __future__ import annotations

import asyncio
import socket

from tests.conftest import record_run, task_named
from visualizer.trace import schema


def _io_waits(model, name):
    task = task_named(model, name)
    return [(step.wait, step.ref) for step in task.steps if step.wait in _IO]


_IO = (schema.WAIT_IO_READ, schema.WAIT_IO_WRITE)


def _wait_sites(model, name):
    """Where the task waited after each step, and the line numbers of those sites."""
    sites = [step.site for step in task_named(model, name).steps if step.wait > 0]
    return sites, [int(site.split(":")[1].split()[0]) for site in sites]


def test_each_io_wait_names_its_own_socket_fd_stream_after_stream():
    # Two readers in one task, read in turn: the same chain, another fd each time.
    fds: dict[str, list[int]] = {}

    async def main():
        async def serve(reader, writer):
            while data := await reader.read(100):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]

        async def alternate():
            order = []
            for i in range(6):
                reader, writer = streams[i % 2]
                writer.write(b"x")
                await writer.drain()
                await reader.readexactly(1)
                order.append(writer.get_extra_info("socket").fileno())
            fds["alternate"] = order
            for _, writer in streams:
                writer.close()

        await asyncio.create_task(alternate(), name="alternate")
        server.close()
        await server.wait_closed()

    _, model = record_run(main)
    waits = _io_waits(model, "alternate")
    assert waits, "alternate never waited on its sockets"
    assert {ref for _, ref in waits} <= set(fds["alternate"])
    assert len({ref for _, ref in waits}) == 2  # both sockets, not the first one remembered


def test_the_fd_is_right_when_the_coroutine_has_a_frame_object_and_in_an_except_block():
    # A frame object (made here by reading cr_frame) and an exception being handled both change
    # what the coroutine refers to before its locals; the fd must still be the stream's.
    seen: dict[str, int] = {}

    async def main():
        left, right = socket.socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=left)
        seen["fd"] = left.fileno()

        async def waits_in_except():
            try:
                raise KeyError("handled")
            except KeyError:
                return await reader.readexactly(2)

        async def waits_with_frame():
            return await reader.readexactly(2)

        for name, make in (("in-except", waits_in_except), ("with-frame", waits_with_frame)):
            task = asyncio.create_task(make(), name=name)
            await asyncio.sleep(0)
            coro = task.get_coro()
            while coro is not None and hasattr(coro, "cr_frame"):
                assert coro.cr_frame is not None  # makes the frame object
                coro = coro.cr_await
            right.send(b"ok")
            assert await task == b"ok"
        writer.close()
        right.close()

    _, model = record_run(main)
    for name in ("in-except", "with-frame"):
        assert _io_waits(model, name) == [(schema.WAIT_IO_READ, seen["fd"])], name


def test_sock_recv_wait_names_the_socket_it_reads():
    fds: dict[str, int] = {}

    async def main():
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(2)]
        for a, _ in pairs:
            a.setblocking(False)

        async def recv(sock):
            return await loop.sock_recv(sock, 10)

        for n, (a, b) in enumerate(pairs):
            fds[f"recv-{n}"] = a.fileno()
            task = asyncio.create_task(recv(a), name=f"recv-{n}")
            await asyncio.sleep(0)
            b.send(b"hi")
            assert await task == b"hi"
        for a, b in pairs:
            a.close()
            b.close()

    _, model = record_run(main)
    for name, fd in fds.items():
        assert _io_waits(model, name) == [(schema.WAIT_IO_READ, fd)], name


def test_one_await_site_reached_through_two_helpers_gives_two_sites():
    # The same outer line awaits one helper or another: the chain, not the outer line, decides.
    async def main():
        queue: asyncio.Queue[int] = asyncio.Queue()
        event = asyncio.Event()

        async def via_queue():
            return await queue.get()

        async def via_event():
            await event.wait()
            return 0

        async def worker():
            for helper in (via_queue, via_event, via_queue, via_event):
                await helper()  # one line, two chains

        task = asyncio.create_task(worker(), name="worker")
        for _ in range(2):
            await asyncio.sleep(0)
            queue.put_nowait(1)
            await asyncio.sleep(0)
            event.set()
            await asyncio.sleep(0)
            event.clear()
        await task

    _, model = record_run(main)
    worker = task_named(model, "worker")
    kinds = [step.wait for step in worker.steps if step.wait > 0]
    assert kinds == [schema.WAIT_QUEUE_GET, schema.WAIT_EVENT] * 2
    sites, _ = _wait_sites(model, "worker")
    assert "via_queue" in sites[0] and "via_event" in sites[1], sites
    assert sites[0] == sites[2] and sites[1] == sites[3]


def test_a_code_with_several_awaits_is_told_apart_by_where_it_waits():
    async def main():
        first, second = asyncio.Event(), asyncio.Event()

        async def two_waits():
            for _ in range(2):
                await first.wait()  # line A
                first.clear()
                await second.wait()  # line B
                second.clear()

        task = asyncio.create_task(two_waits(), name="two-waits")
        for _ in range(2):
            for event in (first, second):
                await asyncio.sleep(0)
                event.set()
        await task

    _, model = record_run(main)
    sites, lines = _wait_sites(model, "two-waits")
    assert len(lines) == 4 and lines[0] == lines[2] and lines[1] == lines[3]
    assert lines[1] == lines[0] + 2, sites


def test_a_helper_waiting_at_two_lines_under_one_line_of_the_task_is_told_apart():
    # The task's own line is the same, the helper's code too: only the helper's f_lasti says
    # which of its awaits it is suspended at.
    async def main():
        first, second = asyncio.Event(), asyncio.Event()

        async def helper():
            await first.wait()
            first.clear()
            await second.wait()
            second.clear()

        async def worker():
            for _ in range(3):
                await helper()  # one line

        task = asyncio.create_task(worker(), name="worker")
        for _ in range(3):
            for event in (first, second):
                await asyncio.sleep(0)
                event.set()
        await task

    _, model = record_run(main)
    sites, lines = _wait_sites(model, "worker")
    assert len(lines) == 6, sites
    assert lines[0::2] == [lines[0]] * 3 and lines[1::2] == [lines[0] + 2] * 3, sites

"""A damaged batch gives a TraceError, never another error, and the model stays usable.

A loop's batch of ints only is replayed as it is walked (see `Model.feed`), so its damage is met
part-way through; these tests damage real recorded batches every way a file can be.
"""

from __future__ import annotations

import asyncio
import copy
import io
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visualizer
from tests.conftest import replay_bytes
from visualizer.model import Model
from visualizer.model.replay import MAX_QUEUE
from visualizer.trace import schema
from visualizer.trace.reader import TraceError, all_ints, layout, read_stream


async def _program() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)

    async def producer() -> None:
        for i in range(20):
            await queue.put(i)
            await asyncio.sleep(0)

    async def consumer() -> None:
        for _ in range(20):
            await queue.get()
            await asyncio.sleep(0.002 if _ % 7 == 0 else 0)  # a flush: batches of ints follow

    loop = asyncio.get_running_loop()
    loop.call_soon(len, "a callback")
    await asyncio.gather(producer(), consumer(), asyncio.to_thread(sum, range(10)))


@cache
def _recorded() -> tuple[bytes, list[list[Any]]]:
    with visualizer.record() as recording:
        asyncio.run(_program())
    data = recording.data()
    return data, read_stream(io.BytesIO(data), "test trace").batches


def _int_batches() -> list[int]:
    _, batches = _recorded()
    return [i for i, batch in enumerate(batches) if batch[0] != 0 and all_ints(batch)]


def _busiest_with_steps() -> int:
    """The int-only batch with the most records among those holding task steps (which batch
    has the most records at all depends on the machine's timing)."""
    _, batches = _recorded()

    def steps(i: int) -> int:
        tb, starts = layout(batches[i])
        return sum(tb[at] in (schema.STEP_YIELD, schema.STEP_WAIT) for at in starts)

    return max((i for i in _int_batches() if steps(i)), key=lambda i: len(layout(batches[i])[1]))


def _use(model: Model) -> None:
    """What the viewer asks of a model: every view's numbers must still come."""
    model.at(model.end)
    model.state_counts()
    for task in model.tasks:
        (task.busy, task.scheduled_delay, task.longest_step, task.label, len(task.steps))
    for loop in model.loops.values():
        (loop.handles, loop.busy_time, model.series(loop.source).current)


def test_the_recording_has_int_only_batches_to_damage() -> None:
    assert len(_int_batches()) >= 2
    _busiest_with_steps()  # and one of them holds task steps


JUNK = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, *schema.ARITY, max(schema.ARITY) + 1]),
    st.sampled_from(["x", None, 1.5, [1], b"\x00", True]),
)


@pytest.mark.once  # the replay is the same Python code on every interpreter
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_damaged_int_batch_is_a_trace_error_or_replays(data: st.DataObject) -> None:
    _, batches = _recorded()
    batches = copy.deepcopy(batches)
    which = data.draw(st.sampled_from(_int_batches()), label="batch")
    batch = batches[which]
    how = data.draw(st.sampled_from(["cut", "replace", "delete", "insert"]), label="how")
    at = data.draw(st.integers(1, len(batch) - 1), label="at")
    if how == "cut":
        del batch[at:]
    elif how == "delete":
        del batch[at]
    elif how == "replace":
        batch[at] = data.draw(JUNK, label="value")
    else:
        batch.insert(at, data.draw(JUNK, label="value"))
    model = Model()
    try:
        model.feed_all(batches)
    except TraceError as exc:
        assert "\n" not in str(exc) and str(exc)
    _use(model)


def test_a_batch_cut_inside_a_record_is_named_and_what_came_before_it_stays() -> None:
    _, batches = _recorded()
    # the batch with the most records, cut inside its last step
    which = _busiest_with_steps()
    tb, starts = layout(batches[which])
    last_step = max(at for at in starts if tb[at] in (schema.STEP_YIELD, schema.STEP_WAIT))
    model = Model()
    model.feed_all(batches[:which])
    before = model.records
    with pytest.raises(TraceError, match="corrupt"):
        model.feed(list(tb[: last_step + 2]))  # the step without its qlen, and all after it
    assert model.records == before + starts.index(last_step)  # those before it replayed
    _use(model)


def test_a_str_where_an_int_belongs_is_refused_before_any_of_it_is_replayed() -> None:
    _, batches = _recorded()
    which = _int_batches()[-1]
    model = Model()
    model.feed_all(batches[:which])
    records = model.records
    damaged = copy.deepcopy(batches[which])
    damaged[-1] = "oops"
    with pytest.raises(TraceError, match="corrupt"):
        model.feed(damaged)
    assert model.records == records  # a batch with a str is checked whole, first
    _use(model)


def test_the_damage_never_reaches_a_whole_replay_of_the_same_trace() -> None:
    data, batches = _recorded()
    model = replay_bytes(data)
    again = Model()
    again.feed_all(batches)
    assert (again.records, again.start, again.end) == (model.records, model.start, model.end)
    assert [t.busy for t in again.tasks] == [t.busy for t in model.tasks]


def test_a_forged_queue_length_cannot_make_the_viewer_allocate_without_end() -> None:
    _, batches = _recorded()
    which = _busiest_with_steps()
    tb, starts = layout(batches[which])
    step = next(at for at in starts if tb[at] in (schema.STEP_YIELD, schema.STEP_WAIT))
    forged = list(tb)
    forged[step + 3] = 2**62  # its qlen: the ready queue's length after it
    model = Model()
    model.feed_all([*batches[:which], forged])
    assert len(model._replays[tb[0]].queue) <= MAX_QUEUE
    _use(model)


def test_a_step_done_with_an_outcome_no_recorder_writes_is_a_trace_error() -> None:
    _, batches = _recorded()
    batches = copy.deepcopy(batches)
    for batch in batches:
        if batch[0] == 0:
            continue
        tb, starts = layout(batch)
        done = [at for at in starts if tb[at] == schema.STEP_DONE]
        if done:
            batch[done[0] + 4] = 3  # kind, t, task, qlen, outcome
            break
    else:
        pytest.fail("the recorded program has no finished task step")
    model = Model()
    with pytest.raises(TraceError, match=r"unknown outcome \(3\)"):
        model.feed_all(batches)
    _use(model)

"""A loop's activity and counts over time, recorded as its records arrive.

Every series is time-ordered and kept in arrays of ints, a few per loop iteration at most, so
that a timeline can bisect to any window and a time cursor can ask what a count was at any t.
A count series holds a point only where the count changed: it is ``n[i]`` from ``t[i]`` until
the next point, and 0 before the first (see `value_at`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

# 'l' where a C long has 64 bits: arrays convert ints to it faster than to 'q'
INT64 = "l" if array("l").itemsize == 8 else "q"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A handle (task step or callback) that ran this long or longer is indexed as a "blocked" event.
LONG_HANDLE_NS = 1_000_000


class Activity(IntEnum):
    """What a loop does during one of its activity spans (`LoopSeries.kind`)."""

    SELECT = 0  # waiting in select: idle until I/O or a timer, or polling
    HANDLES = 1  # running the handles of an iteration


def _ints() -> array[int]:
    return array(INT64)


@dataclass(slots=True, eq=False)
class LoopSeries:
    """One loop over time. Spans and points are appended as records arrive, oldest first."""

    begin: array[int] = field(default_factory=_ints)
    """Activity spans, parallel with `end` and `kind`: when each began."""
    end: array[int] = field(default_factory=_ints)
    """When each activity span ended (the spans do not overlap)."""
    kind: array[int] = field(default_factory=lambda: array("b"))
    """`Activity` of each span: a select wait (SELECT.t -> t_end), or an iteration's handles
    (READY.t -> the end of its last handle; an iteration that ran none has no such span)."""
    current: tuple[int, Activity] | None = None
    """The span in progress, not in the arrays yet: ``(begin, activity)``: an iteration whose
    handles are still coming, or a select wait announced by IDLE."""
    iterations: array[int] = field(default_factory=_ints)
    """When each iteration's select returned: the iterations by t are ``bisect_right(., t)``."""
    ready_t: array[int] = field(default_factory=_ints)
    """Ready queue length, changes only, after each select, READY and handle: from when..."""
    ready_n: array[int] = field(default_factory=_ints)
    """...how many handles were queued."""
    timers_t: array[int] = field(default_factory=_ints)
    """Timers pending (added, neither cancelled nor due yet), changes only: from when..."""
    timers_n: array[int] = field(default_factory=_ints)
    """...how many."""
    fds_t: array[int] = field(default_factory=_ints)
    """I/O watchers (fd, read or write) registered, changes only: from when..."""
    fds_n: array[int] = field(default_factory=_ints)
    """...how many."""
    alive_t: array[int] = field(default_factory=_ints)
    """Tasks of this loop created and not ended yet, changes only: from when..."""
    alive_n: array[int] = field(default_factory=_ints)
    """...how many."""
    lag_t: array[int] = field(default_factory=_ints)
    """The longest scheduling delay so far in each second (see Loop.lag_series), at every
    task step that began a second or beat that second's longest: when the step began..."""
    lag_n: array[int] = field(default_factory=_ints)
    """...and the second's longest delay from then on (ns)."""
    long_begin: array[int] = field(default_factory=_ints)
    """Handles that ran at least LONG_HANDLE_NS, parallel with `long_end` and `long_task`:
    when each began."""
    long_end: array[int] = field(default_factory=_ints)
    """When each of those handles ended."""
    long_task: array[int] = field(default_factory=_ints)
    """The task whose step it was (its index in Model.tasks), or -1 for a callback."""

    def activity_at(self, t: int) -> Activity | None:
        """What the loop was doing at `t`; None between the two (its own bookkeeping, the I/O
        and timer phases) and while it was not running at all."""
        current = self.current
        if current is not None and t >= current[0]:
            return current[1]
        i = bisect_right(self.begin, t)
        if i and t < self.end[i - 1]:
            return Activity(self.kind[i - 1])
        return None

    def iterations_at(self, t: int) -> int:
        """How many iterations had ended their select by `t`."""
        return bisect_right(self.iterations, t)


def int64(value: int) -> int:
    """`value` as an INT64 array can hold it: only a damaged or forged trace has larger ones."""
    return max(INT64_MIN, min(value, INT64_MAX))


def append_int64(values: array[int], value: int) -> None:
    """Append `value` to an INT64 array, clamped if it must be."""
    try:
        values.append(value)
    except OverflowError:
        values.append(int64(value))


def extend_int64(values: array[int], items: Iterable[int]) -> None:
    """Append `items` to an INT64 array, clamped if they must be."""
    items = list(items)
    try:
        values.fromlist(items)
    except OverflowError:
        values.fromlist([int64(value) for value in items])


def value_at(series_t: array[int], series_n: array[int], t: int) -> int:
    """The value at `t` of a count series (its latest point at or before `t`; 0 before any)."""
    i = bisect_right(series_t, t)
    return series_n[i - 1] if i else 0

"""A viewing session: a trace source read into a model by a background thread.

The source is a trace file, complete or still being written by a program the session started.
The ingest thread feeds the model in batches under `lock`; views read the model under the same
lock.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..model import Model
from ..model.diagnose import Finding, Settings, by_task, diagnose
from ..model.replay import fewer_collections
from ..model.state import Held
from ..runner import RAW_STDERR, RAW_STDOUT
from ..trace.reader import FollowReader, TraceError, records

if TYPE_CHECKING:
    from ..runner import Program

POLL_INTERVAL = 0.05  # seconds between looks at a file that did not grow
MAX_READ = 4 << 20  # bytes read per poll, so the lock is never held long
SWITCH_INTERVAL = 0.0005  # seconds: how soon the UI thread gets the GIL back from ingest
DIAGNOSE_EVERY = 1.0  # seconds between runs of the warning rules while records arrive
WARM_TASKS = 500  # tasks prepared for time travel per hold of the lock, once a trace is read
RECENT = 400  # loop records kept for the stepper's narration...
RECENT_BATCH = 4096  # ...from batches this small (a stepped program flushes at every hold)


class Session:
    """One program run (or one trace file) and the model it is replayed into."""

    def __init__(
        self,
        trace_path: str,
        program: Program | None = None,
        *,
        title: str = "",
        settings: Settings | None = None,
    ) -> None:
        self.trace_path = trace_path
        self.program = program
        self.title = title or os.path.basename(trace_path)
        self.model = Model()
        self.lock = threading.RLock()
        self.version = 0  # bumped whenever the model changed
        self.error: str | None = None  # why reading stopped, in one line
        self.finished = False  # the source will bring nothing more
        self.started = time.monotonic()
        self.ended: float | None = None  # when the program was seen to end
        self.last_data = time.monotonic()  # when records last arrived
        self.cursor: int | None = None  # the time every view shows; None: live (now)
        self.cut = False  # the trace ends inside a batch: everything before it was read
        self.settings = settings or Settings()  # the warning rules' thresholds, rules off
        self.findings: list[Finding] = []  # the warnings, as of `findings_version`
        self.flagged: dict[int, list[Finding]] = {}  # task index -> its warnings
        self.findings_version = -1
        self._diagnosed_at = 0.0
        self.warmed = False  # every task prepared for time travel (a trace read to its end)
        self._frozen = False  # the model was moved out of the collector's way (gc.freeze)
        self.stepping = program is not None and program.step  # started held, for a stepper
        self.recent: deque[tuple[int, tuple[Any, ...]]] = deque(maxlen=RECENT)  # (source, rec)
        self._reader = FollowReader(trace_path)
        self._view_waiting = threading.Event()  # the UI wants the lock: ingest steps aside
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loopviz-ingest", daemon=True)

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.program is not None:
            self.program.start()
        # The ingest thread is CPU-bound; every time the UI thread blocks (a select, a write)
        # it waits a whole switch interval for the GIL back. At the default 5 ms a key press,
        # which takes many such hops through Textual, took seconds under load.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread.start()

    def close(self, grace: float = 1.0) -> None:
        """Stop the program if it still runs, and the ingest thread."""
        self._stop.set()
        if self.program is not None and self.program.pid is not None:
            self.program.stop(grace)
            self.program.finish()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._reader.close()
        if self._frozen:
            gc.unfreeze()  # back to the collector, with whatever else was frozen meanwhile
            self._frozen = False

    @contextmanager
    def view(self) -> Iterator[Model]:
        """Hold the model still while a view reads it; the view goes before ingest.

        A lock alone is not enough: the ingest thread would release it and take it again
        before the waiting UI thread wakes, and keys would wait for seconds under load.
        """
        self._view_waiting.set()
        try:
            with self.lock:
                self._view_waiting.clear()
                yield self.model
        finally:
            self._view_waiting.clear()

    @property
    def status(self) -> int | None:
        """The program's exit status (None while running, or when there is no program)."""
        return None if self.program is None else self.program.poll()

    def now(self) -> int:
        """The time views measure against: the clock while a program runs, else the trace's end.

        While everything sleeps nothing is recorded, yet time left and time idle go on.
        """
        if self.program is not None and self.status is None:
            if self.held() is not None:
                return self.model.end  # a stepper holds it: its clock stands still
            return max(self.model.end, time.perf_counter_ns() - self.model.held_ns)
        return self.model.end

    def held(self) -> Held | None:
        """Where a stepper holds the program's loop now, if it does."""
        source = self.held_loop()
        return None if source is None else self.model.loops[source].held

    def held_loop(self) -> int | None:
        """The source of the loop a stepper holds now, if any."""
        for source, loop in self.model.loops.items():
            if loop.held is not None:
                return source
        return None

    def steer(self, cmd: str, **fields: object) -> bool:
        """Send the stepper a command; False when there is no running program to steer."""
        if self.program is None or self.status is not None:
            return False
        self.program.send(cmd, **fields)
        return True

    def view_time(self) -> int:
        """The time the views show: the cursor's, or now when live."""
        return self.now() if self.cursor is None else self.cursor

    # -- ingest -------------------------------------------------------------------------------

    def _run(self) -> None:
        if self.program is None:  # a trace file: read in bulk, then kept as it is
            with fewer_collections():
                self._read()
            if self.warmed and not self._stop.is_set():
                gc.freeze()  # a million objects that live as long as the viewer: never scanned
                self._frozen = True
        else:
            self._read()

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                ended = self.status is not None or self.program is None
                got = self._ingest()
                if not got and ended:
                    # Nothing more will come: an incomplete batch at the end stays so (the
                    # program was killed mid-write, or the file was cut).
                    self.cut = self._reader.incomplete
                    self._finish()
                    self.diagnose()
                    self.finished = True
                    self._warm()
                    return
                if (
                    got
                    and self.program is not None  # a file's are found once it is read
                    and time.monotonic() - self._diagnosed_at >= DIAGNOSE_EVERY
                ):
                    self.diagnose()
                if not got:
                    if self.findings_version != self.version:
                        self.diagnose()  # quiet now: the warnings catch up with the model
                    self._stop.wait(POLL_INTERVAL)
        except TraceError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug in the model must not take the viewer down silently
            self.error = f"internal error while reading the trace: {exc!r}"
        finally:
            self.finished = True

    def diagnose(self) -> None:
        """Run the warning rules over the model as it is now (the ingest thread does this
        once a second while records arrive, and when they stop)."""
        with self.lock:
            version = self.version
            findings = diagnose(self.model, self.settings)
        self.flagged = by_task(findings)
        self.findings = findings
        self.findings_version = version
        self._diagnosed_at = time.monotonic()

    def _warm(self) -> None:
        """Prepare every task for time travel, a few hundred at a time: the views go first."""
        done = 0
        while not self._stop.is_set() and done < len(self.model.tasks):
            with self.lock:
                done = self.model.warm_time_travel(done, WARM_TASKS)
            if self._view_waiting.is_set():
                time.sleep(0.002)
        self.warmed = True

    def _ingest(self) -> bool:
        """Read and replay what was appended; True when anything arrived."""
        got = self._take_raw()
        batches = self._reader.poll(MAX_READ)
        if batches and not self.model.header and self._reader.header is not None:
            self.model.header = self._reader.header.meta
        if batches:
            for batch in batches:
                with self.lock:
                    self.model.feed(batch)
                    self.version += 1
                    if batch[0] and len(batch) < RECENT_BATCH:
                        # a stepped program's batches are small: keep them for the narration
                        self.recent.extend((batch[0], r) for r in records(batch, validate=False))
                if self._view_waiting.is_set():
                    time.sleep(0.002)  # let the UI thread take the lock and the GIL
            self.last_data = time.monotonic()
            got = True
        return got

    def _take_raw(self) -> bool:
        """Add what reached the program's fds below sys.stdout; True when there was some."""
        raw = self.program.take_output() if self.program is not None else []
        if raw:
            with self.lock:
                for t, fd, text in raw:
                    self.model.add_output(t, RAW_STDOUT if fd == 1 else RAW_STDERR, text)
                self.version += 1
        return bool(raw)

    def _finish(self) -> None:
        """The program ended and its trace was read to the end: record how it ended."""
        with self.lock:
            if self.program is not None:
                # what the parent saw is the truth (the agent can't record a SIGKILL)
                self.model.exit_status = self.program.poll()
                self.program.finish()  # drains the pipes: the last raw output is in now
                self._take_raw()
            self.version += 1
        self.ended = time.monotonic()

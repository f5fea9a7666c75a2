"""Run CPython's own test_asyncio with every event loop a recording loop (loopviz's recorder).

    python scripts/stdlib_asyncio.py [-j N] [--keep DIR] [-v]

The suite runs with the interpreter that runs this script (``sys.executable``), as
``python -m test test_asyncio -jN``, with ``scripts/stdlib/`` on PYTHONPATH: its sitecustomize
turns on, in every process, the hook ``loopviz record`` puts in a program: any selector loop
constructed is its recording subclass (``new_event_loop()``, ``asyncio.run()``,
``IsolatedAsyncioTestCase``, ``Runner(loop_factory=...)`` and the ``asyncio.SelectorEventLoop()``
most of test_events, test_sock_lowlevel, test_sendfile and test_server build themselves). It uses
no event loop policy, so 3.14+ (policies deprecated) is covered the same way. Each process leaves
a marker saying how many loops its trace holds; a run in which the hook did not take is an error,
not a pass.

Every test that fails or errors under the recorder (and every test file that crashed, timed out
or changed the environment) is then run again without the recorder, with the same interpreter.
Exit status: 0 when everything that failed recorded also fails plain, 1 when something fails only
under the recorder, 2 when the harness could not tell (recorder not active, no results).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_DIR = Path(__file__).resolve().parent / "stdlib"
MARKERS_ENV = "LOOPVIZ_STDLIB_MARKERS"

# Tests left out of both the recorded and the plain run, as regrtest --ignorefile patterns, with
# the reason. Empty: nothing in test_asyncio needs the internet unless regrtest is given
# `-u network`, and everything else runs on this machine, recorder or not.
EXCLUDED: dict[str, str] = {}

# The workers make over a thousand recording loops when the hook works; fewer than this many
# loops in their traces means it did not take.
MIN_LOOPS = 100
# A file regrtest's progress line reports with one of these did not fail.
OK_STATUSES = ("passed", "skipped", "resource denied", "run no tests", "no tests ran")
FIXTURES = {"setUpClass", "tearDownClass", "setUpModule", "tearDownModule"}

# "0:00:02 load avg: 1.39 [ 4/29/1] test_asyncio.test_futures passed -- running (1): ..."
# (regrtest splits test_asyncio into one job per file on 3.11.7+; older ones run it whole).
PROGRESS = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\]\s+(test_asyncio(?:\.\w+)?)\s+(.*)$")
REPORTED = re.compile(r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): (\w+) \(([\w.]+)\)")
TOTAL_TESTS = re.compile(r"^Total tests: (.*)$", re.MULTILINE)


@dataclasses.dataclass
class RunResult:
    """What one regrtest run said: counts, failing test ids, and each test file's status."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failed_ids: set[str] = dataclasses.field(default_factory=set)
    file_status: dict[str, str] = dataclasses.field(default_factory=dict)
    have_counts: bool = False
    returncode: int = 0
    seconds: float = 0.0

    def bad_files(self) -> dict[str, str]:
        """Test files whose status is neither passed nor skipped (failed, crashed, ...)."""
        return {
            name: status
            for name, status in self.file_status.items()
            if not status.startswith(OK_STATUSES)
        }


@dataclasses.dataclass
class Problem:
    """One thing that went wrong under the recorder: a test id, a fixture, or a whole file."""

    key: str
    test_file: str
    pattern: str
    kind: str  # "test", "fixture" (setUpClass...) or "file" (crashed, env changed, ...)
    fails_plain: bool = False


# -- running regrtest ------------------------------------------------------------------------


def regrtest(
    python: str,
    tests: list[str],
    workdir: Path,
    name: str,
    *,
    jobs: int,
    timeout: int,
    env: dict[str, str],
    matchfile: Path | None = None,
    verbose: bool = False,
) -> RunResult:
    """Run ``python -m test`` on `tests` in `workdir`, keep its output as ``<name>.log``."""
    xml_path = workdir / f"{name}.xml"
    log_path = workdir / f"{name}.log"
    cmd = [python, "-m", "test", *tests, f"-j{jobs}", "-W", f"--timeout={timeout}"]
    cmd += ["--junit-xml", str(xml_path)]
    if matchfile is not None:
        cmd += ["--matchfile", str(matchfile)]
    if EXCLUDED:
        ignore = workdir / "excluded.txt"
        ignore.write_text("".join(f"{pattern}\n" for pattern in EXCLUDED), encoding="utf-8")
        cmd += ["--ignorefile", str(ignore)]
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if verbose:
                print(f"  {line}", end="", flush=True)
        returncode = proc.wait()
    result = parse_run(log_path.read_text(encoding="utf-8"), xml_path)
    result.returncode = returncode
    result.seconds = time.monotonic() - started
    return result


def parse_run(output: str, xml_path: Path) -> RunResult:
    """Read counts and failing ids from regrtest's JUnit XML and its -W output."""
    result = RunResult()
    if xml_path.exists():
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError:
            root = None
        if root is not None:
            result.have_counts = True
            suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
            for suite in suites:
                result.tests += int(suite.get("tests", 0))
                result.failures += int(suite.get("failures", 0))
                result.errors += int(suite.get("errors", 0))
            for case in root.iter("testcase"):
                if case.find("skipped") is not None:
                    result.skipped += 1
                failed = case.find("failure") is not None or case.find("error") is not None
                outcome = case.find("outcome")
                if outcome is not None and outcome.text == "UNEXPECTED_SUCCESS":
                    failed = True
                if failed and case.get("name"):
                    result.failed_ids.add(case.get("name", ""))
    # regrtest's own "Total tests: run=N failures=F skipped=S" line: its skipped count is the
    # one to trust (3.12.1's XML leaves out tests skipped by a class decorator), and without XML
    # (regrtest itself died?) it is all there is. Its failures leave out errors: not used.
    totals = TOTAL_TESTS.findall(output)
    if totals:
        fields = dict(re.findall(r"(\w+)=([\d,]+)", totals[-1]))
        number = {key: int(value.replace(",", "")) for key, value in fields.items()}
        result.skipped = number.get("skipped", 0)
        if not result.have_counts:
            result.tests = number.get("run", 0)
            result.failures = number.get("failures", 0)
            result.have_counts = True
    for line in output.splitlines():
        match = REPORTED.match(line)
        if match:
            method, test_id = match.groups()
            # A fixture error names the class or module; subtest failures name the test.
            result.failed_ids.add(f"{method} ({test_id})" if method in FIXTURES else test_id)
            continue
        match = PROGRESS.search(line)
        if match:
            test_file, status = match.groups()
            result.file_status[test_file] = status.split(" -- ")[0].strip()
    return result


def file_of(test_id: str) -> str:
    """The test file of an id: ``test.test_asyncio.test_x.C.test_y`` -> ``test_asyncio.test_x``."""
    inner = test_id.split("(", 1)[1].rstrip(")") if "(" in test_id else test_id
    parts = inner.split(".")
    return ".".join(parts[1:3])


def problems_of(result: RunResult) -> list[Problem]:
    """Everything that failed in a run, each with the --matchfile pattern that reruns it."""
    problems = []
    files_with_ids = set()
    for key in sorted(result.failed_ids):
        test_file = file_of(key)
        files_with_ids.add(test_file)
        if "(" in key:  # a fixture: rerun the class or the module it belongs to
            pattern = key.split("(", 1)[1].rstrip(")") + ".*"
            problems.append(Problem(key, test_file, pattern, "fixture"))
        else:
            problems.append(Problem(key, test_file, key, "test"))
    for test_file, status in sorted(result.bad_files().items()):
        if test_file not in files_with_ids or unfinished(status):
            key = f"{test_file} ({status})"
            problems.append(Problem(key, test_file, f"test.{test_file}.*", "file"))
    return problems


def unfinished(status: str) -> bool:
    """Whether a test file's status says its worker died (crash, signal, timeout)."""
    status = status.lower()
    return "crash" in status or "exit code" in status or "timed out" in status


def still_fails(problem: Problem, plain: RunResult) -> bool:
    """Whether the plain rerun shows the same problem."""
    status = plain.file_status.get(problem.test_file, "")
    file_bad = bool(status) and not status.startswith(OK_STATUSES)
    if problem.kind == "file":
        return file_bad
    if problem.kind == "fixture":
        prefix = problem.pattern[:-1]
        return any(key.startswith(prefix) or problem.key == key for key in plain.failed_ids)
    file_has_ids = any(file_of(key) == problem.test_file for key in plain.failed_ids)
    return problem.key in plain.failed_ids or (file_bad and not file_has_ids)


# -- proving the recorder ran ------------------------------------------------------------------


def check_recorder(markers: Path, result: RunResult) -> tuple[list[str], str]:
    """Errors (empty when the recorder was really in place) and a one-line account of it."""
    found = []
    for path in sorted(markers.glob("*.json")):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    workers = [m for m in found if m.get("worker") and not m.get("forked")]
    errors = []
    if not workers:
        return ["no regrtest worker process reported in: the sitecustomize never ran"], ""
    loops = sum(int(m.get("loops", 0)) for m in workers)
    steps = sum(int(m.get("steps", 0)) for m in workers)
    size = sum(int(m.get("bytes", 0)) for m in workers)
    for marker in workers:
        if not marker.get("in_place"):
            errors.append(f"worker {marker.get('pid')}: the recording hook was undone")
        if marker.get("trace_error"):
            errors.append(f"worker {marker.get('pid')}: unreadable trace: {marker['trace_error']}")
    seen = {module.split(".", 1)[1] for m in workers for module in m.get("modules", ())}
    if seen:
        seen.add("test_asyncio")  # the whole package as one job, where regrtest does not split
    for test_file, status in sorted(result.file_status.items()):
        if status.startswith("passed") and test_file not in seen:
            errors.append(f"{test_file} passed in a worker that never reported the recorder")
    if loops < MIN_LOOPS:
        errors.append(f"the workers' traces hold only {loops} loops (expected >= {MIN_LOOPS})")
    account = (
        f"{len(workers)} worker processes recorded {loops:,} loops, "
        f"{steps:,} task steps, {size / 1e6:.1f} MB of trace "
        f"(+{len(found) - len(workers)} other Python processes the tests started)"
    )
    return errors, account


# -- main ------------------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """The environment for the plain runs: ours, minus anything that would load the recorder."""
    env = dict(os.environ)
    env.pop(MARKERS_ENV, None)
    return env


def recorded_env(markers: Path) -> dict[str, str]:
    """The environment that loads scripts/stdlib/sitecustomize.py in every Python process."""
    env = base_env()
    paths = [str(SITE_DIR)]
    if importlib.util.find_spec("visualizer") is None:
        paths.append(str(ROOT))  # not installed: let the workers import it from the checkout
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[MARKERS_ENV] = str(markers)
    return env


def describe(result: RunResult) -> str:
    """``run=N failures=F errors=E skipped=S`` plus the files that did not finish."""
    text = (
        f"run={result.tests:,} failures={result.failures} errors={result.errors} "
        f"skipped={result.skipped}"
    )
    died = {name: status for name, status in result.bad_files().items() if unfinished(status)}
    if died:
        text += " unfinished: " + ", ".join(f"{k} ({v})" for k, v in sorted(died.items()))
    return text + f" [{result.seconds:.0f} s]"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=2, help="regrtest workers (2)")
    parser.add_argument("--timeout", type=int, default=600, help="per test file, seconds")
    parser.add_argument("--keep", type=Path, help="keep logs, XML and markers in this directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="show regrtest's output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite recorded, rerun what failed plain; return the exit status."""
    args = parse_args(argv)
    python = sys.executable
    if args.keep is not None:
        workdir = args.keep.resolve()
        if workdir.exists() and any(workdir.iterdir()):
            if not (workdir / "recorded.log").exists():
                sys.exit(f"--keep {workdir}: not empty and not a previous run's; not touching it")
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="loopviz-stdlib-"))
    markers = workdir / "markers"
    markers.mkdir()
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"== CPython {version} test_asyncio under the recorder ({python}, -j{args.jobs})")

    recorded = regrtest(
        python,
        ["test_asyncio"],
        workdir,
        "recorded",
        jobs=args.jobs,
        timeout=args.timeout,
        env=recorded_env(markers),
        verbose=args.verbose,
    )
    print(f"recorded: {describe(recorded)}")
    errors, account = check_recorder(markers, recorded)
    if account:
        print(f"recorder: {account}")
    if not recorded.have_counts:
        errors.append(f"regrtest gave no results (exit status {recorded.returncode})")
    if errors:
        tail = (workdir / "recorded.log").read_text(encoding="utf-8").splitlines()[-15:]
        print("\n".join(f"  | {line}" for line in tail))
        for error in errors:
            print(f"ERROR: {error}")
        print(f"stdlib test_asyncio under the recorder: NOT VERIFIED (see {workdir})")
        return 2

    problems = problems_of(recorded)
    if problems:
        matchfile = workdir / "rerun.txt"
        patterns = sorted({problem.pattern for problem in problems})
        matchfile.write_text("".join(f"{p}\n" for p in patterns), encoding="utf-8")
        files = sorted({problem.test_file for problem in problems})
        plain = regrtest(
            python,
            files,
            workdir,
            "plain",
            jobs=args.jobs,
            timeout=args.timeout,
            env=base_env(),
            matchfile=matchfile,
            verbose=args.verbose,
        )
        print(f"plain rerun of {len(patterns)} failing tests/files: {describe(plain)}")
        for problem in problems:
            problem.fails_plain = still_fails(problem, plain)
            verdict = "fails plain too" if problem.fails_plain else "PASSES WITHOUT THE RECORDER"
            print(f"  {problem.key}: {verdict}")

    only_recorded = [problem for problem in problems if not problem.fails_plain]
    failed = recorded.failures + recorded.errors
    died = sum(1 for status in recorded.bad_files().values() if unfinished(status))
    what = f"{failed} failed"
    if died:
        what += f", {died} test file{'s' if died > 1 else ''} did not finish"
    if problems and not only_recorded:
        what += " (all also fail without it)"
    elif problems:
        what += f" ({len(only_recorded)} of these pass without it)"
    print(
        f"stdlib test_asyncio under the recorder: {recorded.tests:,} tests, {what}, "
        f"{recorded.skipped} skipped"
    )
    if only_recorded or args.keep is not None:
        print(f"logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if only_recorded else 0


if __name__ == "__main__":
    sys.exit(main())

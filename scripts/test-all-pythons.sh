#!/usr/bin/env bash
# Run the test suite on every Python 3.11+ here: pyenv's versions (or python3 alone where there is
# no pyenv), then CPython 3.14 and 3.15 from ../shared/tools/sid-python (a Debian sid root, built
# once per machine by `sid-python setup`, which .ci/run does). Each interpreter gets its own
# virtual environment under .venvs/X.Y (the sid ones work only inside the root). The first Python
# runs every test; the others leave out the tests marked `once`. A Python that cannot be set up
# is skipped, loudly; a summary table at the end says what each one did.
#
# Every test has a time limit (pyproject's [tool.pytest.ini_options]); each whole run also gets
# LOOPVIZ_RUN_LIMIT seconds (default 1200), for a hang that no signal interrupts.
set -u
cd "$(dirname "$0")/.."
SID=${SID_PYTHON:-../shared/tools/sid-python}
RUN_LIMIT=${LOOPVIZ_RUN_LIMIT:-1200}
# what the sid root's `run` passes on (it clears the environment but for PATH, HOME, LANG, TERM, CI)
PASS_ENV=(LOOPVIZ_SKIP_STDLIB LOOPVIZ_STDLIB_REPORT PYTEST_ADDOPTS)
# inside the project, which the sid root sees at the same path (its /tmp is its own)
logs=$PWD/.venvs/logs
rm -rf "$logs" && mkdir -p "$logs"
started_all=$(date +%s)

rows=()  # "version|result|seconds|test_asyncio's result" per Python, for the table
status=0
ran=0

loud() {  # a message that must not scroll by unseen
  echo
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! $*"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo
}

skip() {  # skip VERSION WHY (a skip is not a failure: the table and this banner say it)
  loud "Python $1: SKIPPED: $2"
  rows+=("$1|skipped: $2||")
}

# "12 failed, 300 passed, 3 skipped, 1 error in 100.00s" -> "300 passed, 12 failed, 3 skipped, 1 error"
counts() {
  local line n word out=()
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)' "$1" \
    | grep -E ' in [0-9.]+s' | tail -1)
  [ -n "$line" ] || { echo "no pytest summary"; return; }
  for word in passed failed skipped error errors xfailed xpassed; do
    n=$(grep -oE "[0-9]+ $word\b" <<<"$line" | head -1 | cut -d' ' -f1)
    [ -n "$n" ] && out+=("$n $word")
  done
  local IFS=,
  echo "${out[*]}" | sed 's/,/, /g'
}

# run_suite VERSION KIND PYTHON: the suite with PYTHON (KIND: host, or sid for the sid root), under
# the whole-run limit; adds a row to the table and sets the status.
run_suite() {
  local version=$1 kind=$2 python=$3 log="$logs/$1.log" rc t0 t1 result name cmd
  local args=(-m pytest -p no:cacheprovider)
  if [ "$ran" -eq 0 ]; then
    echo "== Python $version: test suite"
  else
    # Tests marked `once` give the same answer on every Python: the first one ran them.
    echo "== Python $version: test suite (tests marked once ran on the first Python)"
    args+=(-m "not once")
  fi
  export LOOPVIZ_STDLIB_REPORT="$logs/$version.stdlib"  # test_stdlib_asyncio's one-line result
  cmd=("$python")
  if [ "$kind" = sid ]; then
    cmd=("$SID" run "$version" env)
    for name in "${PASS_ENV[@]}"; do
      [ -n "${!name+set}" ] && cmd+=("$name=${!name}")
    done
    cmd+=("$python")
  fi
  t0=$(date +%s)
  # SIGABRT: pytest's faulthandler prints every thread's stack (where it hung) as it dies
  timeout -s ABRT -k 60 "$RUN_LIMIT" "${cmd[@]}" "${args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s)
  echo
  unset LOOPVIZ_STDLIB_REPORT
  result=$(counts "$log")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    result="TIMED OUT after ${RUN_LIMIT}s (${result})"
  elif [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc): $result"
  fi
  [ "$rc" -eq 0 ] || status=1
  rows+=("$version|$result|$((t1 - t0))|$(cat "$logs/$version.stdlib" 2>/dev/null)")
  ran=$((ran + 1))
}

# -- pyenv's Pythons (or python3 alone) ----------------------------------------------------------
pythons=()
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null); do
    case "$v" in
      3.1[1-9]*|3.[2-9][0-9]*) ;;
      *) continue ;;
    esac
    prefix=$(pyenv prefix "$v" 2>/dev/null) || continue
    [ -x "$prefix/bin/python3" ] && pythons+=("$prefix/bin/python3")
  done
fi
[ ${#pythons[@]} -eq 0 ] && command -v python3 >/dev/null 2>&1 && pythons=("$(command -v python3)")

for py in "${pythons[@]}"; do
  version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || continue
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "== skipping $py (Python $version is older than 3.11)"
    continue
  fi
  venv=".venvs/$version"
  if [ ! -x "$venv/bin/python" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    echo "== creating $venv"
    if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q -e '.[test]' \
        && touch "$venv/.installed"; }; then
      skip "$version" "cannot set up $venv ($py)"
      continue
    fi
  fi
  run_suite "$version" host "$venv/bin/python"
done

# -- CPython 3.14 and 3.15 in the sid root ---------------------------------------------------------
sid_versions=""
if [ ! -x "$SID" ]; then
  skip "3.14/3.15" "no $SID on this machine"
elif [ "$(id -u)" != 0 ]; then
  skip "3.14/3.15" "$SID needs root (chroot)"
else
  sid_versions=$("$SID" versions 2>/dev/null || true)
  [ -n "$sid_versions" ] || skip "3.14/3.15" \
    "the sid root is not set up (${LOOPVIZ_SID_SETUP:-run: $SID setup, as root, about 90 s})"
fi
for version in $sid_versions; do
  venv=".venvs/$version"
  if [ ! -x "$venv/bin/python" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    echo "== creating $venv (in the sid root)"
    # (one line: sid-python hands its arguments to sh, which would not read a quoted newline)
    setup="python3 -m venv $venv && $venv/bin/python -m pip install -q -e '.[test]'"
    if ! "$SID" run "$version" sh -c "$setup && touch $venv/.installed"; then
      skip "$version" "cannot set up $venv in the sid root"
      continue
    fi
  fi
  run_suite "$version" sid "$venv/bin/python"
done

# -- summary -----------------------------------------------------------------------------------------
echo
echo "== make test: each Python ($(( $(date +%s) - started_all ))s in all; logs in $logs)"
printf '   %-10s %-7s %s\n' Python time result
for row in "${rows[@]}"; do
  IFS='|' read -r version result seconds stdlib <<<"$row"
  printf '   %-10s %-7s %s\n' "$version" "${seconds:+${seconds}s}" "$result"
  [ -z "$stdlib" ] || printf '   %-10s %-7s %s\n' "" "" "${stdlib#stdlib }"
done
if [ "$ran" -eq 0 ]; then
  echo "no Python 3.11+ found"
  exit 1
fi
exit $status

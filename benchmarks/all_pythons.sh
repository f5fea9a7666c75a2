#!/usr/bin/env bash
# The recorder's budgets on every Python here, one after the other (never two at once: they
# would time each other): benchmarks/budgets.py on pyenv's 3.11+ and on 3.14/3.15 in the sid
# root (../shared/tools/sid-python), then one table of all of them.
#
#   bash benchmarks/all_pythons.sh [--quick] [--no-callgrind] [--callgrind-dir DIR]
#
# Each Python runs in .venvs/X.Y (or .venv, for its own version) when that has loopviz
# installed; else in a venv of its own under /tmp (inside the sid root for 3.14+: its /tmp).
# Logs go to $LOOPVIZ_BENCH_LOGS (default /tmp/loopviz-bench-all); a Python that cannot be set
# up is said loudly and skipped. Exits 0 whatever the ratios. --callgrind-dir DIR keeps the
# callgrind.out files in DIR/X.Y/ (for 3.14+ that is the sid root's DIR, unless under ../).
set -u
cd "$(dirname "$0")/.."
repo=$(pwd -P)
logs=${LOOPVIZ_BENCH_LOGS:-/tmp/loopviz-bench-all}
sid=${SID_PYTHON:-$repo/../shared/tools/sid-python}
mkdir -p "$logs"
rm -f "$logs"/budgets-*.log
ran=()
skipped=()

has_loopviz() {  # $1: a venv's python, run through the rest of the command line ($2...)
  local py=$1; shift
  "$@" "$py" -c 'import visualizer, msgspec' >/dev/null 2>&1 \
    && "$@" test -x "$(dirname "$py")/loopviz"
}

venv_for() {  # $1: X.Y, $2: the interpreter, $3...: how to run a command (empty, or sid-python run)
  local v=$1 py=$2; shift 2
  local candidate
  for candidate in ".venvs/$v/bin/python" ".venv/bin/python"; do
    [ -x "$candidate" ] || [ -L "$candidate" ] || continue
    [ "$("$@" "$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ] \
      || continue
    has_loopviz "$candidate" "$@" && { echo "$candidate"; return 0; }
  done
  local own="/tmp/loopviz-bench-venv-$v"
  if ! has_loopviz "$own/bin/python" "$@"; then
    echo "== $v: no .venvs/$v with loopviz: making $own" >&2
    "$@" "$py" -m venv "$own" >&2 && "$@" "$own/bin/python" -m pip install -q -e . >&2 \
      || return 1
  fi
  echo "$own/bin/python"
}

run_one() {  # $1: X.Y, $2: the interpreter, $3...: how to run a command
  local v=$1 py=$2; shift 2
  local venv log="$logs/budgets-$v.log"
  if ! venv=$(venv_for "$v" "$py" "$@"); then
    echo "== $v: CANNOT SET UP a venv with loopviz: skipped" | tee "$log" >&2
    skipped+=("$v")
    return
  fi
  echo "== Python $v: $venv benchmarks/budgets.py $*" >&2
  "$@" "$venv" benchmarks/budgets.py "${budget_args[@]}" 2>&1 | tee "$log"
  ran+=("$v")
}

budget_args=("$@")

if command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null); do
    case "$version" in 3.1[1-9]*|3.[2-9][0-9]*) ;; *) continue ;; esac
    prefix=$(pyenv prefix "$version" 2>/dev/null) || continue
    [ -x "$prefix/bin/python3" ] || continue
    run_one "${version%.*}" "$prefix/bin/python3"
  done
else
  py=$(command -v python3)
  run_one "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "$py"
fi

if [ -x "$sid" ] && [ -n "$("$sid" versions 2>/dev/null)" ]; then
  for version in $("$sid" versions); do
    if ! "$sid" run "$version" sh -c 'command -v valgrind' >/dev/null 2>&1; then
      echo "== $version: no valgrind in the sid root (chroot /opt/sid-python apt-get install -y valgrind): wall ratios only" >&2
    fi
    run_one "$version" "python$version" "$sid" run "$version"
  done
else
  echo "== NO SID ROOT: 3.14 and 3.15 not measured (sudo $sid setup)" >&2
  skipped+=("3.14" "3.15")
fi

echo
echo "== the budgets on every Python (logs in $logs)"
table_py=$(command -v python3)
[ -x .venv/bin/python ] && table_py=.venv/bin/python
"$table_py" benchmarks/budgets.py --table "$logs"/budgets-*.log
[ ${#skipped[@]} -gt 0 ] && echo "NOT MEASURED: ${skipped[*]}"
exit 0

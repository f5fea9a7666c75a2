#!/usr/bin/env bash
# Run the test suite on every Python 3.11+ here: pyenv's versions, or python3 alone.
# Each interpreter gets its own virtual environment under .venvs/; a missing one is skipped.
set -u
cd "$(dirname "$0")/.."
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
[ ${#pythons[@]} -eq 0 ] && pythons=("$(command -v python3)")

status=0
ran=0
for py in "${pythons[@]}"; do
  version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || continue
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "== skipping $py (Python $version is older than 3.11)"
    continue
  fi
  venv=".venvs/$version"
  if [ ! -x "$venv/bin/python" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    echo "== creating $venv"
    "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q -e '.[test]' \
      && touch "$venv/.installed" || { echo "== cannot set up $venv, skipping"; continue; }
  fi
  if [ "$ran" -eq 0 ]; then
    echo "== Python $version: test suite"
    "$venv/bin/python" -m pytest -p no:cacheprovider || status=1
  else
    # Tests marked `once` give the same answer on every Python: the first one ran them.
    echo "== Python $version: test suite (tests marked once ran on the first Python)"
    "$venv/bin/python" -m pytest -p no:cacheprovider -m "not once" || status=1
  fi
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "no Python 3.11+ found"
  exit 1
fi
exit $status

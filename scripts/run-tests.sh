#!/usr/bin/env bash
# The project's own tests on two cores: the unit tests (each module starts its own servers on
# free ports) run beside the lab suite (one lab on fixed ports, so one process), and their
# output is printed once the lab suite is done. The exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
base=$(mktemp -d /tmp/runbook-unit-tests.XXXXXX)
"$py" -m pytest -c tests/pytest.ini --rootdir=. --basetemp="$base/tmp" tests/unit \
    >"$base/unit.log" 2>&1 &
unit=$!
trap 'kill "$unit" 2>/dev/null' INT TERM
echo "== lab tests (the unit tests run beside them: $base/unit.log) =="
"$py" -m pytest -c tests/pytest.ini --rootdir=. tests/integration "$@"
lab=$?
wait "$unit"
units=$?
echo "== unit tests =="
cat "$base/unit.log"
if [ "$lab" -ne 0 ]; then exit "$lab"; fi
exit "$units"

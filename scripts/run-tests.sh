#!/usr/bin/env bash
# The project's own tests on two cores: two pytest-xdist workers share the test files (a file
# stays on one worker); each worker starts its own lab when it first meets a lab test (the
# second one on ports of its own, tests/integration/conftest.py), and the unit tests start
# their own servers on free ports. RUNBOOK_TEST_WORKERS sets how many workers.
set -uo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -c tests/pytest.ini --rootdir=. \
    -n "${RUNBOOK_TEST_WORKERS:-2}" --dist loadfile tests/unit tests/integration "$@"

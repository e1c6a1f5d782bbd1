#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12/13 machine, as root: installs what it needs, then runs pytest.
#   sudo tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./install.sh --packages-only
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest "$@"

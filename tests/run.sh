#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12/13 machine: installs what it needs, then runs pytest.
#   tests/run.sh [--checks] [pytest args]   (as root; a user with sudo is asked for it)
# --checks runs the static checks first (ruff, mypy, ansible-lint) and stops at the first finding; CI uses it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "tests/run.sh: must run as root (hint: su - and run it again)" >&2; exit 3; }
  exec sudo -- "$0" "$@"
fi
./install.sh --packages-only
# The browser tests drive Debian's own Chromium through its chromedriver, so nothing is downloaded at test time.
command -v chromedriver >/dev/null || apt-get install -y -qq --no-install-recommends chromium chromium-driver
# The review-loop test types into `harvestctl moderation review` in a real terminal, which tmux provides.
command -v tmux >/dev/null || apt-get install -y -qq --no-install-recommends tmux
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# The locked, hash-checked set (the appliance's plus test and lint tools), then this checkout itself.
"${pip[@]}" --require-hashes --no-deps -r configs/requirements/test.txt
"${pip[@]}" --no-deps -e .
.venv/bin/python -m pip check
if [ "${1:-}" = --checks ]; then
  shift
  echo "==> Static checks: ruff, mypy, ansible-lint" >&2
  export PATH="$PWD/.venv/bin:$PATH"
  .venv/bin/ruff check --no-cache .
  .venv/bin/ruff format --no-cache --check .
  .venv/bin/mypy
  .venv/bin/ansible-lint --offline -q playbooks
fi
exec .venv/bin/python -m pytest "$@"

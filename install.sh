#!/usr/bin/env bash
# Installs a Harvest appliance on this host and starts it:
#   ./install.sh                 everything under /
#   ./install.sh --root DIR      everything under DIR (tests, or a second appliance beside the first)
#   ./install.sh --packages-only only the Debian packages the appliance runs on (the test command uses it)
# Runs as root (a user with sudo is asked for it). Idempotent: run it again to upgrade the installed
# release; `harvestctl up` then restarts what changed.
set -euo pipefail

root=/
packages_only=false
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { printf 'install.sh: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; exit "${3:-1}"; }
step() { printf '==> %s\n' "$1" >&2; }
arguments=("$@")

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a folder" "./install.sh --root /srv/harvest" 64; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --packages-only) packages_only=true; shift ;;
    -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option $1" "see ./install.sh --help" 64 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "must run as root" "log in as root (su -) and run ./install.sh again" 3
  exec sudo -- "$0" "${arguments[@]}"
fi

# shellcheck disable=SC1091
. /etc/os-release
case "${ID:-}:${VERSION_ID:-}" in
  debian:12|debian:13) ;;
  *) die "unsupported system: ${PRETTY_NAME:-unknown}; Harvest runs on Debian 12 (bookworm) and 13 (trixie)" \
         "install on a Debian 12 or 13 host" 2 ;;
esac

mkdir -p "$root"
root=$(cd "$root" && pwd)
prefix=${root%/}   # "" for /, so paths read /opt/harvest rather than //opt/harvest

export DEBIAN_FRONTEND=noninteractive
step "Installing Debian packages"
valkey_release=()
if [ "$VERSION_CODENAME" = bookworm ]; then
  # valkey-server reaches Debian 12 through backports only.
  sources=/etc/apt/sources.list.d/bookworm-backports.sources
  [ -f "$sources" ] || printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$sources"
  valkey_release=(-t bookworm-backports)
fi
need_update=false
lists_age=$(( $(date +%s) - $(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0) ))
[ "$lists_age" -gt 3600 ] && need_update=true
if [ "$VERSION_CODENAME" = bookworm ] && ! compgen -G '/var/lib/apt/lists/*bookworm-backports*Packages*' >/dev/null; then
  need_update=true
fi
if $need_update; then apt-get update -qq; fi
apt-get install -y -qq --no-install-recommends \
  python3 python3-venv python3-apt ca-certificates openssl \
  postgresql-15 postgresql-contrib nginx >/dev/null
apt-get install -y -qq --no-install-recommends "${valkey_release[@]}" valkey-server >/dev/null
$packages_only && exit 0

release=$prefix/opt/harvest/src
venv=$prefix/opt/harvest/venv
step "Installing the release into $prefix/opt/harvest"
mkdir -p "$release"
for part in harvestctl server playbooks configs migrations; do rm -rf "${release:?}/$part"; done
tar -C "$here" --exclude='__pycache__' --exclude='*.pyc' \
  -cf - harvestctl server playbooks configs migrations pyproject.toml README.md | tar -C "$release" -xf -
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
# Exactly the locked, hash-checked set; the release itself adds no dependency of its own.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r "$release/configs/requirements/appliance.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$release"
"$venv/bin/python" -m pip check >/dev/null || die "the locked dependencies do not fit pyproject.toml" \
  "regenerate configs/requirements/*.txt (see README) and re-run ./install.sh"
"$venv/bin/python" -c 'import harvestctl, server' || die "the release did not install into $venv" "re-run ./install.sh; pip's output is above"

step "Putting harvestctl on PATH"
mkdir -p "$prefix/usr/local/bin"
cat > "$prefix/usr/local/bin/harvestctl" <<WRAPPER
#!/bin/sh
# Managed by install.sh: this appliance's harvestctl.
HARVEST_ROOT="$root" exec "$venv/bin/harvestctl" "\$@"
WRAPPER
chmod 0755 "$prefix/usr/local/bin/harvestctl"

step "Converging the appliance (harvestctl up)"
exec "$prefix/usr/local/bin/harvestctl" up

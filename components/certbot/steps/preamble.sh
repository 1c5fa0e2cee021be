# shellcheck shell=bash
# Start of every step script: strict mode, a bare PATH, progress helpers, OS detection and package helpers.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin
# The wrapper (scripts.as_remote_command) passes the session's $SSH_CONNECTION as the one argument: sudo drops it.
# shellcheck disable=SC2034 # read by the firewall step
SSH_CONNECTION_INFO=${1:-}
CHANGED=0
say() { printf '%s: %s\n' "$STEP" "$*"; }
changed() { CHANGED=1; say "$*"; }
fail() { printf '%s: ERROR: %s\n' "$STEP" "$*" >&2; exit 1; }
finish() {
  local status=$?
  if [ "$status" -eq 0 ]; then say "done (changed=$CHANGED)"; else printf '%s: failed (exit %s)\n' "$STEP" "$status" >&2; fi
}
trap finish EXIT

detect_os() {
  [ -r /etc/os-release ] || fail "cannot read /etc/os-release; set os_family explicitly"
  # shellcheck source=/dev/null
  OS_ID=$(. /etc/os-release && printf '%s' "${ID:-}")
  # shellcheck source=/dev/null
  OS_ID_LIKE=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
  # shellcheck source=/dev/null
  OS_VERSION=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
  OS_MAJOR=${OS_VERSION%%.*}
  if [ "$OS_FAMILY_WANTED" = auto ]; then
    case "$OS_ID" in
      ubuntu|debian|rhel|centos|rocky|almalinux|fedora) DISTRO=$OS_ID ;;
      *) fail "unsupported system ID=$OS_ID (ID_LIKE=$OS_ID_LIKE); supported: ubuntu, debian, rhel, centos, rocky, almalinux, fedora. If it is compatible with one of them, set os_family to that one" ;;
    esac
  else
    DISTRO=$OS_FAMILY_WANTED
    [ "$OS_ID" = "$DISTRO" ] || say "host reports ID=$OS_ID; treating it as $DISTRO as os_family says"
  fi
  case "$DISTRO" in
    ubuntu) FAMILY=debian; MIN_MAJOR=20 ;;
    debian) FAMILY=debian; MIN_MAJOR=11 ;;
    fedora) FAMILY=rhel; MIN_MAJOR=38 ;;
    *) FAMILY=rhel; MIN_MAJOR=8 ;;
  esac
  if ! [ "${OS_MAJOR:-0}" -ge "$MIN_MAJOR" ] 2>/dev/null; then
    fail "$DISTRO ${OS_VERSION:-unknown} is older than the oldest supported release ($DISTRO $MIN_MAJOR)"
  fi
  say "host is $DISTRO $OS_VERSION ($FAMILY family)"
}

pkg_installed() {
  if [ "$FAMILY" = debian ]; then
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
  else
    rpm -q "$1" >/dev/null 2>&1
  fi
}
pkg_install() {
  if [ "$FAMILY" = debian ]; then
    apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
  else
    dnf install -y -q "$@" >/dev/null
  fi
}
pkg_remove() {
  if [ "$FAMILY" = debian ]; then apt-get remove -y -qq "$@" >/dev/null; else dnf remove -y -q "$@" >/dev/null; fi
}

# What this component recorded on the host (firewall rules it added, its lineage, its account e-mail): one folder
# per CertbotHost, so two of them on one host never touch each other's records.
owner_dir() {
  install -d -m 0700 "$STATE_ROOT" "$STATE_ROOT/$OWNER"
  printf '%s' "$STATE_ROOT/$OWNER"
}

# firewalld: the zone of the interface that carries the default route (the public traffic), else the default zone.
# Rules go to this zone, and the certificate step's preflight reads the same one.
firewalld_zone() {
  local cmd=firewall-cmd device zone
  if ! firewall-cmd --state >/dev/null 2>&1; then cmd=firewall-offline-cmd; fi
  device=$(ip -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  if [ -n "$device" ] && zone=$("$cmd" --get-zone-of-interface="$device" 2>/dev/null) && [ -n "$zone" ]; then
    printf '%s' "$zone"
  else
    "$cmd" --get-default-zone
  fi
}

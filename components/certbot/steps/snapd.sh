# shellcheck shell=bash
# Body of the CertbotHost 'snapd' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
detect_os
if [ "$FAMILY" = debian ]; then
  if ! command -v snap >/dev/null 2>&1; then pkg_install snapd; changed "installed snapd"; fi
  if [ "$DISTRO" = debian ] && ! snap list snapd >/dev/null 2>&1; then
    snap install snapd >/dev/null
    changed "installed the snapd snap (current snapd on Debian)"
  fi
else
  case "$DISTRO" in
    fedora) ;;
    rhel)
      if ! pkg_installed epel-release; then
        dnf install -y -q "https://dl.fedoraproject.org/pub/epel/epel-release-latest-$OS_MAJOR.noarch.rpm" >/dev/null
        changed "installed EPEL $OS_MAJOR"
      fi
      if ! grep -qi '^codeready-builder' <<<"$(dnf repolist --enabled 2>/dev/null)"; then
        # Pay-as-you-go cloud RHEL is not registered: its repositories come from the cloud's RHUI, which has its
        # own CodeReady Builder repository (e.g. codeready-builder-for-rhel-9-rhui-rpms).
        RHUI_CRB=$(dnf repolist --all 2>/dev/null | awk 'tolower($1) ~ /^codeready-builder-for-rhel-[0-9]+-.*rhui.*-rpms$/ {print $1; exit}')
        if [ -n "$RHUI_CRB" ]; then
          dnf config-manager --set-enabled "$RHUI_CRB" >/dev/null
          changed "enabled CodeReady Builder from the cloud's RHUI ($RHUI_CRB)"
        elif subscription-manager status >/dev/null 2>&1; then
          subscription-manager repos --enable "codeready-builder-for-rhel-$OS_MAJOR-$(arch)-rpms" >/dev/null
          changed "enabled CodeReady Builder"
        else
          fail "this RHEL host is neither registered (subscription-manager status) nor served by a cloud RHUI with a CodeReady Builder repository (dnf repolist --all); register it, or enable CodeReady Builder for EPEL yourself"
        fi
      fi
      ;;
    *)
      if ! pkg_installed epel-release; then dnf install -y -q epel-release >/dev/null; changed "installed epel-release"; fi
      if ! grep -Eqi '^(crb|powertools)[[:space:]]' <<<"$(dnf repolist --enabled 2>/dev/null)"; then
        crb enable >/dev/null
        changed "enabled CRB"
      fi
      ;;
  esac
  if [ "$UPGRADE_SYSTEM" = true ]; then
    updates=0
    dnf -q check-update >/dev/null || updates=$?
    case "$updates" in
      0) ;;
      100) dnf upgrade -y -q >/dev/null; changed "upgraded the system packages" ;;
      *) fail "dnf check-update failed (exit $updates)" ;;
    esac
  fi
  if ! pkg_installed snapd; then
    dnf makecache -q >/dev/null
    pkg_install snapd
    changed "installed snapd"
  fi
  if ! systemctl is-active --quiet snapd.socket; then systemctl enable --now snapd.socket; changed "started snapd.socket"; fi
  if [ ! -e /snap ] && [ ! -L /snap ]; then ln -s /var/lib/snapd/snap /snap; changed "linked /snap to /var/lib/snapd/snap for classic snaps"; fi
fi
timeout 600 snap wait system seed.loaded
if ! snap list core >/dev/null 2>&1; then
  snap install core >/dev/null
  changed "installed the core snap"
elif grep -qx core <<<"$(awk 'NR > 1 {print $1}' <<<"$(snap refresh --list 2>/dev/null)")"; then
  snap refresh core >/dev/null
  changed "refreshed the core snap"
fi

"""Render the bash script of each CertbotHost step (pure, no pulumi import).

Layout of every script: ``set -euo pipefail`` and helpers, then every value as a ``shlex.quote``d
variable, then a static body that only reads those variables. Bodies check state before changing
anything, so a second run changes nothing; each line of output starts with the step's name and the
last line says whether anything changed. Facts behind the commands: ../shared/reference/certbot-hosts.md.
"""

from __future__ import annotations

import shlex
from typing import Optional, Sequence

from .spec import CertbotSpec

STEPS = ("firewall", "snapd", "certbot", "certificate", "renewal")
LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
RENEWAL_TIMER = "snap.certbot.renew.timer"
DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/dreamfactory-infra-reload"
VERIFIED_DIR = "/var/lib/dreamfactory-infra"

PREAMBLE = r"""set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin
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
"""

FIREWALL = r"""
detect_os
TOOL=$FIREWALL_WANTED
if [ "$TOOL" = auto ]; then
  if [ "$FAMILY" = debian ]; then TOOL=ufw; else TOOL=firewalld; fi
fi
if [ "$TOOL" = ufw ]; then
  if ! command -v ufw >/dev/null 2>&1; then pkg_install ufw; changed "installed ufw"; fi
  ADDED=$(ufw show added 2>/dev/null || true)
  # Pipes into `grep -q` are avoided throughout: grep exits at the first match, and with pipefail the
  # writer's SIGPIPE would turn a match into a failure.
  # SSH first, so enabling the firewall cannot cut the session that runs this script.
  for rule in "$SSH_PORT/tcp" 80/tcp 443/tcp "${EXTRA_PORTS[@]}"; do
    if ! grep -qxF "ufw allow $rule" <<<"$ADDED"; then
      ufw allow "$rule" >/dev/null
      changed "allowed $rule"
    fi
  done
  if ! grep -q '^Status: active' <<<"$(ufw status)"; then
    ufw --force enable >/dev/null
    changed "enabled ufw"
  fi
else
  if ! command -v firewall-cmd >/dev/null 2>&1; then pkg_install firewalld; changed "installed firewalld"; fi
  if systemctl is-active --quiet firewalld; then RUNNING=1; FW=(firewall-cmd --permanent); else RUNNING=0; FW=(firewall-offline-cmd); fi
  RELOAD=0
  allow() {
    if ! "${FW[@]}" --zone=public "--query-$1=$2" >/dev/null 2>&1; then
      "${FW[@]}" --zone=public "--add-$1=$2" >/dev/null
      changed "allowed $2 in the public zone"
      RELOAD=1
    fi
  }
  if [ "$SSH_PORT" = 22 ]; then allow service ssh; else allow port "$SSH_PORT/tcp"; fi
  allow service http
  allow service https
  for port in "${EXTRA_PORTS[@]}"; do allow port "$port"; done
  if [ "$RUNNING" = 0 ]; then
    systemctl enable --now firewalld
    changed "started firewalld"
  elif [ "$RELOAD" = 1 ]; then
    firewall-cmd --reload >/dev/null
  fi
fi
"""

SNAPD = r"""
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
        subscription-manager status >/dev/null 2>&1 \
          || fail "this RHEL host is not registered (subscription-manager status); register it so that CodeReady Builder can be enabled for EPEL"
        subscription-manager repos --enable "codeready-builder-for-rhel-$OS_MAJOR-$(arch)-rpms" >/dev/null
        changed "enabled CodeReady Builder"
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
"""

CERTBOT = r"""
detect_os
DISTRO_CERTBOT=()
for pkg in certbot python3-certbot-nginx python3-certbot-apache; do
  if pkg_installed "$pkg"; then DISTRO_CERTBOT+=("$pkg"); fi
done
if [ "${#DISTRO_CERTBOT[@]}" -gt 0 ]; then
  pkg_remove "${DISTRO_CERTBOT[@]}"
  changed "removed the distro packages ${DISTRO_CERTBOT[*]} (/etc/letsencrypt kept)"
fi
if ! snap list certbot >/dev/null 2>&1; then snap install --classic certbot >/dev/null; changed "installed the certbot snap"; fi
if [ "$(readlink /usr/bin/certbot 2>/dev/null || true)" != /snap/bin/certbot ]; then
  ln -sfn /snap/bin/certbot /usr/bin/certbot
  changed "linked /usr/bin/certbot to /snap/bin/certbot"
fi
say "$(/usr/bin/certbot --version 2>&1)"
"""

# Shared by the certificate and renewal steps: where the live certificate is, its serial, the private CA's
# bundle for certbot, and a certbot call that shows the tail of certbot's log when it fails.
CERTBOT_HELPERS = r"""
LIVE=/etc/letsencrypt/live/$CERT_NAME
if [ -n "$ACME_CA_BUNDLE" ]; then export REQUESTS_CA_BUNDLE=$ACME_CA_BUNDLE; fi
live_serial() {
  openssl x509 -in "$LIVE/cert.pem" -noout -serial | cut -d= -f2
}
certbot_or_fail() {
  local reason=$1
  shift
  if ! /usr/bin/certbot "$@"; then
    echo "---- tail of /var/log/letsencrypt/letsencrypt.log ----" >&2
    tail -n 40 /var/log/letsencrypt/letsencrypt.log >&2 || true
    fail "$reason"
  fi
}
"""

CERTIFICATE = r"""
detect_os
WANTED=$(printf '%s\n' "${DOMAINS[@]}" | sort -u)

certificate_names() {
  openssl x509 -in "$LIVE/cert.pem" -noout -text | grep -oE 'DNS:[^,[:space:]]+' | sed 's/^DNS://' | sort -u
}
issuing_server() {
  sed -n 's/^server *= *//p' "/etc/letsencrypt/renewal/$CERT_NAME.conf" 2>/dev/null | head -n 1
}
report() {
  local end
  end=$(openssl x509 -in "$LIVE/cert.pem" -noout -enddate | cut -d= -f2)
  echo "expires_at=$(date -u -d "$end" +%Y-%m-%dT%H:%M:%SZ)"
  echo "serial=$(live_serial)"
  echo "names=$(certificate_names | paste -sd, -)"
}
served_serial() {
  openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
# Ask this host's own port 443 for each name (SNI set) and compare with the live certificate. A reload can
# leave an old worker answering for a moment, so retry briefly. Installed mode must serve it; certonly may not.
verify_https() {
  local expected domain served attempt
  expected=$(live_serial)
  for domain in "${DOMAINS[@]}"; do
    served=""
    for attempt in 1 2 3 4 5; do
      served=$(served_serial "$domain" || true)
      if [ "$served" = "$expected" ] || [ "$CERTONLY" = true ]; then break; fi
      sleep "$attempt"
    done
    if [ "$served" != "$expected" ]; then
      if [ "$CERTONLY" = true ]; then
        say "https://$domain on this host does not serve the new certificate (serial ${served:-none}); certonly mode leaves serving it to you"
        echo "https_verified=false"
        return 0
      fi
      fail "https://$domain on this host serves serial ${served:-none}, not the live certificate $expected"
    fi
  done
  say "https on this host serves certificate $expected for ${DOMAINS[*]}"
  echo "https_verified=true"
}
is_public_ip() {
  case "$1" in
    127.*|10.*|192.168.*|169.254.*|172.1[6-9].*|172.2[0-9].*|172.3[01].*|100.6[4-9].*|100.[7-9][0-9].*|100.1[01][0-9].*|100.12[0-7].*) return 1 ;;
    ::1|fe80:*|fc*|fd*) return 1 ;;
    *) return 0 ;;
  esac
}

# 1. State: the live certificate's names (read from the certificate, not from certbot's wording) and issuer.
FORCE=()
if [ -f "$LIVE/cert.pem" ]; then
  HAVE=$(certificate_names)
  NOW_SERVER=$(issuing_server)
  if [ "$HAVE" = "$WANTED" ] && [ "$NOW_SERVER" = "$SERVER" ]; then
    say "certificate $CERT_NAME already covers ${DOMAINS[*]} from $SERVER; nothing requested"
    report
    verify_https
    exit 0
  fi
  if [ "$NOW_SERVER" != "$SERVER" ]; then
    if [ "$NOW_SERVER" = "$LETS_ENCRYPT_PRODUCTION" ]; then
      fail "certificate $CERT_NAME was issued by Let's Encrypt production; refusing to replace it with one from $SERVER (run certbot delete --cert-name $CERT_NAME on the host first if that is really wanted)"
    fi
    say "certificate $CERT_NAME was issued by ${NOW_SERVER:-an unknown CA}; replacing it once with one from $SERVER"
    FORCE=(--force-renewal)
  fi
fi

# 2. Pre-flight: fail here, not at the CA, whose failed-validation limit is 5 per hour.
PUBLIC_LOCAL=""
for address in $(ip -o addr show 2>/dev/null | awk '{print $4}' | cut -d/ -f1); do
  if is_public_ip "$address"; then PUBLIC_LOCAL="$PUBLIC_LOCAL $address"; fi
done
for domain in "${DOMAINS[@]}"; do
  resolved=$(getent ahosts "$domain" | awk '{print $1}' | sort -u || true)
  [ -n "$resolved" ] || fail "$domain does not resolve; create its A/AAAA record pointing at this host first"
  if [ -n "$PUBLIC_LOCAL" ]; then
    match=0
    for address in $resolved; do
      case " $PUBLIC_LOCAL " in *" $address "*) match=1 ;; esac
    done
    [ "$match" = 1 ] || fail "$domain resolves to ${resolved//$'\n'/ } but this host's public addresses are$PUBLIC_LOCAL; fix the DNS record so Let's Encrypt reaches this host"
  fi
done
UFW_STATUS=$(ufw status 2>/dev/null || true)
if grep -q '^Status: active' <<<"$UFW_STATUS"; then
  for port in 80 443; do
    grep -Eq "^($port(/tcp)?|Nginx Full|Apache Full|WWW Full)[[:space:]].*ALLOW" <<<"$UFW_STATUS" \
      || fail "ufw is active and does not allow $port/tcp; keep the firewall step enabled or run: ufw allow $port/tcp"
  done
elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
  for service in http https; do
    firewall-cmd --query-service="$service" >/dev/null 2>&1 \
      || fail "firewalld does not allow $service; keep the firewall step enabled or run: firewall-cmd --permanent --add-service=$service && firewall-cmd --reload"
  done
fi
case "$WEB_SERVER" in
  nginx)
    output=$(nginx -t 2>&1) || fail "nginx -t fails, so certbot would too; fix the nginx configuration: $output" ;;
  apache)
    ctl=apachectl; command -v apachectl >/dev/null 2>&1 || ctl=apache2ctl
    output=$("$ctl" configtest 2>&1) || fail "$ctl configtest fails, so certbot would too; fix the Apache configuration: $output" ;;
  standalone)
    if [ -n "$(ss -Htln 'sport = :80' 2>/dev/null)" ]; then
      fail "port 80 is in use, and standalone mode needs it free; stop the web server or use web_server nginx, apache or webroot"
    fi ;;
  webroot)
    [ -d "$WEBROOT_PATH" ] || fail "webroot_path $WEBROOT_PATH does not exist; point it at the document root the web server serves on port 80" ;;
esac

# DreamFactory's installer writes a <VirtualHost *:80> without ServerName; certbot's apache plugin then cannot
# tell which vhost serves which name and stops with "vhost ambiguity" for two or more domains (seen in the lab).
# Name the installer's vhost once, check the configuration, and put the original back if the check fails.
if [ "$WEB_SERVER" = apache ]; then
  if [ -d /etc/apache2/sites-enabled ]; then SITES=/etc/apache2/sites-enabled; else SITES=/etc/httpd/conf.d; fi
  if ! grep -EqRi "^[[:space:]]*Server(Name|Alias)[[:space:]]+([^#]*[[:space:]])?${DOMAINS[0]//./\\.}([[:space:]]|$)" "$SITES" 2>/dev/null; then
    mapfile -t UNNAMED < <(grep -lEi '^[[:space:]]*<VirtualHost[[:space:]]+[^>]*:80>' "$SITES"/*.conf 2>/dev/null \
      | while read -r site; do grep -qEi '^[[:space:]]*ServerName[[:space:]]' "$site" || echo "$site"; done)
    if [ "${#UNNAMED[@]}" -ne 1 ]; then
      fail "no Apache vhost names ${DOMAINS[0]} and ${#UNNAMED[@]} port-80 vhosts have no ServerName; add 'ServerName ${DOMAINS[0]}' (and ServerAlias for the other domains) to the <VirtualHost *:80> that serves DreamFactory"
    fi
    SITE=$(readlink -f "${UNNAMED[0]}")
    BACKUP=$VERIFIED_DIR/$(basename "$SITE").before-servername
    install -d -m 0700 "$VERIFIED_DIR"
    cp -p "$SITE" "$BACKUP"
    awk -v name="${DOMAINS[0]}" -v aliases="${DOMAINS[*]:1}" '
      { print }
      !done && tolower($0) ~ /^[[:space:]]*<virtualhost[[:space:]]+[^>]*:80>/ {
        print "    ServerName " name
        if (aliases != "") print "    ServerAlias " aliases
        done = 1
      }' "$BACKUP" > "$SITE"
    if ! output=$("$ctl" configtest 2>&1); then
      cp -p "$BACKUP" "$SITE"
      fail "adding ServerName to $SITE broke the Apache configuration, so the original was restored: $output"
    fi
    changed "named the vhost in $SITE: ServerName ${DOMAINS[0]}${DOMAINS[1]:+, ServerAlias ${DOMAINS[*]:1}} (original kept in $VERIFIED_DIR)"
  fi
fi

# 3. Issue: one request, never --force-renewal except for the guarded CA switch above.
ARGS=(--non-interactive --agree-tos -m "$EMAIL" --cert-name "$CERT_NAME")
for domain in "${DOMAINS[@]}"; do ARGS+=(-d "$domain"); done
if [ "$EFF_EMAIL" = true ]; then ARGS+=(--eff-email); else ARGS+=(--no-eff-email); fi
if [ "$STAGING" = true ]; then ARGS+=(--staging); fi
if [ -n "$ACME_SERVER" ]; then ARGS+=(--server "$ACME_SERVER"); fi
case "$WEB_SERVER" in
  webroot) PLUGIN=(--webroot -w "$WEBROOT_PATH") ;;
  *) PLUGIN=("--$WEB_SERVER") ;;
esac
if [ "$CERTONLY" = true ]; then VERB=(certonly); else VERB=(run --redirect); fi
say "requesting certificate $CERT_NAME for ${DOMAINS[*]} from $SERVER"
certbot_or_fail "certbot could not obtain the certificate (its output and log are above)" \
  "${VERB[@]}" "${PLUGIN[@]}" "${ARGS[@]}" "${FORCE[@]}"
changed "obtained certificate $CERT_NAME for ${DOMAINS[*]}"
report
verify_https
"""

RENEWAL = r"""
detect_os
[ -f "$LIVE/cert.pem" ] || fail "no certificate at $LIVE; the certificate step must succeed first"

if ! systemctl is-enabled --quiet "$RENEWAL_TIMER" || ! systemctl is-active --quiet "$RENEWAL_TIMER"; then
  systemctl enable --now "$RENEWAL_TIMER" || fail "$RENEWAL_TIMER cannot be started; check: snap services certbot"
  changed "enabled $RENEWAL_TIMER"
fi
echo "renewal_timer=$RENEWAL_TIMER"

# A renewed certificate is only served after a reload; the installers do it, certonly modes need this hook.
case "$WEB_SERVER" in
  nginx) HOOK_BODY='systemctl reload nginx 2>/dev/null || nginx -s reload' ;;
  apache) HOOK_BODY='systemctl reload apache2 2>/dev/null || systemctl reload httpd 2>/dev/null || apachectl graceful' ;;
  webroot) HOOK_BODY='if pgrep -x nginx >/dev/null; then systemctl reload nginx 2>/dev/null || nginx -s reload; fi
if pgrep -x apache2 >/dev/null || pgrep -x httpd >/dev/null; then systemctl reload apache2 2>/dev/null || systemctl reload httpd 2>/dev/null || apachectl graceful; fi' ;;
  *) HOOK_BODY='' ;;
esac
if [ -n "$HOOK_BODY" ]; then
  WANT_HOOK=$(printf '#!/bin/sh\n# Installed by dreamfactory-infra: reload the web server after a renewal.\n%s\n' "$HOOK_BODY")
  if [ "$(cat "$DEPLOY_HOOK" 2>/dev/null || true)" != "$WANT_HOOK" ]; then
    install -d -m 0755 "$(dirname "$DEPLOY_HOOK")"
    printf '%s\n' "$WANT_HOOK" > "$DEPLOY_HOOK"
    chmod 0755 "$DEPLOY_HOOK"
    changed "installed deploy hook $DEPLOY_HOOK"
  fi
elif [ -e "$DEPLOY_HOOK" ]; then
  rm -f "$DEPLOY_HOOK"
  changed "removed deploy hook $DEPLOY_HOOK (standalone serves nothing to reload)"
fi

# certbot renew --dry-run asks the CA for a throw-away certificate: once per live certificate, not every run.
SERIAL=$(live_serial)
STAMP="$SERIAL $SERVER"
VERIFIED=$VERIFIED_DIR/renewal-verified-$CERT_NAME
if [ "$(cat "$VERIFIED" 2>/dev/null || true)" = "$STAMP" ]; then
  say "renewal of serial $SERIAL was already verified"
else
  DRY=(renew --dry-run --no-random-sleep-on-renew --cert-name "$CERT_NAME")
  if [ -n "$ACME_SERVER" ]; then DRY+=(--server "$ACME_SERVER"); fi
  certbot_or_fail "certbot renew --dry-run failed: renewal would fail too" "${DRY[@]}"
  install -d -m 0755 "$VERIFIED_DIR"
  printf '%s\n' "$STAMP" > "$VERIFIED"
  say "verified renewal with certbot renew --dry-run"
fi
"""

BODIES = {"firewall": FIREWALL, "snapd": SNAPD, "certbot": CERTBOT, "certificate": CERTBOT_HELPERS + CERTIFICATE,
          "renewal": CERTBOT_HELPERS + RENEWAL}


def _assign(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{name}={shlex.quote('' if value is None else str(value))}"


def _array(name: str, values: Sequence[str]) -> str:
    return f"{name}=({' '.join(shlex.quote(value) for value in values)})"


def _variables(step: str, spec: CertbotSpec) -> list[str]:
    lines = [_assign("STEP", step), _assign("OS_FAMILY_WANTED", spec.os_family)]
    if step == "firewall":
        lines += [_assign("FIREWALL_WANTED", spec.firewall), _assign("SSH_PORT", spec.ssh_port),
                  _array("EXTRA_PORTS", spec.extra_ports)]
    elif step == "snapd":
        lines.append(_assign("UPGRADE_SYSTEM", spec.upgrade_system))
    elif step in ("certificate", "renewal"):
        lines += [
            _assign("CERT_NAME", spec.cert_name),
            _assign("WEB_SERVER", spec.web_server),
            _assign("ACME_SERVER", spec.acme_server),
            _assign("ACME_CA_BUNDLE", spec.acme_ca_bundle),
            _assign("SERVER", spec.server_url or LETS_ENCRYPT_PRODUCTION),
        ]
    if step == "certificate":
        lines += [
            _array("DOMAINS", spec.domains),
            _assign("EMAIL", spec.email),
            _assign("WEBROOT_PATH", spec.webroot_path),
            _assign("CERTONLY", spec.certonly),
            _assign("STAGING", spec.staging),
            _assign("EFF_EMAIL", spec.eff_email),
            _assign("LETS_ENCRYPT_PRODUCTION", LETS_ENCRYPT_PRODUCTION),
            _assign("VERIFIED_DIR", VERIFIED_DIR),
        ]
    elif step == "renewal":
        lines += [
            _assign("RENEWAL_TIMER", RENEWAL_TIMER),
            _assign("DEPLOY_HOOK", DEPLOY_HOOK),
            _assign("VERIFIED_DIR", VERIFIED_DIR),
        ]
    return lines


def render_script(step: str, spec: CertbotSpec) -> str:
    """The complete bash script of ``step`` for ``spec``."""
    if step not in BODIES:
        raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
    header = f"#!/usr/bin/env bash\n# dreamfactory-infra CertbotHost step: {step}\n"
    return header + PREAMBLE + "\n".join(_variables(step, spec)) + "\n" + BODIES[step]


def as_remote_command(script: str, sudo: bool) -> str:
    """What the SSH session runs: the script itself as root, or the script under ``sudo -n`` otherwise."""
    if not sudo:
        return script
    return (
        "sudo -n true 2>/dev/null || { echo 'the SSH user needs passwordless sudo (sudo -n) to run CertbotHost "
        "steps' >&2; exit 1; }\n"
        f"exec sudo -n bash -c {shlex.quote(script)}\n"
    )


def steps_for(spec: CertbotSpec) -> tuple[str, ...]:
    """The steps to run, in order; firewall="none" drops the firewall step."""
    return tuple(step for step in STEPS if step != "firewall" or spec.firewall != "none")


def parse_outputs(stdout: Optional[str]) -> dict[str, str]:
    """``key=value`` lines a step printed (expires_at, serial, names, renewal_timer)."""
    values: dict[str, str] = {}
    for line in (stdout or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier() and " " not in key:
            values[key] = value.strip()
    return values

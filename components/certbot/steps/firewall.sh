# shellcheck shell=bash
# Body of the CertbotHost 'firewall' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
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

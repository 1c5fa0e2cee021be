# shellcheck shell=bash
# Body of the CertbotHost 'firewall' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
#
# Rules: never lock the operator out, and only undo what this component did.
# - A firewall this step enables first allows every port sshd listens on, the port this session reached sshd on
#   (after NAT or a load balancer) and connection.port; before enabling it, listening services it would cut refuse.
# - An already-active firewall only gets 80, 443 and extra_ports: its SSH rules are the operator's, never widened.
# - Every rule added is recorded in the owner folder; extra ports dropped from extra_ports are closed again, and only
#   when this component opened them. A port sshd listens on, connection.port, 80 and 443 are never closed, whatever
#   the record says (an earlier version recorded sshd's port as an extra port when extra_ports listed it too).
detect_os
TOOL=$FIREWALL_WANTED
if [ "$TOOL" = auto ]; then
  if [ "$FAMILY" = debian ]; then TOOL=ufw; else TOOL=firewalld; fi
fi
RECORD=$(owner_dir)/firewall-rules
touch "$RECORD"

ssh_ports() {
  {
    printf '%s\n' "$CONNECTION_PORT"
    if [ -n "$SSH_CONNECTION_INFO" ]; then printf '%s\n' "${SSH_CONNECTION_INFO##* }"; fi
    sshd -T 2>/dev/null | awk '$1 == "port" {print $2}' || true
    ss -Htlnp 2>/dev/null | awk '/"sshd"/ {n = split($4, part, ":"); print part[n]}' || true
  } | grep -E '^[0-9]+$' | sort -un
}
# "port/proto address" of every socket listening on a non-loopback address. DHCP clients (68/udp, 546/udp) are
# left out: both firewalls' default rules let their replies in.
public_listeners() {
  ss -Htuln 2>/dev/null | awk '{
    local = $5; n = split(local, part, ":"); port = part[n]
    address = substr(local, 1, length(local) - length(port) - 1); sub(/%.*/, "", address); gsub(/[][]/, "", address)
    if (address ~ /^(::ffff:)?127\./ || address == "::1") next  # loopback, also as an IPv4-mapped address
    if (($1 == "udp") && (port == 68 || port == 546)) next
    print port "/" $1, address
  }' | sort -u
}
# Refuse before enabling a deny-by-default firewall that would cut a listening service nobody asked to keep.
check_listeners() {
  local allowed=" $* " cut="" port_proto address
  while read -r port_proto address; do
    [ -n "$port_proto" ] || continue
    case "$allowed" in *" $port_proto "*) ;; *) cut="$cut $port_proto ($address)" ;; esac
  done <<<"$(public_listeners)"
  if [ -n "$cut" ] && [ "$BLOCK_OTHER_SERVICES" != true ]; then
    fail "enabling $TOOL (incoming denied by default) would cut services listening on:$cut. Add their ports to extra_ports to keep them reachable, or set block_other_services=True to block them; nothing was changed"
  fi
  if [ -n "$cut" ]; then say "block_other_services=True: blocking$cut"; fi
}
own() { grep -qxF "$1" "$RECORD" || printf '%s\n' "$1" >> "$RECORD"; }
forget() { grep -vxF "$1" "$RECORD" > "$RECORD.new" || true; mv "$RECORD.new" "$RECORD"; }
listed() {  # port/proto, list...
  local wanted=$1 port
  shift
  for port in "$@"; do [ "$port" = "$wanted" ] && return 0; done
  return 1
}
# Close what this component opened for extra_ports and nobody asks for any more, with each tool's remove().
# Recorded rules are "extra 8443/tcp" (ufw) or "extra port 8443/tcp" (firewalld).
close_dropped_extras() {  # where (for the message)
  local kind rule port
  while read -r kind rule; do
    port=${rule#port }
    if [ "$kind" != extra ] || listed "$port" "${EXTRA_PORTS[@]}"; then continue; fi
    if listed "$port" "${NEVER_CLOSED[@]}"; then
      forget "$kind $rule"
      say "kept $port open$1: no longer in extra_ports, but SSH (sshd, connection.port) or HTTP(S) needs it"
      continue
    fi
    remove "$rule"
    forget "$kind $rule"
    changed "closed $port$1 (no longer in extra_ports; this component had opened it)"
  done < "$RECORD"
}

mapfile -t SSHD_PORTS < <(ssh_ports)
WEB_RULES=(80/tcp 443/tcp)
NEVER_CLOSED=("${SSHD_PORTS[@]/%//tcp}" "${WEB_RULES[@]}")

if [ "$TOOL" = ufw ]; then
  if ! command -v ufw >/dev/null 2>&1; then pkg_install ufw; changed "installed ufw"; fi
  # Pipes into `grep -q` are avoided throughout: grep exits at the first match, and with pipefail the
  # writer's SIGPIPE would turn a match into a failure.
  ADDED=$(ufw show added 2>/dev/null || true)
  has_rule() { grep -qxF "ufw allow $1" <<<"$ADDED"; }
  allow() {  # kind rule
    if ! has_rule "$2"; then
      ufw allow "$2" >/dev/null
      ADDED+=$'\n'"ufw allow $2"  # one rule is recorded once, under the kind that added it
      own "$1 $2"
      changed "allowed $2"
    fi
  }
  if grep -q '^Status: active' <<<"$(ufw status)"; then
    ENABLE=0
  else
    ENABLE=1
    SSH_RULES=()
    for port in "${SSHD_PORTS[@]}"; do SSH_RULES+=("$port/tcp"); done
    check_listeners "${SSH_RULES[@]}" "${WEB_RULES[@]}" "${EXTRA_PORTS[@]}"
    # SSH first, so enabling the firewall cannot cut the session that runs this script.
    for rule in "${SSH_RULES[@]}"; do allow ssh "$rule"; done
  fi
  for rule in "${WEB_RULES[@]}"; do allow web "$rule"; done
  for rule in "${EXTRA_PORTS[@]}"; do allow extra "$rule"; done
  remove() { ufw delete allow "$1" >/dev/null; }
  close_dropped_extras ""
  if [ "$ENABLE" = 1 ]; then
    ufw --force enable >/dev/null
    changed "enabled ufw (SSH allowed on ${SSHD_PORTS[*]})"
  fi
else
  if ! command -v firewall-cmd >/dev/null 2>&1; then pkg_install firewalld; changed "installed firewalld"; fi
  if systemctl is-active --quiet firewalld; then RUNNING=1; else RUNNING=0; fi
  ZONE=$(firewalld_zone)
  say "firewalld zone $ZONE"
  # Running: change the permanent and the runtime configuration each (no --reload, which would drop runtime-only
  # rules such as fail2ban's). Stopped: the permanent one, which starting firewalld loads.
  if [ "$RUNNING" = 1 ]; then LAYERS=("firewall-cmd --permanent" "firewall-cmd"); else LAYERS=("firewall-offline-cmd"); fi
  fw_rule() {  # "service http" or "port 8443/tcp"
    local kind=${1%% *} value=${1#* }
    printf -- '--%s=%s' "$kind" "$value"
  }
  allow() {  # kind rule
    local layer option added=0
    option=$(fw_rule "$2")
    for layer in "${LAYERS[@]}"; do
      # shellcheck disable=SC2086 # a command and its flag
      if ! $layer --zone="$ZONE" "--query-${option#--}" >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        $layer --zone="$ZONE" "--add-${option#--}" >/dev/null
        added=1
      fi
    done
    if [ "$added" = 1 ]; then
      own "$1 $2"
      changed "allowed ${2#* } in zone $ZONE"
    fi
  }
  remove() {  # rule
    local layer option
    option=$(fw_rule "$1")
    for layer in "${LAYERS[@]}"; do
      # shellcheck disable=SC2086
      if $layer --zone="$ZONE" "--query-${option#--}" >/dev/null 2>&1; then $layer --zone="$ZONE" "--remove-${option#--}" >/dev/null; fi
    done
  }
  if [ "$RUNNING" = 0 ]; then
    SSH_RULES=()
    for port in "${SSHD_PORTS[@]}"; do
      if [ "$port" = 22 ]; then SSH_RULES+=("service ssh"); else SSH_RULES+=("port $port/tcp"); fi
    done
    check_listeners "${SSHD_PORTS[@]/%//tcp}" "${WEB_RULES[@]}" "${EXTRA_PORTS[@]}"
    for rule in "${SSH_RULES[@]}"; do allow ssh "$rule"; done
  fi
  allow web "service http"
  allow web "service https"
  for port in "${EXTRA_PORTS[@]}"; do allow extra "port $port"; done
  close_dropped_extras " in zone $ZONE"
  if [ "$RUNNING" = 0 ]; then
    systemctl enable --now firewalld
    changed "started firewalld (SSH allowed on ${SSHD_PORTS[*]})"
  fi
fi

# shellcheck shell=bash
# Body of the CertbotHost 'certificate' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then certbot_helpers.sh, lineage.sh and
# this body.
#
# Converges whatever changed since the last run, and asks the CA for a certificate only when the names or the CA
# changed: the web server mode (the lineage's renewal configuration follows, with its hooks), certonly -> installed
# (the existing certificate is installed, no new order), the Apache names this component manages, the account
# e-mail. An installed certificate that HTTPS does not serve fails the step on every run until it is fixed.
detect_os
WANTED=$(printf '%s\n' "${DOMAINS[@]}" | sort -u)

report() {
  echo "cert_name=$CERT_NAME"
  echo "expires_at=$(expires_at)"
  echo "serial=$(live_serial)"
  echo "names=$(certificate_names | paste -sd, -)"
}
# The names whose HTTPS answer (SNI, this host's port 443) is not the live certificate in a chain that verifies for
# the name, given as many tries per name as the first argument: a reload can leave an old worker answering for a
# moment. Staging certificates chain to a root no client trusts, so there only the serial counts.
unserved_names() {
  local tries=$1 expected domain attempt tls serial code
  expected=$(live_serial)
  for domain in "${DOMAINS[@]}"; do
    for attempt in $(seq "$tries"); do
      tls=$(served_tls "$domain")
      serial=${tls% *}
      code=${tls#* }
      if [ "$serial" = "$expected" ] && { [ "$code" = 0 ] || [ "$STAGING" = true ]; }; then break; fi
      [ "$attempt" = "$tries" ] || sleep "$attempt"
    done
    if [ "$serial" != "$expected" ]; then
      printf '%s(serves %s) ' "$domain" "${serial/#-/nothing}"
    elif [ "$code" != 0 ] && [ "$STAGING" != true ]; then
      printf '%s(chain does not verify: openssl verify error %s) ' "$domain" "$code"
    fi
  done
}
verify_https() {
  local missing
  # certonly: one try per name, the operator may never serve it; installed: it must be served.
  if [ "$CERTONLY" = true ]; then missing=$(unserved_names 1); else missing=$(unserved_names 4); fi
  if [ -z "$missing" ]; then
    say "https on this host serves certificate $(live_serial) for ${DOMAINS[*]}"
    echo "https_verified=true"
  elif [ "$CERTONLY" = true ]; then
    say "https on this host does not serve the live certificate for: $missing; certonly mode leaves serving it to you"
    echo "https_verified=false"
  elif [[ "$missing" != *"(serves "* ]]; then
    # The live certificate is served but its chain does not verify: an untrusted live certificate (one made by hand,
    # which the renewal step replaces) or a CA outside the trust store. The health check judges it after all steps.
    say "https on this host serves the live certificate, in a chain that does not verify, for: $missing"
    echo "https_verified=false"
  else
    fail "https on this host serves another certificate than the live one ($(live_serial)) for: $missing"
  fi
}
apache_ctl() { if command -v apachectl >/dev/null 2>&1; then echo apachectl; else echo apache2ctl; fi; }
config_test() {  # nginx|apache: fail here, not half-way through certbot
  local output
  case "$1" in
    nginx) output=$(nginx -t 2>&1) || fail "nginx -t fails, so certbot and the reload after it would too; fix the nginx configuration: $output" ;;
    apache) output=$("$(apache_ctl)" configtest 2>&1) || fail "$(apache_ctl) configtest fails, so certbot would too; fix the Apache configuration: $output" ;;
  esac
}
reload_apache() { systemctl reload apache2 2>/dev/null || systemctl reload httpd 2>/dev/null || "$(apache_ctl)" graceful; }
port80_server() {  # the web server (systemd unit name) holding port 80, if it is one we know how to stop
  local holder
  holder=$(ss -Htlnp 'sport = :80' 2>/dev/null | grep -oE 'users:\(\("[^"]+"' | head -n 1 | cut -d'"' -f2 || true)
  case "$holder" in
    "") ;;
    nginx) echo nginx ;;
    apache2|httpd) echo "$holder" ;;
    *) echo "unknown:$holder" ;;
  esac
}

# --- What the lineage's renewal configuration must say for this mode -------------------------------------------
# Stored by certbot in /etc/letsencrypt/renewal/<name>.conf, per lineage (two CertbotHosts never share a hook).
PRE_HOOK=""; POST_HOOK=""; DEPLOY_HOOK=""
# webroot and standalone have no installer: one left from an nginx/apache past would edit that server's
# configuration at every renewal. certbot's "null" installer is its way of saying none.
NO_INSTALLER=(--installer=null)
case "$WEB_SERVER" in
  nginx|apache) AUTH=$WEB_SERVER; PLUGIN=("--$WEB_SERVER"); NO_INSTALLER=() ;;  # the installer reloads the server
  webroot)
    AUTH=webroot; PLUGIN=(--webroot --webroot-path="$WEBROOT_PATH")
    # certbot checks that a hook's first word is a command, so the reload runs under sh -c.
    DEPLOY_HOOK="sh -c 'if pgrep -x nginx >/dev/null; then systemctl reload nginx || nginx -s reload; fi; if pgrep -x apache2 >/dev/null || pgrep -x httpd >/dev/null; then systemctl reload apache2 || systemctl reload httpd || apachectl graceful; fi'" ;;
  standalone)
    AUTH=standalone; PLUGIN=(--standalone)
    # The web server holding port 80 (DreamFactory's) is stopped for the challenge and started again after it.
    HOLDER=$(port80_server)
    case "$HOLDER" in
      unknown:*) fail "port 80 is held by ${HOLDER#unknown:}, which standalone mode cannot stop and start; free port 80 or use web_server nginx, apache or webroot" ;;
      "") PRE_HOOK=$(renewal_value pre_hook); POST_HOOK=$(renewal_value post_hook) ;;  # server down now: keep what is stored
      *) PRE_HOOK="systemctl stop $HOLDER"; POST_HOOK="systemctl start $HOLDER" ;;
    esac ;;
esac
HOOK_ARGS=()  # for an order: only the hooks this mode has
if [ -n "$PRE_HOOK" ]; then HOOK_ARGS+=(--pre-hook="$PRE_HOOK" --post-hook="$POST_HOOK"); fi
if [ -n "$DEPLOY_HOOK" ]; then HOOK_ARGS+=(--deploy-hook="$DEPLOY_HOOK"); fi
SERVER_ARGS=()
if [ "$STAGING" = true ]; then SERVER_ARGS+=(--staging); fi
if [ -n "$ACME_SERVER" ]; then SERVER_ARGS+=(--server="$ACME_SERVER"); fi

# --- Apache: the vhost whose names this component manages ---------------------------------------------------------
# DreamFactory's installer writes a <VirtualHost *:80> without ServerName; certbot's apache plugin then cannot tell
# which vhost serves which name ("vhost ambiguity" for two or more domains). The step names that vhost once
# (recorded in the owner folder) and from then on keeps its ServerName/ServerAlias, and those of the SSL vhost
# certbot made from it, equal to `domains`. Every edit is config-tested and undone if the test fails.
apache_sites_dir() { if [ -d /etc/apache2/sites-enabled ]; then echo /etc/apache2/sites-enabled; else echo /etc/httpd/conf.d; fi; }
apache_named() {  # the file's names, as this component writes them
  local aliases="${DOMAINS[*]:1}"
  awk -v name="${DOMAINS[0]}" -v aliases="$aliases" '
    tolower($0) ~ /^[[:space:]]*server(name|alias)[[:space:]]/ { next }
    { print }
    tolower($0) ~ /^[[:space:]]*<virtualhost[[:space:]]/ {
      print "    ServerName " name
      if (aliases != "") print "    ServerAlias " aliases
    }' "$1"
}
manage_apache_names() {
  local record=$OWNER_DIR/apache-site sites site twin file edited=() backup
  sites=$(apache_sites_dir)
  if [ -s "$record" ]; then
    site=$(cat "$record")
  elif ! grep -EqRi "^[[:space:]]*Server(Name|Alias)[[:space:]]+([^#]*[[:space:]])?${DOMAINS[0]//./\\.}([[:space:]]|$)" "$sites" 2>/dev/null; then
    mapfile -t UNNAMED < <(grep -lEi '^[[:space:]]*<VirtualHost[[:space:]]+[^>]*:80>' "$sites"/*.conf 2>/dev/null \
      | while read -r candidate; do grep -qEi '^[[:space:]]*ServerName[[:space:]]' "$candidate" || echo "$candidate"; done)
    if [ "${#UNNAMED[@]}" -ne 1 ]; then
      fail "no Apache vhost names ${DOMAINS[0]} and ${#UNNAMED[@]} port-80 vhosts have no ServerName; add 'ServerName ${DOMAINS[0]}' (and ServerAlias for the other domains) to the <VirtualHost *:80> that serves DreamFactory"
    fi
    site=$(readlink -f "${UNNAMED[0]}")
  else
    return 0  # the operator names the vhost; not ours to edit
  fi
  [ -f "$site" ] || fail "the Apache vhost file this host's CertbotHost manages, $site, is gone; restore it or remove $record"
  twin=""
  for file in /etc/apache2/sites-*/"$(basename "$site" .conf)-le-ssl.conf" "$(dirname "$site")/$(basename "$site" .conf)-le-ssl.conf"; do
    if [ -f "$file" ]; then twin=$(readlink -f "$file"); break; fi
  done
  for file in "$site" $twin; do
    if [ "$(apache_named "$file")" != "$(cat "$file")" ]; then
      backup=$OWNER_DIR/$(basename "$file").before
      cp -p "$file" "$backup"
      apache_named "$backup" > "$file"
      edited+=("$file")
    fi
  done
  printf '%s\n' "$site" > "$record"
  if [ "${#edited[@]}" -gt 0 ]; then
    if ! output=$("$(apache_ctl)" configtest 2>&1); then
      for file in "${edited[@]}"; do cp -p "$OWNER_DIR/$(basename "$file").before" "$file"; done
      fail "setting ServerName/ServerAlias in ${edited[*]} broke the Apache configuration, so the originals were restored: $output"
    fi
    if pgrep -x apache2 >/dev/null || pgrep -x httpd >/dev/null; then reload_apache; fi
    changed "set ServerName ${DOMAINS[0]}${DOMAINS[1]:+, ServerAlias ${DOMAINS[*]:1}} in ${edited[*]}"
  fi
}

# --- 0. certbot knows the lineage: a renewal configuration naming the live files, and the account it renews with ---
# A migration that copied live/ and archive/ only, or a clean-up by hand, leaves a certificate that is served but
# that nothing will renew. The configuration is rebuilt (or its paths and account put right; the old one is kept in
# the owner folder), then section 4 has certbot rewrite it for this mode with a dry run. Nothing is ordered.
set_renewal_value() {  # key value section: replace the key's line, else add it (top: before everything)
  if grep -q "^$1 *=" "$RENEWAL_CONF"; then
    sed -i "s#^$1 *=.*#$1 = $2#" "$RENEWAL_CONF"
  elif [ "$3" = top ]; then
    sed -i "1i $1 = $2" "$RENEWAL_CONF"
  else
    sed -i "s#^\[renewalparams\]\$#&\n$1 = $2#" "$RENEWAL_CONF"
  fi
}
usable_account() {  # server: the lineage's account if certbot has it, else one of this CA's, else a new one
  local dir attempt
  if account_present; then basename "$(account_dir)"; return 0; fi
  for attempt in 1 2; do
    for dir in /etc/letsencrypt/accounts/"${1#*://}"/*/; do
      if [ -f "$dir/private_key.json" ] && [ -f "$dir/regr.json" ]; then basename "$dir"; return 0; fi
    done
    [ "$attempt" = 1 ] || break
    EFF=(--no-eff-email); if [ "$EFF_EMAIL" = true ]; then EFF=(--eff-email); fi
    certbot_or_fail "certbot could not register an ACME account with $1 (its output and log are above)" \
      register --non-interactive --agree-tos --email="$EMAIL" "${EFF[@]}" --server="$1" >&2
  done
  fail "certbot registered an account with $1 but it is not in /etc/letsencrypt/accounts"
}
RELINKED=0
if [ -f "$LIVE/cert.pem" ]; then
  CONF_STATE=$(renewal_conf_state)
  WRONG_KEYS=$(renewal_paths_wrong | paste -sd, -)
  if [ "$CONF_STATE" != present ] || [ -n "$WRONG_KEYS" ] || ! account_present; then
    if [ "$CONF_STATE" != missing ]; then cp -p "$RENEWAL_CONF" "$OWNER_DIR/renewal.conf.before"; fi
    if [ "$CONF_STATE" != present ]; then
      install -d -m 0755 "$(dirname "$RENEWAL_CONF")"
      printf '# Rebuilt by dreamfactory-infra (the lineage had no readable renewal configuration)\n\n[renewalparams]\nserver = %s\nauthenticator = %s\n' \
        "$SERVER" "$AUTH" > "$RENEWAL_CONF"
    fi
    ACCOUNT_SERVER=$(renewal_value server)
    ACCOUNT=$(usable_account "${ACCOUNT_SERVER:-$SERVER}")
    set_renewal_value archive_dir "/etc/letsencrypt/archive/$CERT_NAME" top
    for key in fullchain chain privkey cert; do set_renewal_value "$key" "$LIVE/$key.pem" top; done
    set_renewal_value account "$ACCOUNT" renewalparams
    RELINKED=1
    if [ "$CONF_STATE" != present ]; then WHY="renewal configuration $CONF_STATE"
    elif [ -n "$WRONG_KEYS" ]; then WHY="renewal configuration names other files: $WRONG_KEYS"
    else WHY="its ACME account was missing"; fi
    changed "certbot did not know lineage $CERT_NAME ($WHY); set it up again with account $ACCOUNT"
  fi
fi

# --- 1. State: the live certificate's names (read from the certificate, not from certbot's wording) and CA --------
ORDER=1
FORCE=()
if [ -f "$LIVE/cert.pem" ]; then
  NOW_SERVER=$(renewal_value server)
  if [ "$(certificate_names)" = "$WANTED" ] && [ "$NOW_SERVER" = "$SERVER" ]; then
    ORDER=0
    say "certificate $CERT_NAME already covers ${DOMAINS[*]} from $SERVER; nothing to order"
  elif [ "$NOW_SERVER" != "$SERVER" ]; then
    if [ "$NOW_SERVER" = "$LETS_ENCRYPT_PRODUCTION" ]; then
      fail "certificate $CERT_NAME was issued by Let's Encrypt production; refusing to replace it with one from $SERVER (run certbot delete --cert-name $CERT_NAME on the host first if that is really wanted)"
    fi
    say "certificate $CERT_NAME was issued by ${NOW_SERVER:-an unknown CA}; replacing it once with one from $SERVER"
    FORCE=(--force-renewal)
  else
    say "certificate $CERT_NAME covers $(certificate_names | paste -sd' ' -); the wanted names are ${DOMAINS[*]}"
  fi
fi

# --- 2. Pre-flight: fail here, not at the CA, whose failed-validation limit is 5 per hour -------------------------
case "$WEB_SERVER" in
  nginx|apache) config_test "$WEB_SERVER" ;;
  webroot)
    [ -d "$WEBROOT_PATH" ] || fail "webroot_path $WEBROOT_PATH does not exist; point it at the document root the web server serves on port 80"
    # The webroot plugin tests no configuration: a broken one would still get a certificate that no reload loads.
    if pgrep -x nginx >/dev/null; then config_test nginx; fi
    if pgrep -x apache2 >/dev/null || pgrep -x httpd >/dev/null; then config_test apache; fi ;;
esac
if [ "$WEB_SERVER" = apache ]; then manage_apache_names; fi
if [ "$ORDER" = 1 ]; then
  # DNS as the CA sees it (never /etc/hosts, where cloud-init maps the FQDN to 127.0.1.1): each address must be the
  # one the operator connects to (on NAT'd cloud VMs it is on no interface) or one of this host's own.
  ACCEPTED=" $({ getent ahosts "$CONNECTION_HOST" 2>/dev/null | awk '{print $1}'
                 ip -o addr show 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | grep -vE '^(127\.|::1$)' || true
               } | sort -u | paste -sd' ' -) "
  for domain in "${DOMAINS[@]}"; do
    resolved=$(getent -s dns ahosts "$domain" 2>/dev/null | awk '{print $1}' | sort -u | paste -sd' ' - || true)
    [ -n "$resolved" ] || fail "$domain does not resolve in DNS; create its A/AAAA record pointing at this host first"
    if [ "$VERIFY_DNS" != true ]; then
      say "$domain resolves to $resolved (verify_dns=False: not compared with this host)"
      continue
    fi
    stray=""
    for address in $resolved; do
      case "$ACCEPTED" in *" $address "*) ;; *) stray="$stray $address" ;; esac
    done
    # Every address must lead here: the CA may validate over any of them (over IPv6 first when there is an AAAA).
    [ -z "$stray" ] || fail "$domain resolves to$stray, which is neither the address you connect to ($CONNECTION_HOST) nor one of this host's addresses (accepted:$ACCEPTED); fix the DNS record, or set verify_dns=False when a CDN or proxy in front forwards /.well-known/acme-challenge/ to this host"
  done
  UFW_STATUS=$(ufw status 2>/dev/null || true)
  if grep -q '^Status: active' <<<"$UFW_STATUS"; then
    for port in 80 443; do
      grep -Eq "^($port(/tcp)?|Nginx Full|Apache Full|WWW Full)[[:space:]].*ALLOW" <<<"$UFW_STATUS" \
        || fail "ufw is active and does not allow $port/tcp; keep the firewall step enabled or run: ufw allow $port/tcp"
    done
  elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
    ZONE=$(firewalld_zone)
    for service in http https; do
      firewall-cmd --zone="$ZONE" --query-service="$service" >/dev/null 2>&1 \
        || fail "firewalld does not allow $service in zone $ZONE; keep the firewall step enabled or run: firewall-cmd --zone=$ZONE --add-service=$service && firewall-cmd --permanent --zone=$ZONE --add-service=$service"
    done
  fi
fi

# --- 3. Order: only for new names or a new CA; never --force-renewal except for the guarded CA switch above ------
ARGS=(--non-interactive --agree-tos --email="$EMAIL" --cert-name="$CERT_NAME" --keep-until-expiring)
for domain in "${DOMAINS[@]}"; do ARGS+=(--domains="$domain"); done
if [ "$EFF_EMAIL" = true ]; then ARGS+=(--eff-email); else ARGS+=(--no-eff-email); fi
if [ "$CERTONLY" = true ]; then VERB=(certonly); else VERB=(run --redirect); fi
# Apache orders with certonly and installs in a second certbot run (section 5). In one run, the http-01 challenge
# adds a temporary Include of le_http_01_challenge_pre.conf to every vhost with the names, the SSL vhost certbot made
# earlier included; cleanup restores the files, but augeas keeps its edited tree when the restored file's mtime
# falls in the second it saved it, and installing then writes the Include back into that SSL vhost, whose include
# file is gone ("Could not open configuration file .../le_http_01_challenge_pre.conf"): seen when adding a domain.
ORDER_VERB=("${VERB[@]}")
if [ "$WEB_SERVER" = apache ]; then ORDER_VERB=(certonly); fi
if [ "$ORDER" = 1 ]; then
  say "requesting certificate $CERT_NAME for ${DOMAINS[*]} from $SERVER"
  certbot_or_fail "certbot could not obtain the certificate (its output and log are above)" \
    "${ORDER_VERB[@]}" "${PLUGIN[@]}" "${ARGS[@]}" "${SERVER_ARGS[@]}" "${HOOK_ARGS[@]}" "${FORCE[@]}"
  changed "obtained certificate $CERT_NAME for ${DOMAINS[*]}"
  printf '%s %s %s\n' "$EMAIL" "$EFF_EMAIL" "$SERVER" > "$OWNER_DIR/account"
fi
printf '%s\n' "$CERT_NAME" > "$OWNER_DIR/cert-name"

# --- 4. The renewal configuration follows the mode (authenticator, installer, webroot, hooks) --------------------
STORED_WEBROOT=$(renewal_value webroot_path)
STORED_INSTALLER=$(renewal_value installer)
if [ "$RELINKED" = 1 ] || [ "$(renewal_value authenticator)" != "$AUTH" ] || { [ "$AUTH" = webroot ] && [ "${STORED_WEBROOT%,}" != "$WEBROOT_PATH" ]; } \
   || { [ "${#NO_INSTALLER[@]}" -gt 0 ] && ! [[ "$STORED_INSTALLER" =~ ^(|None|null)$ ]]; } \
   || { [ "${#NO_INSTALLER[@]}" -eq 0 ] && [ "$CERTONLY" = false ] && [ "$STORED_INSTALLER" != "$WEB_SERVER" ]; } \
   || [ "$(renewal_value pre_hook)" != "$PRE_HOOK" ] || [ "$(renewal_value post_hook)" != "$POST_HOOK" ] \
   || [ "$(renewal_value renew_hook)" != "$DEPLOY_HOOK" ]; then
  say "renewal of $CERT_NAME is set up for $(renewal_value authenticator)$([ "$RELINKED" = 0 ] || echo ' (rebuilt)'); setting it up for $WEB_SERVER (certbot reconfigure, a dry run, no certificate ordered)"
  certbot_or_fail "certbot reconfigure could not switch $CERT_NAME to $WEB_SERVER (its output and log are above)" \
    reconfigure --non-interactive --cert-name="$CERT_NAME" "${PLUGIN[@]}" "${NO_INSTALLER[@]}" "${SERVER_ARGS[@]}" \
    --pre-hook="$PRE_HOOK" --post-hook="$POST_HOOK" --deploy-hook="$DEPLOY_HOOK"  # empty ones clear old hooks
  changed "renewal of $CERT_NAME now uses $WEB_SERVER"
fi

# --- 5. Installed modes: HTTPS must serve the live certificate for every name (certonly -> installed, new names) --
if [ "$CERTONLY" = false ] && { [ "$ORDER" = 0 ] || [ "${ORDER_VERB[0]}" = certonly ]; } && [ -n "$(unserved_names 1)" ]; then
  say "installing the existing certificate $CERT_NAME with $WEB_SERVER (no new order)"
  certbot_or_fail "certbot could not install the certificate (its output and log are above)" \
    "${VERB[@]}" "${PLUGIN[@]}" "${ARGS[@]}" "${SERVER_ARGS[@]}" "${HOOK_ARGS[@]}"
  changed "installed certificate $CERT_NAME for ${DOMAINS[*]}"
fi

# --- 6. The ACME account's e-mail follows `email` / `eff_email` ----------------------------------------------------
if [ "$(cat "$OWNER_DIR/account" 2>/dev/null || true)" != "$EMAIL $EFF_EMAIL $SERVER" ]; then
  EFF=(--no-eff-email); if [ "$EFF_EMAIL" = true ]; then EFF=(--eff-email); fi
  certbot_or_fail "certbot could not update the ACME account's e-mail (its output and log are above)" \
    update_account --non-interactive --email="$EMAIL" "${EFF[@]}" "${SERVER_ARGS[@]}"
  printf '%s %s %s\n' "$EMAIL" "$EFF_EMAIL" "$SERVER" > "$OWNER_DIR/account"
  changed "set the ACME account's e-mail to $EMAIL"
fi

report
verify_https

# shellcheck shell=bash
# Body of the CertbotHost 'certificate' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
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

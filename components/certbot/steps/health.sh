# shellcheck shell=bash
# Body of the CertbotHost health probe: read-only (it changes and writes nothing), run at every preview, refresh
# and up. It prints one key=value line per fact; health.py judges them, so no policy lives here.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then lineage.sh and this body.
detect_os >/dev/null
if command -v snap >/dev/null 2>&1; then echo "snapd=present"; else echo "snapd=missing"; fi
echo "certbot_snap=$(snap list certbot 2>/dev/null | awk 'NR == 2 {print $2}' || true)"

echo "cert_name=$CERT_NAME"
if [ -f "$LIVE/cert.pem" ]; then
  echo "serial=$(live_serial)"
  echo "names=$(certificate_names | paste -sd, -)"
  echo "expires_at=$(expires_at)"
  echo "issuer=$(openssl x509 -in "$LIVE/cert.pem" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')"
  served=()  # domain:serial:code, code being openssl verify's for the chain served (0: trusted for that name)
  for domain in "${DOMAINS[@]}"; do tls=$(served_tls "$domain"); served+=("$domain:${tls% *}:${tls#* }"); done
  echo "served=${served[*]}"
  # Whether certbot still manages the lineage: without these, the certificate serves and nothing renews it.
  echo "renewal_conf=$(renewal_conf_state)"
  echo "renewal_paths_wrong=$(renewal_paths_wrong | paste -sd, -)"
  echo "account=$(renewal_value account)"
  if account_present; then echo "account_present=true"; else echo "account_present=false"; fi
  echo "renewal_installer=$(renewal_value installer)"
  echo "renewal_deploy_hook=$(renewal_value renew_hook)"
fi

if systemctl is-enabled --quiet "$RENEWAL_TIMER" 2>/dev/null; then echo "timer_enabled=true"; else echo "timer_enabled=false"; fi
if systemctl is-active --quiet "$RENEWAL_TIMER" 2>/dev/null; then echo "timer_active=true"; else echo "timer_active=false"; fi
echo "last_renewal=$(systemctl show -p Result --value "$RENEWAL_SERVICE" 2>/dev/null || true)"
echo "last_renewal_at=$(systemctl show -p ExecMainExitTimestamp --value "$RENEWAL_SERVICE" 2>/dev/null || true)"
# The reload a renewal relies on (certbot's nginx/apache installer, or the deploy hook that reloads what runs) fails
# when the configuration does not pass its test; the first lines of the test's complaint, for each such server.
if pgrep -x nginx >/dev/null || [ "$(renewal_value installer)" = nginx ]; then
  if ! output=$(nginx -t 2>&1); then  # without nginx's time and pid, so the words stay the same between reads
    echo "reload_nginx=$(head -n 2 <<<"$output" | sed -E 's#^[0-9/]+ [0-9:]+ (\[[a-z]+\]) [0-9#]+: #\1 #' | paste -sd' ' -)"
  fi
fi
if pgrep -x apache2 >/dev/null || pgrep -x httpd >/dev/null || [ "$(renewal_value installer)" = apache ]; then
  ctl=apachectl; command -v apachectl >/dev/null 2>&1 || ctl=apache2ctl
  if ! output=$("$ctl" configtest 2>&1); then echo "reload_apache=$(head -n 2 <<<"$output" | paste -sd' ' -)"; fi
fi

# The rules the firewall step keeps: 80, 443 and extra_ports (SSH rules of an active firewall are the operator's).
# Missing ones are listed as "port 443/tcp" or "service https", separated by commas.
TOOL=$FIREWALL_WANTED
if [ "$TOOL" = auto ]; then
  if [ "$FAMILY" = debian ]; then TOOL=ufw; else TOOL=firewalld; fi
fi
echo "firewall=$TOOL"
missing=()
if [ "$TOOL" = ufw ]; then
  if grep -q '^Status: active' <<<"$(ufw status 2>/dev/null || true)"; then echo "firewall_active=true"; else echo "firewall_active=false"; fi
  ADDED=$(ufw show added 2>/dev/null || true)
  for rule in 80/tcp 443/tcp "${EXTRA_PORTS[@]}"; do
    grep -qxF "ufw allow $rule" <<<"$ADDED" || missing+=("port $rule")
  done
elif [ "$TOOL" = firewalld ]; then
  if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
    echo "firewall_active=true"
    ZONE=$(firewalld_zone)
    RULES=("service http" "service https")
    for port in "${EXTRA_PORTS[@]}"; do RULES+=("port $port"); done
    for rule in "${RULES[@]}"; do
      for layer in "" --permanent; do  # the step keeps both the runtime and the permanent configuration
        # shellcheck disable=SC2086 # an optional flag
        if ! firewall-cmd $layer --zone="$ZONE" "--query-${rule%% *}=${rule#* }" >/dev/null 2>&1; then
          missing+=("$rule${layer:+ (permanent configuration)}")
          break
        fi
      done
    done
  else
    echo "firewall_active=false"
  fi
fi
echo "firewall_missing=$(IFS=,; printf '%s' "${missing[*]}")"

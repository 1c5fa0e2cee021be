# shellcheck shell=bash
# Body of the CertbotHost 'renewal' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then certbot_helpers.sh, lineage.sh and
# this body.
#
# Renewal is verified the way the timer runs it: `certbot renew --dry-run` with only the environment the timer's
# service has. A private CA's bundle reaches the timer through a drop-in of that service.
detect_os
[ -f "$LIVE/cert.pem" ] || fail "no certificate at $LIVE; the certificate step must succeed first"

if ! systemctl is-enabled --quiet "$RENEWAL_TIMER" || ! systemctl is-active --quiet "$RENEWAL_TIMER"; then
  systemctl enable --now "$RENEWAL_TIMER" || fail "$RENEWAL_TIMER cannot be started; check: snap services certbot"
  changed "enabled $RENEWAL_TIMER"
fi
echo "renewal_timer=$RENEWAL_TIMER"

# Hooks live in each lineage's renewal configuration now (the certificate step); earlier versions installed one
# global deploy hook, which two CertbotHosts on one host would fight over.
if [ -e "$LEGACY_DEPLOY_HOOK" ]; then
  rm -f "$LEGACY_DEPLOY_HOOK"
  changed "removed the global deploy hook $LEGACY_DEPLOY_HOOK (hooks are per certificate now)"
fi

# The timer's certbot gets no REQUESTS_CA_BUNDLE from anywhere else.
if [ -n "$ACME_CA_BUNDLE" ]; then
  WANT_DROPIN=$(printf '# Installed by dreamfactory-infra: the private ACME CA of acme_server signs its TLS.\n[Service]\nEnvironment=REQUESTS_CA_BUNDLE=%s\n' "$ACME_CA_BUNDLE")
else
  WANT_DROPIN=""
fi
if [ "$(cat "$CA_DROPIN" 2>/dev/null || true)" != "$WANT_DROPIN" ]; then
  if [ -n "$WANT_DROPIN" ]; then
    install -d -m 0755 "$(dirname "$CA_DROPIN")"
    printf '%s\n' "$WANT_DROPIN" > "$CA_DROPIN"
    changed "the renewal service trusts $ACME_CA_BUNDLE ($CA_DROPIN)"
  else
    rm -f "$CA_DROPIN"
    changed "removed $CA_DROPIN (no private CA)"
  fi
  systemctl daemon-reload
fi

# A failed last run of the renewal service (the timer's) fails again next time unless its cause is gone: run it now,
# as the timer would. If it fails again the cause is in certbot's log (shown) and needs a hand.
LAST_RESULT=$(systemctl show -p Result --value "$RENEWAL_SERVICE" 2>/dev/null || true)
if [ -n "$LAST_RESULT" ] && [ "$LAST_RESULT" != success ]; then
  say "the last run of $RENEWAL_SERVICE ended with '$LAST_RESULT'; running it again now, as the timer does"
  run_or_fail "$RENEWAL_SERVICE failed again, so renewal by the timer is broken: fix by hand what certbot's log above names, then run: systemctl start $RENEWAL_SERVICE" \
    systemctl start "$RENEWAL_SERVICE"
  changed "$RENEWAL_SERVICE ran again and succeeded"
fi

# A certificate within renew_before_days of expiry is renewed now: the health check flags it from that day on, and
# certbot's own window (30 days, or a third of a short lifetime) may start later, so certbot is told to.
RENEW_SECONDS=$((RENEW_BEFORE_DAYS * 86400))
if ! openssl x509 -in "$LIVE/cert.pem" -noout -checkend "$RENEW_SECONDS" >/dev/null; then
  say "certificate $CERT_NAME expires $(expires_at), within renew_before_days=$RENEW_BEFORE_DAYS; renewing it"
  RENEW=(renew --non-interactive --no-random-sleep-on-renew --force-renewal --cert-name="$CERT_NAME")
  if [ -n "$ACME_SERVER" ]; then RENEW+=(--server="$ACME_SERVER"); fi
  certbot_or_fail "certbot could not renew $CERT_NAME (its output and log are above)" "${RENEW[@]}"
  openssl x509 -in "$LIVE/cert.pem" -noout -checkend "$RENEW_SECONDS" >/dev/null \
    || fail "the renewed certificate of $CERT_NAME expires $(expires_at), still within renew_before_days=$RENEW_BEFORE_DAYS: the CA issues shorter certificates than that; lower renew_before_days"
  changed "renewed $CERT_NAME; it now expires $(expires_at)"
fi

# certbot renew --dry-run asks the CA for a throw-away certificate: once per live certificate and setup, not every
# run. It runs with the timer's environment only (env -i + the service's Environment=), not this script's.
SERIAL=$(live_serial)
STAMP="$SERIAL $SERVER $(renewal_value authenticator) $ACME_CA_BUNDLE"
VERIFIED=$STATE_ROOT/renewal-verified-$CERT_NAME
if [ "$(cat "$VERIFIED" 2>/dev/null || true)" = "$STAMP" ]; then
  say "renewal of serial $SERIAL was already verified"
else
  DRY=(renew --dry-run --no-random-sleep-on-renew --cert-name="$CERT_NAME")
  if [ -n "$ACME_SERVER" ]; then DRY+=(--server="$ACME_SERVER"); fi
  read -r -a TIMER_ENV <<<"$(systemctl show -p Environment --value "$RENEWAL_SERVICE" 2>/dev/null || true)"
  say "verifying renewal as the timer runs it: certbot ${DRY[*]} (environment: ${TIMER_ENV[*]:-none})"
  run_or_fail "certbot renew --dry-run failed in the renewal timer's environment: renewal would fail too" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin "${TIMER_ENV[@]}" /usr/bin/certbot "${DRY[@]}"
  printf '%s\n' "$STAMP" > "$VERIFIED"
  say "verified renewal with certbot renew --dry-run"
fi

# shellcheck shell=bash
# Body of the CertbotHost 'renewal' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
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

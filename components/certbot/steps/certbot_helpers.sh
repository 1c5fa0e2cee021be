# shellcheck shell=bash
# Shared by the certificate and renewal steps: the live certificate, its serial, the private CA's bundle, and a certbot call that shows the tail of certbot's log when it fails.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
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

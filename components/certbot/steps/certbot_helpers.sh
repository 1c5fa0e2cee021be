# shellcheck shell=bash
# Shared by the certificate and renewal steps: which lineage this component manages, the live certificate and its
# serial, the private CA's bundle, and a certbot call that shows the tail of certbot's log when it fails.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
if [ -n "$ACME_CA_BUNDLE" ]; then export REQUESTS_CA_BUNDLE=$ACME_CA_BUNDLE; fi
OWNER_DIR=$(owner_dir)
# The lineage: cert_name when given; else the one this component already manages, so that reordering, adding or
# removing domains keeps it (and never starts a second lineage that also renews); else the first domain.
if [ -n "$CERT_NAME_WANTED" ]; then
  CERT_NAME=$CERT_NAME_WANTED
elif [ -s "$OWNER_DIR/cert-name" ]; then
  CERT_NAME=$(cat "$OWNER_DIR/cert-name")
else
  CERT_NAME=${DOMAINS[0]}
fi
LIVE=/etc/letsencrypt/live/$CERT_NAME
RENEWAL_CONF=/etc/letsencrypt/renewal/$CERT_NAME.conf
live_serial() {
  openssl x509 -in "$LIVE/cert.pem" -noout -serial | cut -d= -f2
}
renewal_value() {  # a key of the lineage's renewal configuration, without the quotes certbot's writer adds
  local value
  value=$(sed -n "s/^$1 *= *//p" "$RENEWAL_CONF" 2>/dev/null | head -n 1)
  case "$value" in
    \"*\") value=${value#\"}; value=${value%\"} ;;
    \'*\') value=${value#\'}; value=${value%\'} ;;
  esac
  printf '%s' "$value"
}
run_or_fail() {  # reason, command...: on failure show the tail of certbot's log, then fail with the reason
  local reason=$1
  shift
  if ! "$@"; then
    echo "---- tail of /var/log/letsencrypt/letsencrypt.log ----" >&2
    tail -n 40 /var/log/letsencrypt/letsencrypt.log >&2 || true
    fail "$reason"
  fi
}
certbot_or_fail() {
  local reason=$1
  shift
  run_or_fail "$reason" /usr/bin/certbot "$@"
}

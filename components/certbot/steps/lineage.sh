# shellcheck shell=bash
# Read-only facts about the lineage this component manages: its name, the live certificate (serial, names) and
# its renewal configuration, and the certificate HTTPS serves. Shared by the certificate and renewal steps and
# the health probe, which must not write anything (so no owner_dir here).
# scripts.py renders: preamble.sh, then every value as a quoted variable, then this and the step body.
#
# The lineage: cert_name when given; else the one this component already manages, so that reordering, adding or
# removing domains keeps it (and never starts a second lineage that also renews); else the first domain.
if [ -n "$CERT_NAME_WANTED" ]; then
  CERT_NAME=$CERT_NAME_WANTED
elif [ -s "$STATE_ROOT/$OWNER/cert-name" ]; then
  CERT_NAME=$(cat "$STATE_ROOT/$OWNER/cert-name")
else
  CERT_NAME=${DOMAINS[0]}
fi
LIVE=/etc/letsencrypt/live/$CERT_NAME
RENEWAL_CONF=/etc/letsencrypt/renewal/$CERT_NAME.conf
live_serial() {
  openssl x509 -in "$LIVE/cert.pem" -noout -serial | cut -d= -f2
}
certificate_names() {
  openssl x509 -in "$LIVE/cert.pem" -noout -text | grep -oE 'DNS:[^,[:space:]]+' | sed 's/^DNS://' | sort -u
}
expires_at() {
  local end
  end=$(openssl x509 -in "$LIVE/cert.pem" -noout -enddate | cut -d= -f2)
  date -u -d "$end" +%Y-%m-%dT%H:%M:%SZ
}
served_serial() {  # the serial of the certificate this host's port 443 answers with for the name (SNI)
  openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
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

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
trust_store() {  # the roots a client of this host trusts: the system's store, plus acme_ca_bundle (a private CA)
  local store
  for store in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
               /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem; do
    if [ -r "$store" ]; then cat "$store"; break; fi
  done
  if [ -n "$ACME_CA_BUNDLE" ] && [ -r "$ACME_CA_BUNDLE" ]; then cat "$ACME_CA_BUNDLE"; fi
}
served_tls() {  # "<serial> <code>" of what this host's port 443 serves for the name (SNI): the leaf's serial, and
  # openssl verify's error code for the chain it sends, checked for that name against trust_store (0: trusted).
  local chain leaf serial code
  chain=$(openssl s_client -connect 127.0.0.1:443 -servername "$1" -showcerts </dev/null 2>/dev/null \
          | sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p')
  if [ -z "$chain" ]; then echo "- -"; return 0; fi
  leaf=$(awk '{ print } /-END CERTIFICATE-/ { exit }' <<<"$chain")
  serial=$(openssl x509 -noout -serial <<<"$leaf" | cut -d= -f2)
  code=$(openssl verify -CAfile <(trust_store) -untrusted <(printf '%s\n' "$chain") -verify_hostname "$1" \
           <(printf '%s\n' "$leaf") 2>&1 | sed -n 's/^error \([0-9]*\) at .*/\1/p' | head -n 1)
  echo "$serial ${code:-0}"
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
renewal_conf_state() {  # present, missing, or unreadable (no [renewalparams]: certbot skips it as broken)
  if [ ! -e "$RENEWAL_CONF" ]; then
    echo missing
  elif [ -r "$RENEWAL_CONF" ] && grep -q '^\[renewalparams\]' "$RENEWAL_CONF"; then
    echo present
  else
    echo unreadable
  fi
}
renewal_paths_wrong() {  # the keys of the renewal configuration that do not name this lineage's files
  local key
  [ "$(renewal_value archive_dir)" = "/etc/letsencrypt/archive/$CERT_NAME" ] || echo archive_dir
  for key in cert privkey chain fullchain; do
    [ "$(renewal_value "$key")" = "$LIVE/$key.pem" ] || echo "$key"
  done
}
account_dir() {  # where certbot keeps the ACME account the lineage renews with (accounts/<server host+path>/<id>)
  local id server
  id=$(renewal_value account)
  server=$(renewal_value server)
  [ -n "$id" ] || return 1
  printf '/etc/letsencrypt/accounts/%s/%s' "${server#*://}" "$id"
}
account_present() {
  local dir
  dir=$(account_dir) && [ -f "$dir/private_key.json" ] && [ -f "$dir/regr.json" ]
}

# shellcheck shell=bash
# Shared by the certificate and renewal steps: the private CA's bundle, the owner folder, and a certbot call that
# shows the tail of certbot's log when it fails.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then this, lineage.sh and the step body.
if [ -n "$ACME_CA_BUNDLE" ]; then export REQUESTS_CA_BUNDLE=$ACME_CA_BUNDLE; fi
# shellcheck disable=SC2034 # read by the step bodies
OWNER_DIR=$(owner_dir)
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

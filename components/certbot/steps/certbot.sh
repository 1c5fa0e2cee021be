# shellcheck shell=bash
# Body of the CertbotHost 'certbot' step.
# scripts.py renders: preamble.sh, then every value as a quoted variable, then the step body.
detect_os
# The snap first: if the store cannot be reached, the distro certbot stays and existing certificates keep renewing.
if ! snap list certbot >/dev/null 2>&1; then
  output=$(snap install --classic certbot 2>&1) \
    || fail "could not install the certbot snap, so the distro certbot (if any) was left in place and keeps renewing: $output"
  changed "installed the certbot snap"
fi
DISTRO_CERTBOT=()
for pkg in certbot python3-certbot-nginx python3-certbot-apache; do
  if pkg_installed "$pkg"; then DISTRO_CERTBOT+=("$pkg"); fi
done
if [ "${#DISTRO_CERTBOT[@]}" -gt 0 ]; then
  pkg_remove "${DISTRO_CERTBOT[@]}"
  changed "removed the distro packages ${DISTRO_CERTBOT[*]} (/etc/letsencrypt kept)"
fi
if [ "$(readlink /usr/bin/certbot 2>/dev/null || true)" != /snap/bin/certbot ]; then
  ln -sfn /snap/bin/certbot /usr/bin/certbot
  changed "linked /usr/bin/certbot to /snap/bin/certbot"
fi
say "$(/usr/bin/certbot --version 2>&1)"

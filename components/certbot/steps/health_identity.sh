# shellcheck shell=bash
# Body of the CertbotHost 'health-identity' step: the read-only identity a pull request's preview reads the host
# with. scripts.py renders: preamble.sh, then every value as a quoted variable, then this body.
#
# With HEALTH_PUBLIC_KEY (the step's create): an unprivileged user whose authorized_keys line for this component is
#   restrict,command="sudo -n <probe>" <key> dreamfactory-infra:<owner>
# so the key gets no shell, pty, forwarding or sftp, and whatever the client asks runs this component's probe: a
# root-owned copy of the read-only health probe with its values baked in, the one command a sudoers entry allows
# (with no arguments). The user's home, .ssh and authorized_keys are root's: the user cannot change them.
# Without it (the step's delete, when health_public_key is removed): this component's line, sudoers entry and probe
# go; the user goes too once no component's line is left, if this project created it.
PROBE_DIR=/usr/local/lib/dreamfactory-infra/$OWNER
PROBE=$PROBE_DIR/health-probe
SUDOERS=/etc/sudoers.d/dreamfactory-health-${OWNER//./_}  # sudo skips files whose names hold a '.'
HOME_DIR=/var/lib/$HEALTH_USER
KEYS=$HOME_DIR/.ssh/authorized_keys
MARK="dreamfactory-infra:$OWNER"
CREATED=$STATE_ROOT/health-user-$HEALTH_USER  # this project created the user (so it may remove it)

keys_without_ours() { if [ -f "$KEYS" ]; then grep -v -- " $MARK\$" "$KEYS" || true; fi; }
replace_if_changed() {  # path mode content: write only when it differs, say so
  local path=$1 mode=$2 content=$3
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ] && [ "$(stat -c '%a %U' "$path")" = "$mode root" ]; then
    return 1
  fi
  printf '%s\n' "$content" > "$path.new"
  chown root:root "$path.new"
  chmod "$mode" "$path.new"
  mv "$path.new" "$path"
}

if [ -n "$HEALTH_PUBLIC_KEY" ]; then
  if ! command -v sudo >/dev/null 2>&1; then detect_os; pkg_install sudo; changed "installed sudo"; fi
  if ! id "$HEALTH_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$HOME_DIR" --no-create-home --shell /bin/sh "$HEALTH_USER"
    install -d -m 0700 "$STATE_ROOT"
    touch "$CREATED"
    changed "created user $HEALTH_USER"
  fi
  usermod -p '*' "$HEALTH_USER"  # no password, not locked: sshd refuses locked accounts even for keys
  install -d -m 0755 -o root -g root /usr/local/lib/dreamfactory-infra "$PROBE_DIR" "$HOME_DIR" "$HOME_DIR/.ssh"
  if replace_if_changed "$PROBE" 755 "$PROBE_SCRIPT"; then changed "installed the health probe $PROBE"; fi
  RULE="Defaults:$HEALTH_USER !requiretty
$HEALTH_USER ALL=(root) NOPASSWD: $PROBE \"\""
  printf '%s\n' "$RULE" > "$SUDOERS.check"
  visudo -c -q -f "$SUDOERS.check" >/dev/null || { rm -f "$SUDOERS.check"; fail "visudo refuses the sudoers entry for $PROBE"; }
  rm -f "$SUDOERS.check"
  if replace_if_changed "$SUDOERS" 440 "$RULE"; then changed "allowed $HEALTH_USER to run only $PROBE as root"; fi
  LINE="restrict,command=\"sudo -n $PROBE\" $HEALTH_PUBLIC_KEY $MARK"
  WANTED=$( { keys_without_ours; printf '%s\n' "$LINE"; } | sed '/^$/d')
  if replace_if_changed "$KEYS" 644 "$WANTED"; then changed "authorized the health key of $OWNER for $HEALTH_USER (probe only)"; fi
else
  if [ -f "$KEYS" ] && grep -q -- " $MARK\$" "$KEYS"; then
    REST=$(keys_without_ours)
    printf '%s\n' "$REST" | sed '/^$/d' > "$KEYS.new" && mv "$KEYS.new" "$KEYS"
    changed "removed the health key of $OWNER"
  fi
  if [ -e "$SUDOERS" ]; then rm -f "$SUDOERS"; changed "removed $SUDOERS"; fi
  if [ -d "$PROBE_DIR" ]; then rm -rf "$PROBE_DIR"; changed "removed $PROBE_DIR"; fi
  if [ -e "$CREATED" ] && id "$HEALTH_USER" >/dev/null 2>&1 && ! grep -q " dreamfactory-infra:" "$KEYS" 2>/dev/null; then
    pkill -KILL -u "$HEALTH_USER" 2>/dev/null || true
    userdel "$HEALTH_USER"
    rm -rf "$HOME_DIR" "$CREATED"
    changed "removed user $HEALTH_USER"
  fi
fi

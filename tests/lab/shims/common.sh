# Sourced by every lab shim: where shim state lives and how calls are recorded.
SHIM_STATE=/var/lib/lab-shims
SHIM_LOG=/var/log/lab-shims.log
mkdir -p "$SHIM_STATE"
printf '%s %s\n' "$(basename "$0")" "$*" >> "$SHIM_LOG"

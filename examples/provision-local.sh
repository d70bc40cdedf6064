#!/bin/sh
# An exec provisioner backed by `slotpilot local`, for trying the exec
# protocol on one machine (tests use it too).
#   provision:   examples/provision-local.sh up DIR     (reads SLOTPILOT_COUNT,
#                prints one HOST:PORT per new node)
#   deprovision: examples/provision-local.sh down DIR HOST:PORT
set -eu
SP=${SLOTPILOT:-slotpilot}
case "$1" in
up) exec "$SP" local spawn --dir "$2" --count "${SLOTPILOT_COUNT:-1}" ;;
down) exec "$SP" local down --dir "$2" --only "${3##*:}" --purge >/dev/null ;;
*) echo "usage: $0 up DIR | down DIR HOST:PORT" >&2; exit 2 ;;
esac

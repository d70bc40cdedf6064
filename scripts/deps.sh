#!/bin/sh
# Installs the Debian 12 packages slotpilot needs to build, test and demo.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
PKGS="redis-server redis-tools libhiredis-dev libjansson-dev libcmocka-dev \
python3-pytest python3-redis python3-yaml jq pkg-config gcc make \
libinih-dev libmicrohttpd-dev libcurl4-openssl-dev prometheus \
prometheus-redis-exporter chromium clang-format clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "slotpilot: missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
else
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi

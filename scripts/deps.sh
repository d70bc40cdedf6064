#!/bin/sh
# Installs the Debian 12 packages slotpilot needs to build, test and demo.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
PKGS="redis-server redis-tools libhiredis-dev libjansson-dev libcmocka-dev \
python3-pytest python3-redis python3-yaml jq pkg-config gcc make \
libinih-dev libmicrohttpd-dev libcurl4-openssl-dev prometheus \
prometheus-redis-exporter chromium clang-format clang libclang-rt-14-dev \
libssl-dev openssl time"
# Valkey 8.0 comes from Debian's bookworm-backports suite.
BPO_PKGS="valkey-server valkey-tools"
BPO_LIST=/etc/apt/sources.list.d/slotpilot-bookworm-backports.list
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
bpo_missing=""
for p in $BPO_PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		bpo_missing="$bpo_missing $p"
	fi
done
[ -z "$missing$bpo_missing" ] && exit 0
echo "slotpilot: missing Debian packages:$missing$bpo_missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	[ -n "$bpo_missing" ] && ! apt-cache policy 2>/dev/null | grep -q bookworm-backports &&
		echo "run: echo 'deb http://deb.debian.org/debian bookworm-backports main' | sudo tee $BPO_LIST" >&2
	[ -n "$missing" ] && echo "run: sudo apt-get install -y$missing" >&2
	[ -n "$bpo_missing" ] && echo "run: sudo apt-get install -y -t bookworm-backports$bpo_missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$bpo_missing" ] && ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
	echo "deb http://deb.debian.org/debian bookworm-backports main" > "$BPO_LIST"
fi
apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq --no-install-recommends $missing
# shellcheck disable=SC2086
[ -z "$bpo_missing" ] || apt-get install -y -qq --no-install-recommends \
	-t bookworm-backports $bpo_missing

#!/bin/sh
# install-deps.sh - install the Debian packages Agora needs that are missing.
#
#   sh scripts/install-deps.sh          build and run (make run)
#   sh scripts/install-deps.sh test     also what the test suite uses (make test)
#   sh scripts/install-deps.sh bench    also the benchmark's peers and profilers (make bench)
#
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

pkgs="gcc make pkg-config libuv1-dev libhttp-parser-dev libjansson-dev libsqlite3-dev libsodium-dev libcurl4-openssl-dev libwslay-dev libssl-dev"
case "${1:-}" in
test)
	pkgs="$pkgs libcmocka-dev python3 python3-pytest python3-paho-mqtt python3-requests python3-jsonschema python3-cryptography python3-aiosmtpd mosquitto mosquitto-clients curl groff-base openssl"
	# The web client's tests (tests/web/): playwright-core drives chromium.
	pkgs="$pkgs nodejs chromium"
	;;
bench)
	# mosquitto is the peer measured side by side; valgrind and strace
	# count instructions and syscalls per message; taskset is util-linux.
	pkgs="$pkgs python3 mosquitto strace valgrind util-linux wrk nginx-light"
	;;
esac

# The build embeds Swagger UI from npm (mk/assets.mk): Debian's npm unless
# the machine already has one.
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "agora: missing Debian packages:$missing" >&2
	echo "agora: install them with:  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "agora: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2

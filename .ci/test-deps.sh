#!/usr/bin/env bash
# What make test needs besides Go, installed when missing.
#
# System programs come from Debian's packages through apt-get, after a
# message saying what is installed and why. Where apt-get is missing, or
# QREDGE_NO_INSTALL=1 is set, or we are neither root nor allowed to sudo
# without a password, it stops at once with the exact command to run.
# Go tools (promtool) are not installed: the Makefile runs them with a
# pinned 'go run pkg@version'.
set -euo pipefail

missing=()    # Debian packages
why=()
need() { # need COMMAND PACKAGE REASON
	command -v "$1" >/dev/null 2>&1 && return
	missing+=("$2")
	why+=("  $1 ($2): $3")
}
need curl curl "the README examples run curl against the built binary"
need redis-server redis-server "Redis tests start their own servers on free loopback ports"
need redis-cli redis-tools "the Redis Cluster tests join nodes with redis-cli"
need kcat kcat "the Kafka tests read the topic with kcat, as an operator would"
need zbarimg zbar-tools "the README campaign test reads a downloaded QR image"
need chromium chromium "the web console's tests drive headless Chromium (chromedp)"

((${#missing[@]})) || exit 0

cmd="apt-get install -y ${missing[*]}"
sudo=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo=sudo
		cmd="sudo $cmd"
	else
		sudo=none
		cmd="sudo $cmd"
	fi
fi
echo "make test needs programs that are not installed:"
printf '%s\n' "${why[@]}"
if [ "${QREDGE_NO_INSTALL:-}" = 1 ] || ! command -v apt-get >/dev/null 2>&1 || [ "$sudo" = none ]; then
	if command -v apt-get >/dev/null 2>&1; then
		echo "Install them with:  $cmd"
	else
		echo "This machine has no apt-get: install the programs above with its package manager (Debian: $cmd)."
	fi
	exit 1
fi
echo "installing them: $cmd"
# Packages that bring a daemon (redis-server) must not start it: tests
# start their own on free ports. policy-rc.d says so to invoke-rc.d; it is
# removed again if it was not there before.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
	$sudo sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy"
	own_policy=1
fi
trap '[ -z "$own_policy" ] || $sudo rm -f "$policy"' EXIT
log=$(mktemp)
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log"
	rm -f "$log"
	echo "make test: apt-get failed; install by hand: $cmd"
	exit 1
fi
rm -f "$log"
echo "installed ${missing[*]}"

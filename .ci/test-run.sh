#!/usr/bin/env bash
# Runs make targets side by side (at most $TEST_JOBS at once, in the order
# given: longest first), each with its output in a log. A target's log is
# printed when it fails; at the end every target is listed with its time
# and result, and the run fails if any failed.
#
#   .ci/test-run.sh race gomaxprocs1 fuzz-smoke ...
set -uo pipefail
jobs_max=${TEST_JOBS:-3}
make=${MAKE:-make}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
start=$(date +%s)

run() { # run TARGET: in the background; writes $logs/TARGET.{log,rc,secs}
	local t=$1 s
	s=$(date +%s)
	$make --no-print-directory "$t" >"$logs/$t.log" 2>&1
	echo $? >"$logs/$t.rc"
	echo $(($(date +%s) - s)) >"$logs/$t.secs"
}

declare -A shown=()
report() { # print what finished since the last call
	local t
	for t in "$@"; do
		[ -e "$logs/$t.rc" ] && [ -z "${shown[$t]:-}" ] || continue
		shown[$t]=1
		if [ "$(cat "$logs/$t.rc")" = 0 ]; then
			echo "--- ok   $t ($(cat "$logs/$t.secs") s)"
		else
			echo "--- FAIL $t ($(cat "$logs/$t.secs") s):"
			sed 's/^/    /' "$logs/$t.log"
		fi
	done
}

for t in "$@"; do
	while (($(jobs -rp | wc -l) >= jobs_max)); do
		wait -n
		report "$@"
	done
	echo "--- run  $t"
	run "$t" &
done
while (($(jobs -rp | wc -l) > 0)); do
	wait -n
	report "$@"
done
wait
report "$@"

failed=()
for t in "$@"; do
	[ "$(cat "$logs/$t.rc" 2>/dev/null || echo 1)" = 0 ] || failed+=("$t")
done
echo
echo "make test: $(($# - ${#failed[@]})) of $# targets passed in $(($(date +%s) - start)) s"
for t in "$@"; do
	printf '  %-14s %4s s  %s\n' "$t" "$(cat "$logs/$t.secs" 2>/dev/null || echo '?')" "$([ "$(cat "$logs/$t.rc" 2>/dev/null || echo 1)" = 0 ] && echo ok || echo FAILED)"
done
if ((${#failed[@]})); then
	echo "failed: ${failed[*]}"
	exit 1
fi

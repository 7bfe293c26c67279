#!/usr/bin/env bash
# bench-scale: how long an edge and the embedded mode take to be ready at
# scale. For each size it seeds a fresh Redis, then times `qredge edge`
# starting from Redis (every link read), publishing the shared snapshot,
# starting from the shared snapshot, from its local snapshot
# (--snapshot-dir), several edges at once from the shared snapshot, and
# `qredge serve` over a seeded bbolt file. Each start is timed from the
# process's start to /readyz answering 200, with the process's CPU, its RSS
# when ready, and Redis's CPU over the start.
#
#   make bench-scale                       # 1M and 3M links
#   SIZES="1000000" bash loadtest/bench-scale.sh
#   TEN_M=1 make bench-scale               # and 10M (needs about 8 GB of RAM and a long while)
#   SKIP_FIRST=1 ...                         # skip the first load from Redis (the second one times it too)
#   EDGE_GOMEMLIMIT=1900MiB ...              # GOMEMLIMIT for the edges and serve only
#   SNAPSHOT_GOMEMLIMIT=1800MiB ...          # GOMEMLIMIT for the edges that start from a snapshot only
#
# Not part of make test. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000000 3000000"}
[ "${TEN_M:-0}" = 1 ] && SIZES="$SIZES 10000000"
CONCURRENT=${CONCURRENT:-4}
WORK=$(mktemp -d /tmp/qredge-bench-scale.XXXXXX)
BIN=$WORK/qredge
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "${RPORT:-}" ] && redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v redis-server >/dev/null || { echo "bench-scale needs redis-server (apt-get install -y redis-server)" >&2; exit 1; }
go build -o "$BIN" ./cmd/qredge

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
redis_cpu() { redis-cli -p "$RPORT" info cpu | awk -F: '/^used_cpu_(sys|user):/ {s+=$2} END {printf "%.2f", s}'; }
now() { date +%s.%N; }

# wait_ready PID ADMINPORT: waits for /readyz 200, and checks that it
# says the process holds all N links.
wait_ready() {
	local pid=$1 port=$2 body
	while :; do
		if body=$(curl -sf "http://127.0.0.1:$port/readyz"); then break; fi
		kill -0 "$pid" 2>/dev/null || { echo "process $pid died; its log:" >&2; cat "$WORK/log.$port" >&2; exit 1; }
		sleep 0.02
	done
	case $body in
	"ready: $N links"*) ;;
	*) echo "ready, but not with $N links: $body" >&2; exit 1 ;;
	esac
}

# row NAME PID REDIS_CPU_BEFORE
row() {
	local name=$1 pid=$2 rcpu0=$3 t
	t=$(awk -v a="$START" -v b="$(now)" 'BEGIN {printf "%.2f", b-a}')
	local cpu rc
	cpu=$(awk -v t="$(ticks "$pid")" -v hz="$hz" 'BEGIN {printf "%.2f", t/hz}')
	rc=$(awk -v a="$rcpu0" -v b="$(redis_cpu)" 'BEGIN {printf "%.2f", b-a}')
	printf "| %'d | %s | %s s | %s s | %s s | %s MiB |\n" "$N" "$name" "$t" "$cpu" "$rc" "$(rss_mib "$pid")"
}

start_edge() { # start_edge ADMINPORT extra-flags...; sets EPID
	local ap=$1
	shift
	local lim=${EDGE_GOMEMLIMIT:-}
	[ -n "${FROM_SNAPSHOT:-}" ] && lim=${SNAPSHOT_GOMEMLIMIT:-$lim}
	GOMEMLIMIT=$lim "$BIN" edge --redis "127.0.0.1:$RPORT" --listen "127.0.0.1:$(freeport)" --admin-listen "127.0.0.1:$ap" \
		--spool-dir "$WORK/spool.$ap" --log-level warn "$@" >"$WORK/log.$ap" 2>&1 &
	EPID=$!
	PIDS+=("$EPID")
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

echo "| links | start | ready after | process CPU | Redis CPU | RSS when ready |"
echo "|---|---|---|---|---|---|"
for N in $SIZES; do
	RPORT=$(freeport)
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile "$WORK/redis.log"
	until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.05; done
	"$BIN" loadtest seed --redis "127.0.0.1:$RPORT" --n "$N" >/dev/null
	mem=$(redis-cli -p "$RPORT" info memory | awk -F: '/^used_memory:/ {printf "%.0f", $2/1048576}')
	echo "| $N | (Redis used_memory after seeding: $mem MiB) | | | | |"

	# 1. From Redis, every link read.
	if [ "${SKIP_FIRST:-0}" != 1 ]; then
		ap=$(freeport); rc=$(redis_cpu); START=$(now)
		start_edge "$ap" --shared-snapshots=false
		wait_ready "$EPID" "$ap"; row "edge from Redis" "$EPID" "$rc"; stop "$EPID"
	fi

	# 2. Publishing the shared snapshot (and a local one at shutdown).
	ap=$(freeport); rc=$(redis_cpu); START=$(now)
	start_edge "$ap" --snapshot-dir "$WORK/snap" --snapshot-interval 1s
	wait_ready "$EPID" "$ap"
	until curl -s "http://127.0.0.1:$ap/metrics" | grep -q '^qredge_snapshots_published_total [1-9]'; do sleep 0.1; done
	row "edge from Redis, then publishing the shared snapshot" "$EPID" "$rc"
	bytes=$(curl -s "http://127.0.0.1:$ap/metrics" | awk '/^qredge_snapshot_bytes / {printf "%.1f", $2/1048576}')
	stop "$EPID"
	mem=$(redis-cli -p "$RPORT" info memory | awk -F: '/^used_memory:/ {printf "%.0f", $2/1048576}')
	echo "| $N | (snapshot: $bytes MiB compressed; Redis used_memory with it: $mem MiB) | | | | |"

	# 3. From the shared snapshot (SNAPSHOT_GOMEMLIMIT applies from here).
	FROM_SNAPSHOT=1
	lim=${SNAPSHOT_GOMEMLIMIT:+ (GOMEMLIMIT=$SNAPSHOT_GOMEMLIMIT)}
	ap=$(freeport); rc=$(redis_cpu); START=$(now)
	start_edge "$ap" --snapshot-interval 1h
	wait_ready "$EPID" "$ap"; row "edge from the shared snapshot$lim" "$EPID" "$rc"; stop "$EPID"

	# 4. From its local snapshot.
	ap=$(freeport); rc=$(redis_cpu); START=$(now)
	start_edge "$ap" --snapshot-dir "$WORK/snap" --shared-snapshots=false --snapshot-interval 1h
	wait_ready "$EPID" "$ap"; row "edge from its local snapshot$lim" "$EPID" "$rc"; stop "$EPID"

	# 5. Several edges at once, from the shared snapshot.
	rc=$(redis_cpu); START=$(now)
	eps=(); aps=()
	for _ in $(seq "$CONCURRENT"); do
		ap=$(freeport); start_edge "$ap" --snapshot-interval 1h; eps+=("$EPID"); aps+=("$ap")
	done
	for i in "${!eps[@]}"; do wait_ready "${eps[$i]}" "${aps[$i]}"; done
	tot=0
	for p in "${eps[@]}"; do tot=$((tot + $(ticks "$p"))); done
	t=$(awk -v a="$START" -v b="$(now)" 'BEGIN {printf "%.2f", b-a}')
	r=$(awk -v a="$rc" -v b="$(redis_cpu)" 'BEGIN {printf "%.2f", b-a}')
	printf "| %'d | %d edges at once from the shared snapshot | %s s (all) | %s s (all) | %s s | |\n" "$N" "$CONCURRENT" "$t" "$(awk -v t=$tot -v hz=$hz 'BEGIN {printf "%.2f", t/hz}')" "$r"
	for p in "${eps[@]}"; do stop "$p"; done
	FROM_SNAPSHOT=

	redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
	RPORT=

	# 6. qredge serve over a bbolt file.
	"$BIN" loadtest seed --data-dir "$WORK/data" --n "$N" >/dev/null
	ap=$(freeport); START=$(now)
	GOMEMLIMIT=${EDGE_GOMEMLIMIT:-} "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$ap" --log-level warn >"$WORK/log.$ap" 2>&1 &
	SP=$!; PIDS+=("$SP")
	wait_ready "$SP" "$ap"
	t=$(awk -v a="$START" -v b="$(now)" 'BEGIN {printf "%.2f", b-a}')
	printf "| %'d | serve (bbolt) | %s s | %s s | | %s MiB |\n" "$N" "$t" "$(awk -v t="$(ticks $SP)" -v hz=$hz 'BEGIN {printf "%.2f", t/hz}')" "$(rss_mib $SP)"
	stop "$SP"
	rm -rf "$WORK/data" "$WORK/snap" "$WORK"/spool.*
done

#!/usr/bin/env bash
# CPU of an idle 'qredge serve' and an idle 'qredge edge' (with its own
# redis-server, no Kafka) over SECONDS (60 by default), read from
# /proc/PID/stat after a warm-up. Everything listens on 127.0.0.1.
#
#   make idle-cpu            # or: SECONDS_IDLE=120 bash loadtest/idle-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_IDLE:-60}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/qredge" ./cmd/qredge
rport=$(freeport)
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --daemonize yes --pidfile "$work/redis.pid" >/dev/null
for _ in $(seq 50); do [ -s "$work/redis.pid" ] && break; sleep 0.1; done
"$work/qredge" serve --listen "127.0.0.1:$(freeport)" --data-dir "$work/data" >"$work/serve.log" 2>&1 &
pids+=($!)
serve=$!
"$work/qredge" edge --redis "127.0.0.1:$rport" --listen "127.0.0.1:$(freeport)" --admin-listen "127.0.0.1:$(freeport)" \
	--spool-dir "$work/spool" >"$work/edge.log" 2>&1 &
pids+=($!)
edge=$!
sleep 8 # started, loaded, first timers run
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
s0=$(ticks "$serve")
e0=$(ticks "$edge")
sleep "$secs"
s1=$(ticks "$serve")
e1=$(ticks "$edge")
hz=$(getconf CLK_TCK)
pct() { awk -v t="$1" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.2f%%", t * 100 / hz / s }'; }
echo "idle over ${secs} s: serve $(pct $((s1 - s0))) of a core ($((s1 - s0)) ticks), edge $(pct $((e1 - e0))) ($((e1 - e0)) ticks)"

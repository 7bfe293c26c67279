#!/usr/bin/env bash
# bench-compare: qredge against nginx answering the same redirects, in the
# same run, under the same load tool (wrk with randomised codes).
#
#   make bench-compare                  # 100,000 codes, 3 alternating rounds of 10 s
#   N=100000 ROUNDS=5 DURATION=20s CONNS=64 THREADS=1 SERVERS="floor qredge-kafka" loadtest/bench-compare.sh
#
# Servers: nginx (one worker, `map` + `return 302`), floor (a bare fasthttp
# map server built from loadtest/floor: the framework's floor), qredge edge
# with events to Kafka (a kfake broker) and links from Redis, metrics and
# the latency histogram on, and qredge serve (embedded store, scan events
# into the local log, counted by the in-process aggregator). Each server is
# pinned to CPU 0 and wrk to CPU 1 when the machine has two or more CPUs.
# For each server it prints requests/s, p50 and p99 latency (wrk's, which
# is closed-loop: see docs/benchmarks.md), the server's CPU time per
# redirect from /proc (user+system of the server's processes, in
# microseconds), system calls per request (strace -c -f on the server
# over a separate short wrk pass, SYSCALL_DURATION), and the ratios to
# nginx and to the floor.
#
# Installs nginx, wrk and strace with apt-get when missing. Everything
# listens on 127.0.0.1 and stops at the end.
set -euo pipefail

N=${N:-100000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
SERVERS=${SERVERS:-"nginx floor qredge-kafka qredge"}
SYSCALL_DURATION=${SYSCALL_DURATION:-2s}
SYSCALLS=${SYSCALLS:-1} # 0: skip the strace pass
# PROFILE_DIR=dir: a 5 s CPU profile of each Go server per round, taken
# during the measured pass (floor, edge and serve).
cd "$(dirname "$0")/.."

log() { echo "bench-compare: $*" >&2; }

need() {
	local missing=()
	for b in "$@"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	command -v apt-get >/dev/null || { log "missing ${missing[*]} and no apt-get: install them"; exit 1; }
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	log "installing ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
		{ $sudo apt-get update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; }
}
need nginx wrk redis-server taskset strace
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d /tmp/qredge-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# free_port, wait_http, start_kafka_edge
. loadtest/lib.sh

SERVER_CPU="" LOAD_CPU=""
if [ "$(nproc)" -ge 2 ]; then SERVER_CPU="taskset -c 0"; LOAD_CPU="taskset -c 1"; fi

log "building qredge and kfakeserver"
go build -trimpath -o "$WORK/qredge" ./cmd/qredge
go build -trimpath -o "$WORK/kfakeserver" ./loadtest/kfakeserver
go build -trimpath -o "$WORK/floor" ./loadtest/floor

# --- nginx: the same codes in a map -------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "/c%d https://example.com/c%d;\n", i, i }' >"$WORK/nginx/map.conf"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log error;
events { worker_connections 4096; }
http {
	access_log off;
	map_hash_max_size 262144;
	map_hash_bucket_size 128;
	map \$uri \$dest { include $WORK/nginx/map.conf; }
	server {
		listen 127.0.0.1:$NGINX_PORT reuseport backlog=4096;
		keepalive_requests 1000000;
		location / {
			if (\$dest) { return 302 \$dest; }
			return 404;
		}
	}
}
EOF

# --- qredge serve: embedded store seeded directly -----------------------
QREDGE_PORT=$(free_port)
QREDGE_ADMIN=$(free_port)
"$WORK/qredge" loadtest seed --data-dir "$WORK/data" --n "$N" --prefix c >&2

# --- qredge edge: Redis + Kafka (kfake) ---------------------------------
REDIS_PORT=$(free_port)
EDGE_PORT=$(free_port)
EDGE_ADMIN=$(free_port)

start_nginx() {
	$SERVER_CPU "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
	SRV_PID=$!; PIDS+=("$SRV_PID")
	wait_http "http://127.0.0.1:$NGINX_PORT/c1"
	URL="http://127.0.0.1:$NGINX_PORT"
}
FLOOR_PORT=$(free_port)
FLOOR_PPROF=$(free_port)
start_floor() {
	GOMAXPROCS=1 $SERVER_CPU "$WORK/floor" -listen "127.0.0.1:$FLOOR_PORT" -pprof "127.0.0.1:$FLOOR_PPROF" -n "$N" 2>"$WORK/floor.log" &
	SRV_PID=$!; PIDS+=("$SRV_PID")
	wait_http "http://127.0.0.1:$FLOOR_PORT/c1"
	PPROF_URL="http://127.0.0.1:$FLOOR_PPROF"
	URL="http://127.0.0.1:$FLOOR_PORT"
}
start_qredge() {
	GOMAXPROCS=1 $SERVER_CPU "$WORK/qredge" serve --listen "127.0.0.1:$QREDGE_PORT" --data-dir "$WORK/data" \
		--admin-listen "127.0.0.1:$QREDGE_ADMIN" --api-key bench-compare-admin-key --log-level warn 2>"$WORK/qredge.log" &
	SRV_PID=$!; PIDS+=("$SRV_PID")
	wait_http "http://127.0.0.1:$QREDGE_PORT/c1"
	URL="http://127.0.0.1:$QREDGE_PORT"
	PPROF_URL="http://127.0.0.1:$QREDGE_ADMIN"
}
start_qredge_kafka() {
	# Redis runs without persistence and is stopped after each round: seed it each time.
	start_kafka_edge "$SERVER_CPU" "$WORK/edge-spool"
	SRV_PID=$EDGE_PID
	PPROF_URL="http://127.0.0.1:$EDGE_ADMIN"
}

# CPU ticks (user+system) of a process and its children threads/processes.
cpu_ticks() { # pid
	local total=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		[ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}
HZ=$(getconf CLK_TCK)

cat >"$WORK/random.lua" <<EOF
local n = $N
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) math.randomseed(os.time() * 1000 + (id or 0)) end
function request() return wrk.format("GET", "/c" .. math.random(1, n)) end
EOF

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
run_one() { # name
	local name=$1
	PPROF_URL=""
	case $name in
	nginx) start_nginx ;;
	floor) start_floor ;;
	qredge) start_qredge ;;
	qredge-kafka) start_qredge_kafka ;;
	*) log "unknown server $name"; exit 1 ;;
	esac
	# Warm up (and let qredge's JIT-free paths settle), then measure.
	$LOAD_CPU wrk -t"$THREADS" -c"$CONNS" -d2s -s "$WORK/random.lua" "$URL" >/dev/null
	local before after
	before=$(cpu_ticks "$SRV_PID")
	local prof_pid=""
	if [ -n "${PROFILE_DIR:-}" ] && [ -n "${PPROF_URL:-}" ]; then
		mkdir -p "$PROFILE_DIR"
		curl -s -o "$PROFILE_DIR/$name.round$ROUND.pprof" "$PPROF_URL/debug/pprof/profile?seconds=5" &
		prof_pid=$!
	fi
	$LOAD_CPU wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$WORK/random.lua" "$URL" >"$WORK/wrk.out"
	after=$(cpu_ticks "$SRV_PID")
	[ -z "$prof_pid" ] || wait "$prof_pid"
	local rps reqs p50 p99 errs
	rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.out")
	reqs=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
	p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.out")
	p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out")
	errs=$(awk '/Non-2xx or 3xx|Socket errors/ { print }' "$WORK/wrk.out" | tr '\n' ' ')
	local cpu_us
	cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v r="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / r }')
	# System calls per request: strace counts them on every thread of the
	# server over a short separate pass (strace slows the server; the
	# count per request does not depend on its speed).
	local sys_per_req="-"
	if [ "$SYSCALLS" = 1 ]; then
		# Every thread of the server and of its children (nginx's worker):
		# strace -f follows only threads created after it attached.
		local tids=() p t
		for p in "$SRV_PID" $(pgrep -P "$SRV_PID" || true); do
			for t in /proc/"$p"/task/*; do tids+=(-p "${t##*/}"); done
		done
		strace -c -f -q -o "$WORK/strace.out" "${tids[@]}" 2>/dev/null &
		local st_pid=$!
		sleep 0.5
		$LOAD_CPU wrk -t"$THREADS" -c"$CONNS" -d"$SYSCALL_DURATION" -s "$WORK/random.lua" "$URL" >"$WORK/wrk-strace.out"
		kill -INT "$st_pid" 2>/dev/null || true
		wait "$st_pid" 2>/dev/null || true
		local sreqs calls
		sreqs=$(awk '/requests in/ { print $1 }' "$WORK/wrk-strace.out")
		calls=$(awk '$NF == "total" { print $4 }' "$WORK/strace.out")
		[ -n "$calls" ] && [ -n "$sreqs" ] && sys_per_req=$(awk -v c="$calls" -v r="$sreqs" 'BEGIN { printf "%.2f", c / r }')
		awk 'NR > 2 && $NF != "total" && $NF !~ /^-/ { print }' "$WORK/strace.out" | sort -k4 -gr | head -4 |
			awk -v n="$name" -v r="$sreqs" '{ printf "bench-compare: %s: %s %.2f/request\n", n, $NF, $4 / r }' >&2
	fi
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$name" "$rps" "$(to_us "$p50")" "$(to_us "$p99")" "$cpu_us" "$sys_per_req" "$errs" >>"$RESULTS"
	log "$name: $rps req/s, p50 $p50, p99 $p99, $cpu_us µs CPU/redirect, $sys_per_req syscalls/request ${errs:+($errs)}"
	stop_servers
}
to_us() { # wrk duration such as 85.00us, 1.20ms, 2.00s
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.1f", v }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.1f", v * 1000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.1f", v * 1e6 }
		else print v }'
}
stop_servers() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	PIDS=()
}

log "$N codes, $ROUNDS rounds of $DURATION, wrk -t$THREADS -c$CONNS, servers: $SERVERS"
for ROUND in $(seq 1 "$ROUNDS"); do
	for s in $SERVERS; do run_one "$s"; done
done

echo
echo "medians of $ROUNDS rounds ($N codes, wrk -t$THREADS -c$CONNS -d$DURATION, $(nproc) CPUs: server on CPU 0, wrk on CPU 1)"
printf "%-14s %10s %9s %9s %13s %10s %10s %10s %11s\n" server "req/s" "p50 µs" "p99 µs" "CPU µs/redir" "syscalls" "rps/nginx" "cpu/nginx" "cpu/floor"
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s { print $c }' "$RESULTS" | median; }
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; else echo "-"; fi; }
n_rps=$(col nginx 2) n_cpu=$(col nginx 5) f_cpu=$(col floor 5)
for s in $SERVERS; do
	rps=$(col "$s" 2) p50=$(col "$s" 3) p99=$(col "$s" 4) cpu=$(col "$s" 5)
	sc=$(awk -F'\t' -v s="$s" '$1 == s && $6 != "-" { print $6 }' "$RESULTS" | median)
	printf "%-14s %10.0f %9s %9s %13s %10s %10s %10s %11s\n" "$s" "$rps" "$p50" "$p99" "$cpu" "${sc:--}" \
		"$(ratio "$rps" "$n_rps")" "$(ratio "$cpu" "$n_cpu")" "$(ratio "$cpu" "$f_cpu")"
done
echo
echo "all rounds (server, req/s, p50 µs, p99 µs, CPU µs/redirect, syscalls/request, errors):"
cat "$RESULTS"

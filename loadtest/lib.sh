# Shell functions the loadtest scripts share: sourced, never run. The
# script defines log (a message to stderr), WORK (its scratch directory,
# holding the qredge and kfakeserver binaries) and PIDS (what its cleanup
# stops) before calling them. Everything listens on 127.0.0.1.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url: waits for a 302 from url, or exits
	for _ in $(seq 1 300); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
		[ "$code" = "302" ] && return 0
		sleep 0.1
	done
	log "no 302 from $1"; exit 1
}

# start_kafka_edge CPU SPOOL_DIR: starts Redis (no persistence) on
# REDIS_PORT and a kfake broker, seeds N links c1..cN, and starts
# `qredge edge` with GOMAXPROCS=1 under CPU (a taskset prefix, or empty)
# on EDGE_PORT and EDGE_ADMIN, spooling into SPOOL_DIR. Returns once the
# edge answers; sets EDGE_PID and URL.
start_kafka_edge() {
	local cpu=$1 spool=$2
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
	PIDS+=("$!")
	"$WORK/kfakeserver" >"$WORK/kfake.out" 2>&1 &
	PIDS+=("$!")
	for _ in $(seq 1 100); do grep -q listening "$WORK/kfake.out" 2>/dev/null && break; sleep 0.1; done
	BROKERS=$(awk '/listening/ { print $2 }' "$WORK/kfake.out")
	for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
	"$WORK/qredge" loadtest seed --redis "127.0.0.1:$REDIS_PORT" --n "$N" --prefix c >&2
	# $cpu is a command prefix, left unquoted to split into words.
	GOMAXPROCS=1 $cpu "$WORK/qredge" edge --redis "127.0.0.1:$REDIS_PORT" --kafka "$BROKERS" \
		--listen "127.0.0.1:$EDGE_PORT" --admin-listen "127.0.0.1:$EDGE_ADMIN" --spool-dir "$spool" \
		--log-level warn 2>"$WORK/edge.log" &
	EDGE_PID=$!
	PIDS+=("$EDGE_PID")
	URL="http://127.0.0.1:$EDGE_PORT"
	wait_http "$URL/c1"
}

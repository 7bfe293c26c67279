#!/usr/bin/env bash
# openloop: the edge's open-loop figures with the generator's own cost
# beside them, in the same run on the same target:
#
#   bash loadtest/openloop.sh                   # 3 rounds
#   ROUNDS=5 DURATION=10s loadtest/openloop.sh
#
# Starts Redis (no persistence) and a kfake broker, seeds 100,000 links,
# starts `qredge edge` pinned to CPU 0 with GOMAXPROCS=1, and per round:
#   1. wrk (closed loop, -t1 -c64, pinned to CPU 1) finds the edge's
#      maximum rate; the edge's and wrk's CPU time per request;
#   2. `qredge loadtest run` (pinned to CPU 1) at half that rate for
#      DURATION: latency from the intended send time, service time, send
#      delay, and the generator's and the edge's CPU per request;
#   3. a spike: idle 1 s, then the maximum rate for 5 s: errors, p99 per
#      second, the generator's CPU per second.
# Prints a line per run and the medians. CPU time is user+system from
# getrusage (wrk, the generator's report) and /proc/<pid>/stat (the edge).
# Everything listens on 127.0.0.1 and stops at the end.
set -euo pipefail

N=${N:-100000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
cd "$(dirname "$0")/.."

log() { echo "openloop: $*" >&2; }
for b in wrk redis-server redis-cli taskset python3 curl; do
	command -v "$b" >/dev/null || { log "missing $b (apt-get install -y wrk redis-server)"; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { log "needs 2 CPUs: the edge on CPU 0, the load on CPU 1"; exit 1; }

WORK=$(mktemp -d /tmp/qredge-openloop.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
# free_port, wait_http, start_kafka_edge
. loadtest/lib.sh

log "building qredge and kfakeserver"
go build -trimpath -o "$WORK/qredge" ./cmd/qredge
go build -trimpath -o "$WORK/kfakeserver" ./loadtest/kfakeserver

REDIS_PORT=$(free_port) EDGE_PORT=$(free_port) EDGE_ADMIN=$(free_port)
start_kafka_edge "taskset -c 0" "$WORK/spool"
EDGE=$EDGE_PID

ticks() { awk '{ print $14 + $15 }' "/proc/$EDGE/stat"; }
HZ=$(getconf CLK_TCK)
cat >"$WORK/random.lua" <<LUA
local n = $N
function init(args) math.randomseed(os.time()) end
function request() return wrk.format("GET", "/c" .. math.random(1, n)) end
LUA
# wrk's CPU time: getrusage of the child.
cat >"$WORK/cpu.py" <<'PY'
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("cpu %.4f" % (r.ru_utime + r.ru_stime), file=sys.stderr)
sys.exit(rc)
PY
gen() { # name args...: one generator run; prints its report's figures
	local name=$1 b a
	shift
	b=$(ticks)
	taskset -c 1 "$WORK/qredge" loadtest run --target "$URL" --codes "$N" --dist uniform --unknown 0 \
		--report "$WORK/$name.json" --quiet "$@" >/dev/null
	a=$(ticks)
	python3 - "$WORK/$name.json" $((a - b)) "$HZ" "$name" <<'PY'
import json, sys
r, ticks, hz, name = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = r["total"]
edge = ticks / hz * 1e6 / max(t["sent"], 1)
gen = t["generator_cpu_per_request_us"]
print("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%d" % (name, t["sent"], t["errors"], t["latency_us"]["p50"],
	t["latency_us"]["p99"], t["service_us"]["p99"], t["send_delay_us"]["p99"], gen, edge, gen / edge if edge else 0, t["peak_workers"]), flush=True)
if name.startswith("spike"):
	print("%s per second (p99 µs, generator CPU): %s" % (name, ", ".join("%d %.0f%%" % (s["latency_us"]["p99"], s["generator_cpu_seconds"] * 100)
		for s in r["seconds"] if s["intended"] > 0)), file=sys.stderr)
PY
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for r in $(seq 1 "$ROUNDS"); do
	taskset -c 1 wrk -t1 -c64 -d2s -s "$WORK/random.lua" "$URL" >/dev/null
	b=$(ticks)
	taskset -c 1 python3 "$WORK/cpu.py" wrk -t1 -c64 -d"$DURATION" -s "$WORK/random.lua" "$URL" >"$WORK/wrk.out" 2>"$WORK/wrk.err"
	a=$(ticks)
	reqs=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
	max=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$WORK/wrk.out")
	wcpu=$(awk '/^cpu/ { print $2 }' "$WORK/wrk.err")
	awk -v r="$reqs" -v m="$max" -v t=$((a - b)) -v hz="$HZ" -v w="$wcpu" 'BEGIN {
		e = t / hz * 1e6 / r; g = w * 1e6 / r
		printf "wrk\t%d\t0\t-\t-\t-\t-\t%.2f\t%.2f\t%.2f\t64\n", m, g, e, g / e }' | tee -a "$RESULTS"
	gen "half$r" --rate $((max / 2)) --duration "$DURATION" | tee -a "$RESULTS"
	gen "spike$r" --profile spike --idle 1s --rate "$max" --duration 5s | tee -a "$RESULTS"
done

echo
echo "medians of $ROUNDS rounds; µs; CPU per request of the load tool and of the edge (user+system)"
printf "%-6s %9s %7s %8s %8s %11s %13s %10s %10s %6s\n" run "req/s|sent" errors p50 p99 service_p99 send_delay_p99 tool_cpu edge_cpu ratio
for kind in wrk half spike; do
	awk -F'\t' -v k="$kind" 'index($1, k) == 1' "$RESULTS" | python3 -c '
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in sys.stdin]
def med(i):
	v = [float(r[i]) for r in rows if r[i] != "-"]
	return "%g" % statistics.median(v) if v else "-"
print("%-6s %9s %7s %8s %8s %11s %13s %10s %10s %6s" % ((sys.argv[1],) + tuple(med(i) for i in range(1, 10))))' "$kind"
done

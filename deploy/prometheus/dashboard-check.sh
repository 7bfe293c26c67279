#!/usr/bin/env bash
# dashboard-check: the Grafana dashboard's queries and the alert rules against
# the metrics qredge really exports (make dashboard-check).
#
# Starts, all on 127.0.0.1 free ports: a redis-server, a kfake Kafka broker
# (loadtest/kfakeserver), qredge serve, qredge edge (Redis + Kafka),
# qredge api, qredge analytics and qredge webhooks, and a webhook receiver
# that answers every delivery 501 (python3 -m http.server), so deliveries
# are retried and the webhook's outbox and lag are reported; seeds links,
# creates the webhook, sends a few API requests and LOAD_SECONDS of scans
# to serve and the edge (qredge loadtest run); and a Prometheus (Debian's
# /usr/bin/prometheus) that scrapes all five every second and loads
# alerts.yml. Then dashboard_check.py evaluates every
# expression of deploy/grafana/qredge.json and every alert's signal (the
# expr without its threshold comparison) through /api/v1/query, and fails
# if one is invalid or returns no series. Stops everything it started.
#
# Needs prometheus, redis-server, curl and python3; installs the Debian
# packages prometheus and redis-server when missing (as root).
set -euo pipefail

LOAD_SECONDS=${LOAD_SECONDS:-15}
RATE=${RATE:-200}
cd "$(dirname "$0")/../.."
ROOT=$PWD

log() { echo "dashboard-check: $*" >&2; }

need() { # command package
	command -v "$1" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] ||
		{ log "missing $1: install the Debian package $2"; exit 1; }
	log "installing $2"
	# policy-rc.d keeps the package's prometheus service from starting on :9090
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}
need prometheus prometheus
need redis-server redis-server
need curl curl
need python3 python3
PROMETHEUS=$(command -v prometheus)

WORK=$(mktemp -d /tmp/qredge-dashcheck.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for _ in $(seq 1 30); do
		alive=0
		for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.2
	done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ok() { # url what
	for _ in $(seq 1 300); do
		curl -fs -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	log "$2 did not answer 200 on $1"
	for f in "$WORK"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
	exit 1
}

log "building qredge and kfakeserver"
go build -o "$WORK/qredge" ./cmd/qredge
go build -o "$WORK/kfakeserver" ./loadtest/kfakeserver
Q="$WORK/qredge"

REDIS_PORT=$(free_port) SERVE_PORT=$(free_port) EDGE_PORT=$(free_port) EDGE_ADMIN=$(free_port)
API_PORT=$(free_port) API_ADMIN=$(free_port) ANALYTICS_ADMIN=$(free_port) PROM_PORT=$(free_port)
WEBHOOKS_ADMIN=$(free_port) RECEIVER_PORT=$(free_port)
KEY=qk_dashboardcheck_0123456789abcdef
N=1000

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
"$WORK/kfakeserver" >"$WORK/kfake.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do grep -q listening "$WORK/kfake.log" 2>/dev/null && break; sleep 0.1; done
BROKERS=$(awk '/listening/ { print $2 }' "$WORK/kfake.log")
[ -n "$BROKERS" ] || { log "kfakeserver did not start"; cat "$WORK/kfake.log" >&2; exit 1; }
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

log "seeding $N links into the embedded store and into Redis"
"$Q" loadtest seed --data-dir "$WORK/data" --n "$N" >"$WORK/seed.log" 2>&1
"$Q" loadtest seed --redis "127.0.0.1:$REDIS_PORT" --n "$N" >>"$WORK/seed.log" 2>&1

# The receiver: http.server answers POST with 501, a failure that is retried.
python3 -m http.server --bind 127.0.0.1 "$RECEIVER_PORT" >"$WORK/receiver.log" 2>&1 &
PIDS+=("$!")

log "starting qredge serve, edge, api, analytics and webhooks"
"$Q" serve --listen "127.0.0.1:$SERVE_PORT" --data-dir "$WORK/data" --api-key "$KEY" --log-level warn >"$WORK/serve.log" 2>&1 &
PIDS+=("$!")
"$Q" edge --redis "127.0.0.1:$REDIS_PORT" --kafka "$BROKERS" --listen "127.0.0.1:$EDGE_PORT" \
	--admin-listen "127.0.0.1:$EDGE_ADMIN" --spool-dir "$WORK/edge-spool" --log-level warn >"$WORK/edge.log" 2>&1 &
PIDS+=("$!")
"$Q" api --redis "127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$API_PORT" --admin-listen "127.0.0.1:$API_ADMIN" \
	--api-key "$KEY" --public-url "http://127.0.0.1:$EDGE_PORT" --webhook-allow-private --log-level warn >"$WORK/api.log" 2>&1 &
PIDS+=("$!")
"$Q" analytics --redis "127.0.0.1:$REDIS_PORT" --kafka "$BROKERS" --admin-listen "127.0.0.1:$ANALYTICS_ADMIN" \
	--log-level warn >"$WORK/analytics.log" 2>&1 &
PIDS+=("$!")
"$Q" webhooks --redis "127.0.0.1:$REDIS_PORT" --kafka "$BROKERS" --admin-listen "127.0.0.1:$WEBHOOKS_ADMIN" \
	--webhook-allow-private --log-level warn >"$WORK/webhooks.log" 2>&1 &
PIDS+=("$!")
wait_ok "http://127.0.0.1:$SERVE_PORT/readyz" "qredge serve"
wait_ok "http://127.0.0.1:$EDGE_ADMIN/readyz" "qredge edge"
wait_ok "http://127.0.0.1:$API_ADMIN/readyz" "qredge api"
wait_ok "http://127.0.0.1:$ANALYTICS_ADMIN/readyz" "qredge analytics"
wait_ok "http://127.0.0.1:$WEBHOOKS_ADMIN/readyz" "qredge webhooks"

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: qredge-serve
    static_configs: [{targets: ["127.0.0.1:$SERVE_PORT"]}]
  - job_name: qredge-edge
    static_configs: [{targets: ["127.0.0.1:$EDGE_ADMIN"]}]
  - job_name: qredge-api
    static_configs: [{targets: ["127.0.0.1:$API_ADMIN"]}]
  - job_name: qredge-analytics
    static_configs: [{targets: ["127.0.0.1:$ANALYTICS_ADMIN"]}]
  - job_name: qredge-webhooks
    static_configs: [{targets: ["127.0.0.1:$WEBHOOKS_ADMIN"]}]
EOF
log "starting prometheus on 127.0.0.1:$PROM_PORT"
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
wait_ok "http://127.0.0.1:$PROM_PORT/-/ready" "prometheus"

log "API requests to serve and api"
for base in "http://127.0.0.1:$SERVE_PORT" "http://127.0.0.1:$API_PORT"; do
	auth=(-H "Authorization: Bearer $KEY")
	curl -fs -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' \
		-d '{"code":"dashcheck","destination":"https://example.com/dashcheck"}' "$base/api/v1/links"
	curl -fs -o /dev/null "${auth[@]}" "$base/api/v1/links/dashcheck"
	curl -fs -o /dev/null "${auth[@]}" "$base/api/v1/links?limit=10"
	curl -s -o /dev/null "${auth[@]}" "$base/api/v1/links/no-such-link"
	curl -s -o /dev/null "$base/api/v1/links" # 401
done

log "a webhook for scans, to the receiver"
curl -fs -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
	-d "{\"url\":\"http://127.0.0.1:$RECEIVER_PORT/hook\",\"events\":[\"scan\"]}" "http://127.0.0.1:$API_PORT/api/v1/webhooks"

log "scans for ${LOAD_SECONDS}s at $RATE/s to serve and to the edge"
"$Q" loadtest run --target "http://127.0.0.1:$SERVE_PORT" --codes "$N" --rate "$RATE" --duration "${LOAD_SECONDS}s" \
	--quiet --unknown 0.05 >"$WORK/load-serve.log" 2>&1 &
L1=$!
PIDS+=("$L1")
"$Q" loadtest run --target "http://127.0.0.1:$EDGE_PORT" --codes "$N" --rate "$RATE" --duration "${LOAD_SECONDS}s" \
	--quiet --unknown 0.05 >"$WORK/load-edge.log" 2>&1 &
L2=$!
PIDS+=("$L2")
wait "$L1" || { log "load on serve failed"; cat "$WORK/load-serve.log" >&2; exit 1; }
wait "$L2" || { log "load on the edge failed"; cat "$WORK/load-edge.log" >&2; exit 1; }
sleep 2 # the last events reach Kafka and the aggregators

python3 deploy/prometheus/dashboard_check.py --prometheus "http://127.0.0.1:$PROM_PORT" \
	--dashboard deploy/grafana/qredge.json

#!/usr/bin/env bash
# What the edge features cost per request: the same release gateway, the same acme transform
# request (order.xml, 12 items) against the benchmark's upstream nginx, with one feature
# switched on at a time, every variant run in turn for several rounds so that the machine's
# drift falls on all of them alike. The gateway is pinned to one core and its CPU is read
# from /proc as ../shared/bench/run.sh does; wrk and the upstream share the other core.
#
#   bench/edge.sh                         # needs target/release/schemagate, wrk, nginx, python3
#   ROUNDS=5 DURATION=5s VARIANTS="base jwt" bench/edge.sh
#
# Variants (each is bench/gateway.toml plus the lines shown in edge_config below):
#   base         nothing on
#   jwt          HS256 JWT required on the route, the verified-token cache on (the default)
#   jwt-nocache  the same with token_cache_entries = 0: a signature check per request
#   apikey       an API key required on the route
#   limit-local  the in-process rate limit on the route (a limit never reached)
#   limit-redis  the same limit kept in Redis (REDIS_URL, default redis://127.0.0.1:6390)
#   trace-10     OpenTelemetry tracing on, 10 % of new traces sampled, exported to a local sink
#   trace-100    every trace sampled and exported
#   nginx-pass   nginx's plain proxy, GET /api/users/1 (the floor for a cached GET)
#   cache-hit    schemagate, GET /cached/users/1 answered from its response cache (a GET
#                route: /api/{path} passes every method, and only GET routes are cached)
# Prints one table row per variant: medians over the rounds, and the CPU ratio to `base`
# (GET variants: to nginx-pass).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/schemagate}
SHARED=${SHARED:-$ROOT/../shared/bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-32}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
VARIANTS=${VARIANTS:-"base jwt jwt-nocache apikey limit-local limit-redis trace-10 trace-100 nginx-pass cache-hit"}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6390}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release" >&2; exit 1; }
[[ -d $SHARED/peers ]] || { echo "no benchmark peers at $SHARED (set SHARED)" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK" "$ROOT"/bench/.edge-*.toml
}
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # the process, its reaped children and its live ones (nginx's worker)
    local p sum=0
    for p in "$1" $(pgrep -P "$1" || true); do
        sum=$((sum + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$sum"
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

# --- the upstream and nginx's proxy, from the shared benchmark's own configurations --------
mkdir -p "$WORK/run/upstream-tmp" "$WORK/run/nginx-proxy-tmp" "$WORK/peers"
cp -r "$SHARED/peers/upstream" "$SHARED/peers/nginx-proxy" "$WORK/peers/"
taskset -c "$LOAD_CPU" "$NGINX" -p "$WORK/" -e run/upstream.error.log \
    -c "$WORK/peers/upstream/nginx.conf" >/dev/null 2>&1 &
PIDS+=($!)
wait_port 18080

# --- an OTLP/HTTP sink: accepts every export, keeps nothing --------------------------------
cat > "$WORK/sink.py" <<'PY'
import http.server
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 14318), Sink).serve_forever()
PY
taskset -c "$LOAD_CPU" python3 "$WORK/sink.py" &
PIDS+=($!)

# --- credentials: an HS256 token valid for a day, an API key and its hash ------------------
SECRET="edge-benchmark-secret-of-at-least-32-bytes"
TOKEN=$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
head = b(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "bench"}).encode())
body = b(json.dumps({"iss": "bench", "aud": "partners", "sub": "acme",
                     "exp": int(time.time()) + 86400}).encode())
sig = b(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)
APIKEY="edge-benchmark-api-key"
APIKEY_SHA=$(printf %s "$APIKEY" | sha256sum | cut -d' ' -f1)

edge_config() { # variant -> the lines added to bench/gateway.toml
    case $1 in
    base | nginx-pass) ;;
    jwt | jwt-nocache)
        [[ $1 == jwt-nocache ]] && printf '[auth]\ntoken_cache_entries = 0\n'
        cat <<TOML
[auth.jwt.bench]
issuer = "bench"
audiences = ["partners"]
keys = [{ kid = "bench", algorithm = "HS256", secret = "$SECRET" }]
[routes."acme/orders".auth]
methods = ["jwt"]
TOML
        ;;
    apikey)
        cat <<TOML
[auth.api_key]
keys = [{ consumer = "acme", sha256 = "$APIKEY_SHA" }]
[routes."acme/orders".auth]
methods = ["api_key"]
TOML
        ;;
    limit-local | limit-redis)
        [[ $1 == limit-redis ]] && printf '[redis]\nurl = "%s"\nprefix = "schemagate-edge-bench"\n[rate_limit]\nbackend = "redis"\n' "$REDIS_URL"
        cat <<TOML
[routes."acme/orders".rate_limit]
enabled = true
key = "client_address"
rate = 1000000000
burst = 1000000000
TOML
        ;;
    trace-10 | trace-100)
        local ratio=0.1
        [[ $1 == trace-100 ]] && ratio=1.0
        printf '[tracing]\nenabled = true\nendpoint = "http://127.0.0.1:14318/v1/traces"\nsampling_ratio = %s\nexport_interval_ms = 1000\n' "$ratio"
        ;;
    cache-hit)
        cat <<TOML
[cache]
enabled = true
default_ttl_secs = 300
TOML
        ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
    esac
}

cat > "$WORK/req.lua" <<'LUA'
local body_file = os.getenv("BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/xml"
end
local name, value = os.getenv("HEADER_NAME"), os.getenv("HEADER_VALUE")
if name and name ~= "" then wrk.headers[name] = value end
LUA

redis_commands() {
    redis-cli -u "$REDIS_URL" info stats | awk -F: '/^total_commands_processed/ {print $2+0}'
}
reqs_floor=1000

# measure VARIANT: prints "cpu_us_per_request requests_per_second"
measure() {
    local v=$1 port=18084 url body="$SHARED/fixtures/order.xml" hname="" hvalue="" pid
    url="http://127.0.0.1:$port/partners/acme/orders"
    case $v in
    jwt | jwt-nocache) hname=Authorization hvalue="Bearer $TOKEN" ;;
    apikey) hname=X-Api-Key hvalue=$APIKEY ;;
    nginx-pass) port=18081 url="http://127.0.0.1:18081/api/users/1" body="" ;;
    cache-hit) url="http://127.0.0.1:$port/cached/users/1" body="" ;;
    esac
    if [[ $v == nginx-pass ]]; then
        taskset -c "$GW_CPU" "$NGINX" -p "$WORK/" -e run/nginx-proxy.error.log \
            -c "$WORK/peers/nginx-proxy/nginx.conf" >/dev/null 2>&1 &
    else
        { cat bench/gateway.toml; echo; edge_config "$v"; } > "bench/.edge-$v.toml"
        taskset -c "$GW_CPU" "$BIN" serve --config "bench/.edge-$v.toml" \
            --admin-listen 127.0.0.1:0 >"$WORK/$v.log" 2>&1 &
    fi
    pid=$!
    # measure runs in a subshell: whatever ends it must stop this variant's server too.
    trap 'kill "$pid" 2>/dev/null || true' EXIT
    wait_port "$port" || { cat "$WORK/$v.log" >&2; exit 1; }
    local code
    if [[ -n $body ]]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/xml" \
            ${hname:+-H "$hname: $hvalue"} --data-binary "@$body" "$url")
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' "$url")
    fi
    [[ $code == 200 ]] || { echo "$v: smoke request answered $code" >&2; cat "$WORK/$v.log" >&2; exit 1; }
    local cmds_before=""
    [[ $v == limit-redis ]] && cmds_before=$(redis_commands)
    local envs=(BODY_FILE="$body" HEADER_NAME="$hname" HEADER_VALUE="$hvalue")
    env "${envs[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" -s "$WORK/req.lua" "$url" >/dev/null
    sleep 0.5
    local before after out reqs non2xx
    before=$(cpu_ticks "$pid")
    out=$(env "${envs[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" -s "$WORK/req.lua" "$url")
    after=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [[ -n $cmds_before ]] && (($(redis_commands) - cmds_before < reqs_floor)); then
        echo "limit-redis: Redis saw fewer commands than requests: the limit did not use it" >&2
        exit 1
    fi
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    [[ -z $non2xx ]] || { echo "$v: $non2xx answers were not 2xx" >&2; exit 1; }
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    awk -v r="$reqs" -v t=$((after - before)) -v hz="$CLK_TCK" -v d="${DURATION%s}" \
        'BEGIN { printf "%.2f %.0f\n", (t / hz) * 1e6 / r, r / d }'
}

declare -A results
for ((round = 1; round <= ROUNDS; round++)); do
    for v in $VARIANTS; do
        r=$(measure "$v")
        results[$v]+="$r;"
        echo "round $round $v: $r" >&2
    done
done

echo "| variant | gateway CPU µs/request (median) | requests/s (median) | CPU vs reference | runs (µs) |"
echo "|---|---:|---:|---:|---|"
for v in $VARIANTS; do
    ref=base
    [[ $v == cache-hit ]] && ref=nginx-pass
    [[ $v == nginx-pass ]] && ref=""
    python3 - "$v" "${results[$v]}" "${ref:+${results[$ref]:-}}" "$ref" <<'PY'
import statistics, sys
name, runs, ref_runs, ref = sys.argv[1:5]
parse = lambda s: [tuple(map(float, x.split())) for x in s.split(";") if x]
r = parse(runs)
cpu = statistics.median(x[0] for x in r)
rps = statistics.median(x[1] for x in r)
ratio = ""
if ref_runs and name != ref:
    ratio = f"{cpu / statistics.median(x[0] for x in parse(ref_runs)):.3f} × {ref}"
print(f"| {name} | {cpu:.2f} | {rps:,.0f} | {ratio} | {', '.join(f'{x[0]:.2f}' for x in r)} |")
PY
done

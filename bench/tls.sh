#!/usr/bin/env bash
# TLS cost on the partner listener: wrk against the same gateway over plain HTTP and over
# HTTPS, the gateway pinned to one core, its CPU read from /proc as ../shared/bench/run.sh
# does. The target is a fixed answer (GET of an unknown path: the 404 problem document), so
# the difference is the listener's: TLS records with keep-alive, handshakes without.
#
#   bench/tls.sh                      # needs target/release/schemagate, wrk, openssl (CLI)
#   DURATION=10s CONNS=32 GW_CPU=1 LOAD_CPU=0 bench/tls.sh
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/schemagate}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME URL [wrk args...]: prints NAME requests/s, CPU µs per request.
run() {
    local name=$1 url=$2 pid=$3; shift 3
    local before after out reqs
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" "$@" "$url")
    after=$(cpu_ticks "$pid")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    awk -v n="$name" -v r="$reqs" -v t=$((after - before)) -v hz="$CLK_TCK" -v d="${DURATION%s}" \
        'BEGIN { printf "| %s | %.0f | %.1f |\n", n, r / d, (t / hz) * 1e6 / r }'
}

# serve CONFIG PORT: starts the gateway pinned to GW_CPU, waits for it, sets GW.
serve() {
    LISTEN=127.0.0.1:$2 taskset -c "$GW_CPU" "$BIN" serve --config "$1" \
        --admin-listen 127.0.0.1:0 >/dev/null 2>&1 &
    GW=$!
    PIDS+=("$GW")
    for _ in $(seq 100); do
        curl -sk -o /dev/null "http://127.0.0.1:$2/" 2>/dev/null && return
        curl -sk -o /dev/null "https://127.0.0.1:$2/" 2>/dev/null && return
        sleep 0.1
    done
}

cat > "$WORK/tls.toml" <<TOML
$(cat bench/gateway.toml)

[tls]
cert_file = "$WORK/cert.pem"
key_file = "$WORK/key.pem"
TOML
sed -i "s#\"\\.\\./#\"$PWD/#" "$WORK/tls.toml"

echo "| listener | requests/s | gateway CPU µs per request |"
echo "|---|---|---|"
serve bench/gateway.toml 18091
run "plain HTTP/1.1, keep-alive" http://127.0.0.1:18091/nowhere "$GW"
run "plain HTTP/1.1, new connection per request" http://127.0.0.1:18091/nowhere "$GW" -H "Connection: close"
kill "$GW"
serve "$WORK/tls.toml" 18092
run "HTTPS (TLS 1.3) HTTP/1.1, keep-alive" https://127.0.0.1:18092/nowhere "$GW"
run "HTTPS (TLS 1.3), new connection (full handshake) per request" https://127.0.0.1:18092/nowhere "$GW" -H "Connection: close"

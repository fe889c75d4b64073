#!/usr/bin/env python3
"""Soak: the release gateway for a set time under mixed valid, invalid and hostile traffic,
with an upstream that misbehaves, reporting resident memory, open descriptors, latency and
errors once per interval, then a summary.

    cargo build --release
    DURATION=600 python3 bench/soak.py

Environment (all optional):
    DURATION=600          seconds of traffic
    INTERVAL=30           seconds per report line
    CONCURRENCY=24        client tasks sending at once
    SCHEMAGATE_BIN=target/release/schemagate
    WORKERS=0             the gateway's runtime threads (0: one per core)
    PORT_BASE=18180       upstream on PORT_BASE, gateway on +4, its admin listener on +5
    SEED=1                the traffic and fault mix's random seed

Traffic (weights in SCENARIOS): valid partner requests (acme XML, globex JSON, order
status, the BFF aggregate, a keep-alive series, the pass-through route); invalid ones
(schema violations, malformed XML, wrong media type, unknown paths and methods); hostile
ones (documents nested 100,000 deep, an entity-expansion DTD, 200,000-value arrays, bodies
over the limit declared and streamed, heads over the limit, garbage request lines, a
slow-loris head, clients that disconnect mid-body or before the answer).

The upstream (UPSTREAM_FAULTS) answers most requests properly and otherwise: slowly (past
the gateway's 1.5 s upstream deadline), with 500/503, by closing before or in the middle
of its answer, with bytes that are not HTTP, with JSON that is not JSON, with an answer
over `max_response_bytes`, with a document nested 10,000 deep, or by closing the
keep-alive connection right after a good answer.

Each line: elapsed seconds, requests and rate, the latency of answered valid requests
(p50/p90/p99/max), the answers by class, requests with no answer (the client gave up on
purpose, or the connection closed / timed out: `failed`), and the gateway's RSS, open
descriptors and threads. The summary adds the answers per scenario and exits non-zero when
the gateway died, logged a panic, stopped answering `/healthz`, or a valid request went
unanswered (a pass-through answer is streamed, so one whose upstream cut its body off is cut
too: counted apart).
"""
import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION = float(os.environ.get("DURATION", "600"))
INTERVAL = float(os.environ.get("INTERVAL", "30"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "24"))
BIN = os.environ.get("SCHEMAGATE_BIN", os.path.join(ROOT, "target/release/schemagate"))
PORT_BASE = int(os.environ.get("PORT_BASE", "18180"))
UP_PORT, GW_PORT, ADMIN_PORT = PORT_BASE, PORT_BASE + 4, PORT_BASE + 5
REQUEST_TIMEOUT = 15.0
STREAMED = {"pass-through"}
rng = random.Random(int(os.environ.get("SEED", "1")))


def fixture(path):
    with open(os.path.join(ROOT, "tests/fixtures", path), "rb") as f:
        return f.read()


ACME = fixture("acme/orders/valid/input.xml")
ACME_MALFORMED = fixture("acme/orders/malformed/input.xml")
GLOBEX = fixture("globex/orders/valid/input.json")
GLOBEX_INVALID = fixture("globex/orders/invalid/input.json")
DTD_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><Order xmlns="urn:acme:orders:v2">&lol9;</Order>'
)
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_XML = b'<Order xmlns="urn:acme:orders:v2">' + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</Order>"
WIDE_JSON = b"[" + b",".join([b"0"] * 200_000) + b"]"


# --- the misbehaving upstream ------------------------------------------------------------
UPSTREAM_FAULTS = [
    # (weight, fault)
    (70, "ok"),
    (5, "slow"),
    (5, "error"),
    (4, "close-before"),
    (4, "close-mid-body"),
    (3, "garbage"),
    (3, "bad-json"),
    (2, "oversized"),
    (2, "deep"),
    (4, "ok-then-close"),
]
USER = b'{"id":%d,"name":"Jane Doe","email":"jane.doe@example.com","tier":"gold","created_at":"2024-03-02T10:00:00Z"}'
RECENT = b'{"user":%d,"orders":[{"order_id":"A-10001","status":"ACCEPTED","total":1343.6}]}'
NOTIFICATIONS = b'{"user":%d,"unread":1,"items":[{"id":"n-1","text":"Order A-10001 accepted"}]}'
STATUS = (
    b'{"order_id":"%s","status":"SHIPPED","placed_at":"2026-11-24T09:15:30Z","currency":"EUR",'
    b'"total":1343.6,"lines":[{"line_no":1,"sku":"ACME-BOLT-M8-40","quantity":250,'
    b'"unit_price":0.18,"shipments":[]}]}'
)


def weighted(table):
    total = sum(w for w, _ in table)
    r = rng.uniform(0, total)
    for w, item in table:
        r -= w
        if r <= 0:
            return item
    return table[-1][1]


def good_answer(method, path, body):
    """The orders service's answer, as the demo upstream gives it."""
    user = re.search(rb"user=(\d+)", path)
    uid = int(user.group(1)) if user else 1
    if method == b"POST" and path.startswith(b"/orders"):
        m = re.search(rb'"order_id"\s*:\s*"([^"]*)"', body)
        oid = m.group(1) if m else b"X-1"
        return 200, b'{"order_id":"%s","status":"ACCEPTED","total":12.5,"estimated_delivery":"2026-12-01"}' % oid
    if path.startswith(b"/orders/recent"):
        return 200, RECENT % uid
    if path.startswith(b"/orders/"):
        return 200, STATUS % path.split(b"/")[2].split(b"?")[0]
    if path.startswith(b"/users/"):
        return 200, USER % uid
    if path.startswith(b"/notifications"):
        return 200, NOTIFICATIONS % uid
    return 200, b'{"ok":true}'


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, path, _ = lines[0].split(b" ", 2)
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    return method, path, body


def response(status, body, content_length=None, ctype=b"application/json"):
    reason = {200: b"OK", 500: b"Internal Server Error", 503: b"Service Unavailable"}.get(status, b"X")
    length = len(body) if content_length is None else content_length
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (status, reason, ctype, length)
        + body
    )


async def upstream_conn(reader, writer, faults):
    try:
        while True:
            method, path, body = await read_request(reader)
            fault = weighted(UPSTREAM_FAULTS)
            faults[fault] += 1
            status, answer = good_answer(method, path, body)
            if fault == "slow":
                await asyncio.sleep(rng.uniform(0.2, 3.0))
            elif fault == "error":
                status, answer = rng.choice([500, 503]), b'{"error":"upstream failure"}'
            elif fault == "close-before":
                break
            elif fault == "close-mid-body":
                writer.write(response(status, answer[:10], content_length=len(answer)))
                await writer.drain()
                break
            elif fault == "garbage":
                writer.write(bytes(rng.getrandbits(8) for _ in range(200)))
                await writer.drain()
                break
            elif fault == "bad-json":
                answer = answer[: len(answer) // 2]
            elif fault == "oversized":
                answer = b'{"pad":"' + b"x" * 300_000 + b'"}'
            elif fault == "deep":
                answer = b"[" * 10_000 + b"]" * 10_000
            writer.write(response(status, answer))
            await writer.drain()
            if fault == "ok-then-close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
        pass
    except asyncio.CancelledError:
        # The gateway's pooled connections, idle when the soak ends.
        pass
    finally:
        writer.close()


# --- the clients -----------------------------------------------------------------------
def request(method, path, body=b"", headers=(), ctype=None):
    head = [b"%s %s HTTP/1.1" % (method, path), b"Host: gateway.test"]
    if ctype:
        head.append(b"Content-Type: " + ctype)
    if body or method == b"POST":
        head.append(b"Content-Length: %d" % len(body))
    head.extend(headers)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def read_response(reader):
    """Status of one response, its body read to the end."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if m:
        await reader.readexactly(int(m.group(1)))
    elif re.search(rb"\r\ntransfer-encoding:\s*chunked", head, re.I):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status not in (204, 304) and status >= 200:
        await reader.read()
    return status


async def exchange(payloads, abandon=None, pause=0.0):
    """Sends each payload (one request) and reads its answer; `abandon` closes the
    connection instead ('mid-body': after part of the last payload, 'before-answer': right
    after it). Returns the statuses, or a failure word."""
    reader, writer = await asyncio.open_connection("127.0.0.1", GW_PORT, limit=1 << 20)
    try:
        statuses = []
        for p in payloads:
            if abandon == "mid-body":
                writer.write(p[: len(p) - 50])
                await writer.drain()
                return ["abandoned"]
            if pause:
                for i in range(0, len(p), 8):
                    writer.write(p[i : i + 8])
                    await writer.drain()
                    await asyncio.sleep(pause)
            else:
                writer.write(p)
                await writer.drain()
            if abandon == "before-answer":
                return ["abandoned"]
            statuses.append(await read_response(reader))
        return statuses
    finally:
        writer.close()


def scenarios():
    mp, mo = b"/partners/globex/orders", b"/partners/acme/orders"
    xml, js = b"application/xml", b"application/json"
    return [
        # (weight, name, kind, payloads, options)
        (16, "acme-order", "valid", [request(b"POST", mo, ACME, ctype=xml)], {}),
        (16, "globex-order", "valid", [request(b"POST", mp, GLOBEX, ctype=js)], {}),
        (10, "order-status", "valid", [request(b"GET", mp + b"/A-%d" % rng.randrange(10**6))], {}),
        (8, "dashboard", "valid", [request(b"GET", b"/bff/dashboard?user=%d" % rng.randrange(100))], {}),
        (5, "keep-alive", "valid", [request(b"POST", mp, GLOBEX, ctype=js)] * 3, {}),
        (5, "pass-through", "valid", [request(b"GET", b"/api/users/%d" % rng.randrange(100))], {}),
        (5, "schema-invalid", "invalid", [request(b"POST", mp, GLOBEX_INVALID, ctype=js)], {}),
        (4, "malformed-xml", "invalid", [request(b"POST", mo, ACME_MALFORMED, ctype=xml)], {}),
        (3, "wrong-media-type", "invalid", [request(b"POST", mp, GLOBEX, ctype=b"text/plain")], {}),
        (3, "unknown-path", "invalid", [request(b"GET", b"/nowhere/%d" % rng.randrange(1000))], {}),
        (2, "wrong-method", "invalid", [request(b"DELETE", mp)], {}),
        (2, "deep-json", "hostile", [request(b"POST", mp, DEEP_JSON, ctype=js)], {}),
        (2, "deep-xml", "hostile", [request(b"POST", mo, DEEP_XML, ctype=xml)], {}),
        (2, "entity-expansion", "hostile", [request(b"POST", mo, DTD_BOMB, ctype=xml)], {}),
        (2, "wide-json", "hostile", [request(b"POST", mp, WIDE_JSON, ctype=js)], {}),
        (
            2,
            "declared-oversize",
            "hostile",
            [b"POST " + mp + b" HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"],
            {},
        ),
        (
            1,
            "streamed-oversize",
            "hostile",
            [
                b"POST " + mp + b" HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(20))
                + b"0\r\n\r\n"
            ],
            {},
        ),
        (2, "huge-head", "hostile", [request(b"GET", mp, headers=[b"X-Pad: " + b"p" * 20000])], {}),
        (2, "garbage", "hostile", [bytes(rng.getrandbits(8) for _ in range(300)) + b"\r\n\r\n"], {}),
        (1, "slow-loris", "hostile", [request(b"GET", mp + b"/A-1", headers=[b"X-Pad: " + b"p" * 60])], {"pause": 0.25}),
        (3, "disconnect-mid-body", "hostile", [request(b"POST", mp, GLOBEX, ctype=js)], {"abandon": "mid-body"}),
        (3, "disconnect-before-answer", "hostile", [request(b"POST", mo, ACME, ctype=xml)], {"abandon": "before-answer"}),
    ]


class Stats:
    def __init__(self):
        self.interval = []  # (kind, name, outcome, latency)
        self.total = defaultdict(Counter)  # name -> outcome counts
        self.valid_latencies = []
        self.requests = 0

    def record(self, kind, name, outcome, latency):
        self.interval.append((kind, name, outcome, latency))
        self.total[name][outcome] += 1
        self.requests += 1
        if kind == "valid" and isinstance(outcome, int):
            self.valid_latencies.append(latency)


async def client(stats, stop_at):
    while time.monotonic() < stop_at:
        table = scenarios()
        _, name, kind, payloads, opts = pick(table)
        started = time.monotonic()
        try:
            outcomes = await asyncio.wait_for(exchange(payloads, **opts), REQUEST_TIMEOUT)
        except asyncio.TimeoutError:
            outcomes = ["timeout"]
        except (ConnectionError, asyncio.IncompleteReadError, OSError, ValueError, IndexError):
            outcomes = ["closed"]
        latency = time.monotonic() - started
        for o in outcomes:
            stats.record(kind, name, o, latency / max(1, len(outcomes)))


def pick(table):
    total = sum(t[0] for t in table)
    r = rng.uniform(0, total)
    for t in table:
        r -= t[0]
        if r <= 0:
            return t
    return table[-1]


# --- the gateway process ---------------------------------------------------------------
def proc_figures(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def healthz():
    try:
        with socket.create_connection(("127.0.0.1", ADMIN_PORT), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return s.recv(64).split(b" ")[1] == b"200"
    except (OSError, IndexError):
        return False


async def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} not found: cargo build --release first (or set SCHEMAGATE_BIN)")
    faults = Counter()
    up = await asyncio.start_server(lambda r, w: upstream_conn(r, w, faults), "127.0.0.1", UP_PORT, limit=1 << 22)
    log = tempfile.NamedTemporaryFile(prefix="soak-gateway-", suffix=".log", delete=False)
    env = dict(
        os.environ,
        LISTEN=f"127.0.0.1:{GW_PORT}",
        ADMIN_LISTEN=f"127.0.0.1:{ADMIN_PORT}",
        UPSTREAM_URL=f"http://127.0.0.1:{UP_PORT}",
    )
    gw = subprocess.Popen(
        [BIN, "serve", "--config", os.path.join(ROOT, "bench/soak.toml")], env=env, stdout=log, stderr=log
    )
    try:
        for _ in range(100):
            if healthz():
                break
            await asyncio.sleep(0.1)
        else:
            sys.exit(f"the gateway did not come up; see {log.name}")
        rss0, fds0, _ = proc_figures(gw.pid)
        print(
            f"soak: {DURATION:.0f} s, {CONCURRENCY} clients, gateway pid {gw.pid} "
            f"(RSS {rss0:.1f} MB, {fds0} fds at start), log {log.name}",
            flush=True,
        )
        print(
            f"{'t/s':>5} {'reqs':>6} {'req/s':>6} {'valid p50/p90/p99/max ms':>26} "
            f"{'2xx':>5} {'4xx':>5} {'5xx':>5} {'aband':>5} {'failed':>6} {'RSS MB':>7} {'fds':>4} {'thr':>3}",
            flush=True,
        )
        stats = Stats()
        start = time.monotonic()
        stop_at = start + DURATION
        tasks = [asyncio.create_task(client(stats, stop_at)) for _ in range(CONCURRENCY)]
        rows = []
        next_report = start + INTERVAL
        while True:
            await asyncio.sleep(max(0.0, min(next_report, stop_at) - time.monotonic()))
            now = time.monotonic()
            batch, stats.interval = stats.interval, []
            if gw.poll() is not None:
                print(f"the gateway exited with {gw.returncode}", flush=True)
                break
            rss, fds, threads = proc_figures(gw.pid)
            lat = [l * 1000 for k, _, o, l in batch if k == "valid" and isinstance(o, int)]
            classes = Counter(
                (f"{o // 100}xx" if isinstance(o, int) else ("aband" if o == "abandoned" else "failed")) for _, _, o, _ in batch
            )
            span = INTERVAL if now < stop_at else now - (next_report - INTERVAL)
            rows.append((rss, fds))
            print(
                f"{now - start:5.0f} {len(batch):6} {len(batch) / max(span, 1e-9):6.1f} "
                f"{percentile(lat, .5):6.1f}/{percentile(lat, .9):5.1f}/{percentile(lat, .99):6.1f}/{max(lat, default=float('nan')):6.0f} "
                f"{classes['2xx']:5} {classes['4xx']:5} {classes['5xx']:5} {classes['aband']:5} {classes['failed']:6} "
                f"{rss:7.1f} {fds:4} {threads:3}",
                flush=True,
            )
            next_report += INTERVAL
            if now >= stop_at:
                break
        await asyncio.gather(*tasks, return_exceptions=True)
        # Idle for a moment, so pooled connections and buffers can be given back.
        await asyncio.sleep(5)
        alive = gw.poll() is None
        rss_end, fds_end, _ = proc_figures(gw.pid) if alive else (float("nan"), -1, -1)
        healthy = alive and healthz()
    finally:
        if gw.poll() is None:
            gw.terminate()
            try:
                gw.wait(10)
            except subprocess.TimeoutExpired:
                gw.kill()
        up.close()
    with open(log.name, "rb") as f:
        panics = f.read().count(b"panicked")
    lat = stats.valid_latencies
    print("\nsummary")
    print(f"  requests {stats.requests} in {DURATION:.0f} s; upstream exchanges {sum(faults.values())}: " + ", ".join(f"{k} {v}" for k, v in faults.most_common()))
    print(
        f"  valid answered latency ms: p50 {percentile(lat, .5) * 1000:.1f}, p90 {percentile(lat, .9) * 1000:.1f}, "
        f"p99 {percentile(lat, .99) * 1000:.1f}, p99.9 {percentile(lat, .999) * 1000:.1f}, max {max(lat, default=0) * 1000:.0f}"
    )
    rss_all = [r for r, _ in rows]
    fds_all = [f for _, f in rows]
    print(
        f"  RSS MB: start {rss0:.1f}, max {max(rss_all, default=0):.1f}, end of traffic {rss_all[-1] if rss_all else 0:.1f}, after 5 s idle {rss_end:.1f}"
    )
    print(f"  fds: start {fds0}, max {max(fds_all, default=0)}, after 5 s idle {fds_end}")
    print(f"  gateway alive {alive}, /healthz {'200' if healthy else 'FAILED'}, panics logged {panics}")
    print("  answers per scenario:")
    for name, counts in sorted(stats.total.items()):
        print(f"    {name:26} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))))
    # A pass-through answer is streamed: once its head is sent, an upstream that cuts the
    # body off (close-mid-body, ok-then-close racing the body) cuts the partner's answer too.
    # Every other valid request must get a status.
    valid = {s[1] for s in scenarios() if s[2] == "valid"}
    unanswered_valid = sum(
        c
        for name, counts in stats.total.items()
        for o, c in counts.items()
        if name in valid and (o == "timeout" or (o == "closed" and name not in STREAMED))
    )
    print(f"  valid requests without an answer: {unanswered_valid} (pass-through answers cut with their upstream's: {stats.total['pass-through']['closed']})")
    if not (alive and healthy and panics == 0 and unanswered_valid == 0):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())

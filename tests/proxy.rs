//! The `proxy` route kind and upstream targets, end to end: real upstreams on loopback
//! (recording, streaming, slow, failing, closing mid-body), a real gateway, real sockets.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Gateway, Recorded, Upstream, send};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A mappings directory holding one proxy route `/api/{*rest}` -> `service` at
/// `/v1/{rest}`, with `proxy_extra` appended to the file.
fn proxy_mappings(service: &str, proxy_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let partner = dir.path().join("edge");
    std::fs::create_dir_all(&partner).unwrap();
    std::fs::write(
        partner.join("api.yaml"),
        format!(
            "route:\n  kind: proxy\n  path: /api/{{*rest}}\n  format: json\nupstream:\n  service: {service}\n  path: /v1/{{rest}}\n{proxy_extra}"
        ),
    )
    .unwrap();
    dir
}

async fn gateway(upstream: &str, extra: &str, mappings: &Path) -> Gateway {
    Gateway::start_with(upstream, extra, Some(mappings)).await
}

fn echo_upstream() -> common::Responder {
    Arc::new(|r: &Recorded| {
        (
            StatusCode::CREATED,
            "text/plain",
            format!("{} {} {}", r.method, r.path, r.body.len()).into_bytes(),
            Duration::ZERO,
        )
    })
}

#[tokio::test]
async fn method_path_query_headers_and_body_pass_through() {
    let up = Upstream::start(echo_upstream()).await;
    let maps = proxy_mappings("orders", "");
    let gw = gateway(&up.url(), "", maps.path()).await;
    let reply = send(
        Method::PUT,
        &gw.url("/api/users/M%C3%BCller/a+b?x=1&y=%2F&x=2"),
        &[
            ("x-custom", "kept"),
            ("connection", "x-hop"),
            ("x-hop", "dropped"),
            ("x-internal-role", "admin"),
            ("x-forwarded-for", "10.1.1.1"),
            ("via", "1.0 edge"),
            ("authorization", "Bearer abc"),
        ],
        "hello",
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.text(), "PUT /v1/users/M%C3%BCller/a+b 5");
    assert_eq!(reply.header("content-type"), "text/plain");
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, Method::PUT);
    assert_eq!(r.path, "/v1/users/M%C3%BCller/a+b");
    assert_eq!(r.query.as_deref(), Some("x=1&y=%2F&x=2"));
    assert_eq!(&r.body[..], b"hello");
    let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(h("x-custom").as_deref(), Some("kept"));
    assert_eq!(h("authorization").as_deref(), Some("Bearer abc"));
    assert_eq!(h("x-hop"), None);
    assert_eq!(h("x-internal-role"), None);
    // The partner's own X-Forwarded-For is not believed (no trusted proxies configured):
    // upstream learns the peer's address alone.
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("via").as_deref(), Some("1.0 edge, 1.1 schemagate"));
    assert_eq!(h("host").as_deref(), Some(up.addr.to_string().as_str()));
    assert_eq!(h("content-length").as_deref(), Some("5"));
    assert!(h("x-correlation-id").is_some());

    // Every method, custom ones included, and the bare prefix.
    for (method, path, upstream_path) in [
        ("DELETE", "/api/x", "/v1/x"),
        ("PROPFIND", "/api/x/", "/v1/x/"),
        ("GET", "/api", "/v1/"),
        ("OPTIONS", "/api/", "/v1/"),
    ] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let reply = send(m, &gw.url(path), &[], Bytes::new()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{method} {path}");
        assert_eq!(reply.text(), format!("{method} {upstream_path} 0"));
    }
}

/// Sends a raw request line for `path` and returns the status code.
async fn raw_status(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text[9..12].parse().unwrap();
    (code, text)
}

#[tokio::test]
async fn no_path_spelling_escapes_the_prefix() {
    let up = Upstream::start(echo_upstream()).await;
    let maps = proxy_mappings("orders", "");
    let gw = gateway(&up.url(), "", maps.path()).await;
    for path in [
        "/api/../admin",
        "/api/a/../../admin",
        "/api/%2e%2e/admin",
        "/api/%2E%2E/admin",
        "/api/.%2e/admin",
        "/api/%2e./admin",
        "/api/./admin",
        "/api/%2e/admin",
        "/api/a/..",
        "/api/..%2fadmin",
        "/api/..%2Fadmin",
        "/api/a%2f..%2f..%2fadmin",
        "/api/..%5cadmin",
        "/api/..\\admin",
        "/api/a%00b",
        "/api/a%zz",
    ] {
        let (code, text) = raw_status(gw.addr, path).await;
        assert_eq!(code, 400, "{path}: {text}");
        assert!(text.contains("invalid-path"), "{path}: {text}");
    }
    assert_eq!(up.requests().len(), 0, "nothing reached the upstream");
    // Dots inside a name and double encoding are plain characters.
    for (path, upstream) in [
        ("/api/a..b/...", "/v1/a..b/..."),
        ("/api/%252e%252e/x", "/v1/%252e%252e/x"),
    ] {
        let (code, text) = raw_status(gw.addr, path).await;
        assert_eq!(code, 201, "{path}: {text}");
        assert!(text.ends_with(&format!("GET {upstream} 0")), "{text}");
    }
    // Outside the prefix nothing matches.
    assert_eq!(raw_status(gw.addr, "/apix/a").await.0, 404);
    assert_eq!(raw_status(gw.addr, "/ap%69/a").await.0, 404);
}

/// An upstream that hashes each request body as it streams in and answers with the
/// digest, the byte count and, for `GET /v1/download/N`, N generated bytes.
async fn streaming_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: http::Request<Incoming>| async move {
                    let path = req.uri().path().to_string();
                    let download = path
                        .strip_prefix("/v1/download/")
                        .map(|n| (n, 65536, true))
                        .or_else(|| path.strip_prefix("/v1/chunked/").map(|n| (n, 512, false)));
                    if let Some((n, step, declared)) = download {
                        let n: usize = n.parse().unwrap();
                        let chunks = (0..n.div_ceil(step)).map(move |i| {
                            let len = (n - i * step).min(step);
                            Ok::<_, Infallible>(Frame::data(Bytes::from(pattern(i * step, len))))
                        });
                        let body = StreamBody::new(futures_util_stream(chunks));
                        let mut resp = http::Response::builder();
                        if declared {
                            resp = resp.header("content-length", n.to_string());
                        }
                        return Ok::<_, Infallible>(resp.body(body.boxed_unsync()).unwrap());
                    }
                    let wants_trailers = req.headers().get("te").is_some();
                    let mut body = req.into_body();
                    let mut hasher = Sha256::new();
                    let mut count = 0usize;
                    let mut trailer = String::new();
                    while let Some(frame) = body.frame().await {
                        // A body the gateway cut off ends here.
                        let Ok(frame) = frame else {
                            break;
                        };
                        if let Some(d) = frame.data_ref() {
                            hasher.update(d);
                            count += d.len();
                        } else if let Some(t) = frame.trailers_ref() {
                            trailer = t
                                .get("x-checksum")
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default();
                        }
                    }
                    let text = format!("{} {count} {trailer}", hex::encode(hasher.finalize()));
                    let frames: Vec<Result<Frame<Bytes>, Infallible>> = if wants_trailers {
                        let mut t = http::HeaderMap::new();
                        t.insert("x-upstream-sum", "42".parse().unwrap());
                        vec![Ok(Frame::data(Bytes::from(text))), Ok(Frame::trailers(t))]
                    } else {
                        vec![Ok(Frame::data(Bytes::from(text)))]
                    };
                    let mut resp = http::Response::builder();
                    if wants_trailers {
                        resp = resp.header("trailer", "x-upstream-sum");
                    }
                    Ok(resp
                        .body(
                            StreamBody::new(futures_util_stream(frames.into_iter())).boxed_unsync(),
                        )
                        .unwrap())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A `Stream` over an iterator.
fn futures_util_stream<I: Iterator>(iter: I) -> futures_util::stream::Iter<I> {
    futures_util::stream::iter(iter)
}

fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn bodies_larger_than_the_memory_budget_stream_both_ways() {
    let addr = streaming_upstream().await;
    let maps = proxy_mappings(
        "orders",
        "proxy:\n  max_request_bytes: 67108864\n  max_response_bytes: 67108864\n",
    );
    // The transform routes' memory budget is 64 KiB; the proxy route moves 8 MiB.
    let gw = gateway(
        &format!("http://{addr}"),
        "\n[limits]\nmax_body_bytes = 65536\nmax_response_bytes = 65536\n",
        maps.path(),
    )
    .await;
    let size = 8 * 1024 * 1024;
    let upload = pattern(0, size);
    let expected = hex::encode(Sha256::digest(&upload));
    // Chunked (no Content-Length): frames as they come.
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = upload
        .chunks(100_000)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let req = http::Request::post(gw.url("/api/upload"))
        .body(StreamBody::new(futures_util_stream(chunks.into_iter())))
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(text, format!("{expected} {size} "));

    // Download: the same size back, checksum compared.
    let reply = common::get(&gw.url(&format!("/api/download/{size}"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-length"), size.to_string());
    assert_eq!(reply.body.len(), size);
    assert_eq!(hex::encode(Sha256::digest(&reply.body)), expected);
}

#[tokio::test]
async fn the_route_limits_hold_declared_and_mid_stream() {
    let addr = streaming_upstream().await;
    let maps = proxy_mappings(
        "orders",
        "proxy:\n  max_request_bytes: 1000\n  max_response_bytes: 1000\n",
    );
    let gw = gateway(&format!("http://{addr}"), "", maps.path()).await;
    // Declared: refused before a byte is read.
    let reply = send(Method::POST, &gw.url("/api/x"), &[], vec![b'a'; 1001]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.json()["type"],
        "urn:schemagate:problem:payload-too-large"
    );
    // Chunked: cut off once past the limit.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut req =
        b"POST /api/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        req.extend_from_slice(b"190\r\n");
        req.extend_from_slice(&[b'a'; 400]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    // Exactly at the limit passes.
    let reply = send(Method::POST, &gw.url("/api/x"), &[], vec![b'a'; 1000]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text().ends_with(" 1000 "), "{}", reply.text());
    // A response declared past the limit: 502 before any byte.
    let reply = common::get(&gw.url("/api/download/5000")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json()["type"],
        "urn:schemagate:problem:upstream-error"
    );
    // Undeclared (chunked) and past the limit: cut off mid-stream, so the client never
    // gets a complete answer.
    let req = http::Request::get(gw.url("/api/chunked/5000"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    match common::client().request(req).await {
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.into_body().collect().await.is_err());
        }
        Err(e) => assert!(e.is_connect() || format!("{e:?}").contains("IncompleteMessage")),
    }
    // Within the limit, chunked passes whole.
    let reply = common::get(&gw.url("/api/chunked/1000")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], &pattern(0, 1000)[..]);
}

#[tokio::test]
async fn expect_continue_and_trailers_pass() {
    let addr = streaming_upstream().await;
    let maps = proxy_mappings("orders", "");
    let gw = gateway(&format!("http://{addr}"), "", maps.path()).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"POST /api/t HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 25];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.unwrap();
    let mut head = vec![0u8; 15];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200 OK");
    drop(s);

    // A chunked request with a trailer, and `TE: trailers` for the response's.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"POST /api/t HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nTE: trailers\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_lowercase();
    let hello = hex::encode(Sha256::digest(b"hello"));
    assert!(text.starts_with("http/1.1 200 ok"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(text.contains("trailer: x-upstream-sum"), "{text}");
    assert!(text.contains(&format!("{hello} 5 abc")), "{text}");
    assert!(text.ends_with("0\r\nx-upstream-sum: 42\r\n\r\n"), "{text}");
}

/// A raw upstream: answers each connection with `reply` and closes.
async fn raw_upstream(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply).await;
        }
    });
    addr
}

#[tokio::test]
async fn slow_failing_and_broken_upstreams() {
    let maps = proxy_mappings("orders", "");
    // Closes mid-body: the client sees the head, then the body break off.
    let addr = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly ten b").await;
    let gw = gateway(&format!("http://{addr}"), "", maps.path()).await;
    let req = http::Request::get(gw.url("/api/x"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = common::client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.into_body().collect().await.is_err());

    // Nothing listening: 502.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let gw = gateway(&format!("http://{dead_addr}"), "", maps.path()).await;
    let reply = common::get(&gw.url("/api/x")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json()["type"],
        "urn:schemagate:problem:upstream-error"
    );

    // Slower than the upstream's request_timeout_ms (1000 in the test config): 504.
    let slow = Upstream::start(Arc::new(|_: &Recorded| {
        (
            StatusCode::OK,
            "text/plain",
            b"late".to_vec(),
            Duration::from_secs(3),
        )
    }))
    .await;
    let gw = gateway(&slow.url(), "", maps.path()).await;
    let reply = common::get(&gw.url("/api/x")).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
}

fn tagged(tag: &'static str) -> common::Responder {
    Arc::new(move |_: &Recorded| {
        (
            StatusCode::OK,
            "text/plain",
            tag.as_bytes().to_vec(),
            Duration::ZERO,
        )
    })
}

#[tokio::test]
async fn round_robin_is_exact_and_a_failing_target_is_ejected_then_readmitted() {
    let a = Upstream::start(tagged("a")).await;
    let b = Upstream::start(tagged("b")).await;
    let c = Upstream::start(tagged("c")).await;
    let maps = proxy_mappings("multi", "");
    let extra = format!(
        "\n[upstreams.multi]\nurl = \"http://service.internal\"\ntargets = [\"{}\", \"{}\", \"{}\"]\n",
        a.addr, b.addr, c.addr
    );
    let gw = gateway(&a.url(), &extra, maps.path()).await;
    let mut seen = String::new();
    for _ in 0..9 {
        let reply = common::get(&gw.url("/api/x")).await;
        assert_eq!(reply.status, StatusCode::OK);
        seen.push_str(&reply.text());
    }
    assert_eq!(seen, "abcabcabc");
    // The Host is the service's name, whichever target serves.
    assert_eq!(b.requests()[0].headers["host"], "service.internal");

    // A dead second target: ejected after its first failure, readmitted after eject_ms.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let extra = format!(
        "\n[upstreams.multi]\nurl = \"http://service.internal\"\ntargets = [\"{}\", \"{dead_addr}\"]\n[upstreams.multi.balance]\neject_after_failures = 1\neject_ms = 300\n",
        a.addr
    );
    let gw = gateway(&a.url(), &extra, maps.path()).await;
    let statuses = |n| {
        let gw = &gw;
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(common::get(&gw.url("/api/x")).await.status.as_u16());
            }
            out
        }
    };
    assert_eq!(statuses(5).await, [200, 502, 200, 200, 200]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Readmitted on probation, and next in turn (five picks so far): tried once more,
    // fails, ejected again.
    assert_eq!(statuses(5).await, [502, 200, 200, 200, 200]);
}

#[tokio::test]
async fn active_health_checks_eject_and_readmit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let healthy = Arc::new(AtomicBool::new(false));
    let h = Arc::clone(&healthy);
    let a = Upstream::start(tagged("a")).await;
    let b = Upstream::start(Arc::new(move |r: &Recorded| {
        if r.path == "/health" {
            let ok = h.load(Ordering::SeqCst);
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, "text/plain", Vec::new(), Duration::ZERO)
        } else {
            (StatusCode::OK, "text/plain", b"b".to_vec(), Duration::ZERO)
        }
    }))
    .await;
    let maps = proxy_mappings("multi", "");
    let extra = format!(
        "\n[upstreams.multi]\nurl = \"http://service.internal\"\ntargets = [\"{}\", \"{}\"]\n[upstreams.multi.balance]\nhealth_check_path = \"/health\"\nhealth_check_interval_ms = 50\n",
        a.addr, b.addr
    );
    let gw = gateway(&a.url(), &extra, maps.path()).await;
    // Wait for the first round of checks to see b unhealthy.
    while !b.requests().iter().any(|r| r.path == "/health") {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut seen = String::new();
    for _ in 0..4 {
        seen.push_str(&common::get(&gw.url("/api/x")).await.text());
    }
    assert_eq!(seen, "aaaa");
    healthy.store(true, Ordering::SeqCst);
    let checks = b.requests().iter().filter(|r| r.path == "/health").count();
    while b.requests().iter().filter(|r| r.path == "/health").count() < checks + 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = String::new();
    for _ in 0..4 {
        seen.push_str(&common::get(&gw.url("/api/x")).await.text());
    }
    assert_eq!(seen.matches('b').count(), 2, "{seen}");
}

#[tokio::test]
async fn proxy_route_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let partner = dir.path().join("edge");
    std::fs::create_dir_all(&partner).unwrap();
    std::fs::write(
        partner.join("bad.yaml"),
        "route:\n  kind: proxy\n  path: /api/{*rest}/x\n  format: json\nupstream:\n  service: orders\n  method: POST\n  path: /{rest}\n  query: all\nproxy:\n  max_request_bytes: 0\n",
    )
    .unwrap();
    let cfg = common::write_config(
        dir.path(),
        &common::repo().join("schemas"),
        dir.path(),
        "http://127.0.0.1:1",
        "\n[upstreams.multi]\nurl = \"http://x\"\ntargets = [\"nohost\"]\n[upstreams.multi.balance]\nhealth_check_path = \"health\"\n",
    );
    let errs = schemagate::config::load(&schemagate::config::LoadOptions {
        config_path: Some(cfg),
        ..Default::default()
    })
    .unwrap_err();
    let mut msgs: Vec<String> = errs
        .iter()
        .map(|d| format!("{}: {}", d.location.clone().unwrap_or_default(), d.message))
        .collect();
    msgs.sort();
    assert_eq!(
        msgs,
        [
            "proxy.max_request_bytes: proxy.max_request_bytes must be greater than 0",
            "route.path: `/api/{*rest}/x`: a `{*name}` parameter must be the whole last segment",
            "upstream.method: a proxy route sends the client's method: `upstream.method` cannot apply",
            "upstream.query: a proxy route passes the query string as sent: `upstream.query` cannot apply",
            "upstreams.multi.balance.health_check_path: upstreams.multi.balance.health_check_path: `health` is not a path starting with `/`",
            "upstreams.multi.targets: upstream `multi`: target `nohost` cannot be used: it needs a port number (1 to 65535)",
        ]
    );
}

/// A WebSocket echo service: every message comes back as it was sent.
async fn websocket_echo() -> SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn websocket_echo_through_the_gateway_with_an_idle_timeout() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let addr = websocket_echo().await;
    let maps = proxy_mappings("orders", "proxy:\n  websocket_idle_timeout_ms: 300\n");
    let gw = gateway(&format!("http://{addr}"), "", maps.path()).await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut ws, resp) =
        tokio_tungstenite::client_async(format!("ws://{}/api/chat", gw.addr), stream)
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(resp.headers().get("x-correlation-id").is_some());
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    let big = vec![7u8; 200_000];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
    // Silent in both directions past the idle timeout: the tunnel is closed.
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the gateway closed the idle tunnel");
    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{end:?}"
    );

    // With websockets off, the upgrade is not asked of the service.
    let maps = proxy_mappings("orders", "proxy:\n  websocket: false\n");
    let gw = gateway(&format!("http://{addr}"), "", maps.path()).await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let refused =
        tokio_tungstenite::client_async(format!("ws://{}/api/chat", gw.addr), stream).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_failing_upstream_opens_the_breaker_for_proxy_routes_too() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = Arc::clone(&failing);
    let up = Upstream::start(Arc::new(move |_: &Recorded| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                b"down".to_vec(),
                Duration::ZERO,
            )
        } else {
            (StatusCode::OK, "text/plain", b"up".to_vec(), Duration::ZERO)
        }
    }))
    .await;
    let maps = proxy_mappings("orders", "");
    let gw = gateway(
        &up.url(),
        "[circuit_breaker]\nminimum_requests = 3\nfailure_rate_percent = 50\nopen_secs = 1\nhalf_open_probes = 1\n",
        maps.path(),
    )
    .await;
    // The upstream's 500s pass through as they are, and count against it.
    for _ in 0..3 {
        let reply = common::get(&gw.url("/api/x")).await;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "down")
        );
    }
    assert_eq!(up.requests().len(), 3);
    // Open: refused without calling the upstream, with the breaker's problem.
    let open = common::get(&gw.url("/api/x")).await;
    assert_eq!(open.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(open.header("retry-after"), "1");
    let want = schemagate::problem::Problem::new(
        schemagate::problem::ProblemKind::CircuitOpen,
        "the upstream service is failing; try again later",
    )
    .to_json(open.header("x-correlation-id"));
    assert_eq!(open.text(), String::from_utf8(want).unwrap());
    assert_eq!(up.requests().len(), 3);
    // Healthy again: after open_secs a probe passes and closes the circuit.
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = common::get(&gw.url("/api/x")).await;
    assert_eq!(
        (probe.status, probe.text().as_str()),
        (StatusCode::OK, "up")
    );
    let after = common::get(&gw.url("/api/y")).await;
    assert_eq!(
        (after.status, after.text().as_str()),
        (StatusCode::OK, "up")
    );
    assert_eq!(up.requests().len(), 5);
}

/// Sends raw request bytes on a new connection; the answer as text, once the gateway closes.
async fn raw_answer(addr: SocketAddr, request: String) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_host_asked_for_is_forwarded_and_an_empty_host_is_refused() {
    let up = Upstream::start(echo_upstream()).await;
    let maps = proxy_mappings("orders", "");
    let gw = gateway(&up.url(), "", maps.path()).await;
    let forwarded_host = |i: usize| {
        up.requests()[i]
            .headers
            .get("x-forwarded-host")
            .map(|v| v.to_str().unwrap().to_string())
    };

    // An absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2), without
    // its user information.
    for target in [
        "http://partner.example:1/api/x",
        "http://user:pw@partner.example/api/x",
    ] {
        let answer = raw_answer(
            gw.addr,
            format!("POST {target} HTTP/1.1\r\nHost: other.example\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nPOST /v1/x 2"), "{answer}");
    }
    // An origin-form target: `Host` is the host asked for.
    let answer = raw_answer(
        gw.addr,
        "GET /api/x HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n".to_string(),
    )
    .await;
    assert!(answer.ends_with("\r\n\r\nGET /v1/x 0"), "{answer}");
    assert_eq!(forwarded_host(0).as_deref(), Some("partner.example:1"));
    assert_eq!(forwarded_host(1).as_deref(), Some("partner.example"));
    assert_eq!(forwarded_host(2).as_deref(), Some("other.example"));

    // No http(s) URI has an empty host (RFC 9110 §4.2.1).
    let answer = raw_answer(
        gw.addr,
        "GET /api/x HTTP/1.1\r\nHost: \r\nX-Correlation-Id: empty-host\r\nConnection: close\r\n\r\n"
            .to_string(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("\r\ncontent-type: application/problem+json\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\n{\"type\":\"urn:schemagate:problem:malformed-request\",\"title\":\"Malformed request\",\"status\":400,\"detail\":\"the Host header is empty; a request to this gateway names its host\",\"instance\":\"empty-host\"}"),
        "{answer}"
    );
    assert_eq!(
        up.requests().len(),
        3,
        "the refused request is not forwarded"
    );
}

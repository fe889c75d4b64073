//! The playground page in a real headless Chromium driven over WebDriver (chromedriver):
//! load it, paste a valid and an invalid partner document, and check what the page shows,
//! the highlighted lines included. Screenshots are saved under the target directory
//! (`playground/*.png`) as artifacts. Needs Debian's `chromium` and `chromium-driver`
//! (`.ci/run` installs them); without them the test fails, it does not skip.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Gateway, Upstream};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process of this test, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{CHROMEDRIVER}: {e} (install Debian's chromium and chromium-driver)")
            });
        Driver {
            child,
            port,
            _profile: tempfile::tempdir().unwrap(),
        }
    }

    async fn connect(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1400,1100",
                    format!("--user-data-dir={}", self._profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => return c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from {CHROMEDRIVER}: {e}"),
            }
        }
    }
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target"));
    let dir = target.join("playground");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args).await.unwrap()
}

/// Waits until `script` returns true, for at most 20 s.
async fn until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while js(c, script, vec![]).await != json!(true) {
        assert!(Instant::now() < deadline, "the page never showed: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Puts `text` into the document box as a paste does: the value changes and an input
/// event fires.
async fn paste(c: &Client, text: &str) {
    js(
        c,
        "const d = document.getElementById('document'); d.value = arguments[0]; \
         d.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![json!(text)],
    )
    .await;
}

async fn text_of(c: &Client, id: &str) -> Value {
    js(
        c,
        "return document.getElementById(arguments[0]).textContent;",
        vec![json!(id)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_maps_as_the_author_types_and_marks_the_broken_lines() {
    let upstream = Upstream::acme().await;
    let gw = Gateway::start_with(&upstream.url(), "playground = true", None).await;
    let driver = Driver::start();
    let c = driver.connect().await;
    let out = artifacts();

    c.goto(&gw.admin_url("/playground")).await.unwrap();
    until(
        &c,
        "the route list",
        "return document.body.dataset.ready === 'true';",
    )
    .await;
    assert_eq!(
        js(
            &c,
            "return [...document.querySelectorAll('#route option')].map(o => o.value);",
            vec![]
        )
        .await,
        json!([
            "acme/orders",
            "bff/dashboard",
            "globex/order-status",
            "globex/orders",
            "initech/reserve-stock",
            "initech/stock-level"
        ])
    );
    assert_eq!(
        text_of(&c, "route-info").await,
        json!("POST /partners/acme/orders (xml)")
    );
    // The document box and the results share the window: neither squeezes the other.
    assert_eq!(
        js(
            &c,
            "const w = id => document.getElementById(id).getBoundingClientRect().width; \
                return w('editor') > 600 && w('output-pane') > 600;",
            vec![]
        )
        .await,
        json!(true)
    );
    // The golden cases of the chosen route, all passing.
    until(
        &c,
        "the golden cases",
        "return document.querySelectorAll('#fixtures li.pass').length === 10;",
    )
    .await;

    let valid = String::from_utf8(common::fixture("acme/orders/valid/input.xml")).unwrap();
    paste(&c, &valid).await;
    until(
        &c,
        "a mapped document",
        "return document.getElementById('status').textContent === 'mapped';",
    )
    .await;
    let expected = std::fs::read_to_string(
        common::repo().join("tests/fixtures/acme/orders/valid/expected.json"),
    )
    .unwrap();
    assert_eq!(
        text_of(&c, "output").await,
        json!(expected.trim_end().to_string() + "\n")
    );
    let decoded: Value =
        serde_json::from_str(text_of(&c, "decoded").await.as_str().unwrap()).unwrap();
    assert_eq!(decoded["Order"]["@id"], json!("A-10001"));
    assert_eq!(decoded["Order"]["Items"]["Item"][1]["Qty"], json!(250));
    assert_eq!(text_of(&c, "errors").await, json!("no errors"));
    assert_eq!(
        js(
            &c,
            "return document.querySelectorAll('#doc-lines .line.err').length;",
            vec![]
        )
        .await,
        json!(0)
    );
    std::fs::write(out.join("valid.png"), c.screenshot().await.unwrap()).unwrap();

    let invalid = String::from_utf8(common::fixture("acme/orders/invalid/input.xml")).unwrap();
    paste(&c, &invalid).await;
    until(
        &c,
        "the errors",
        "return document.getElementById('status').textContent === 'not mapped';",
    )
    .await;
    assert_eq!(text_of(&c, "output").await, json!(""));
    assert_eq!(
        js(
            &c,
            "return [...document.querySelectorAll('#errors li')].map(li => li.textContent);",
            vec![]
        )
        .await,
        json!([
            "422 Request does not match the schema: 2 violations against the route's schema",
            "line 4, column 3: /Order/Customer missing required property \"Email\"",
            "line 22, column 7: /Order/Items/Item/1/Qty \"ten\" is not of type \"integer\""
        ])
    );
    // The broken lines of the document are highlighted, and only those.
    assert_eq!(
        js(&c, "return [...document.querySelectorAll('#doc-lines .line.err')].map(l => l.dataset.line);", vec![]).await,
        json!(["4", "22"])
    );
    assert_eq!(
        js(&c, "return getComputedStyle(document.querySelector('#doc-lines .line.err')).backgroundColor;", vec![]).await,
        json!("rgb(255, 217, 217)")
    );
    std::fs::write(out.join("invalid.png"), c.screenshot().await.unwrap()).unwrap();

    c.close().await.unwrap();
    drop(driver);
}

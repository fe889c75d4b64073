//! The gateway binary on ephemeral ports, logging JSON lines to a pipe the tests read: what
//! an operator's log shipper gets, access lines included.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{repo, write_config};

/// A running `schemagate serve` with its log lines, parsed.
pub struct LoggedGateway {
    child: Child,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl LoggedGateway {
    /// Serves the repository's schemas and `mappings` (the repository's by default) with
    /// `[upstreams.orders]` at `upstream`, JSON logs with access lines, and `extra` after
    /// the `[admin]` table as [`write_config`] takes it.
    pub fn start(upstream: &str, extra: &str, mappings: Option<&Path>) -> LoggedGateway {
        let dir = tempfile::tempdir().unwrap();
        let mappings = mappings.map_or_else(|| repo().join("mappings"), Path::to_path_buf);
        let config = write_config(
            dir.path(),
            &repo().join("schemas"),
            &mappings,
            upstream,
            extra,
        );
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("access_log = false", "access_log = true\nformat = \"json\"");
        std::fs::write(&config, text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_schemagate"))
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG")
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Kept as text when it is not JSON (a diagnostic printed before logging
                // starts), so the log shown on a failure is complete.
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(value);
            }
        });
        let mut gw = LoggedGateway {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            lines,
            reader: Some(reader),
            _dir: dir,
        };
        let listening = |message: &str| {
            let line = gw.wait_for(|l| l["message"] == message);
            line["local"]
                .as_str()
                .unwrap()
                .parse::<SocketAddr>()
                .unwrap()
        };
        let (addr, admin_addr) = (
            listening("schemagate listening"),
            listening("admin listening"),
        );
        gw.addr = addr;
        gw.admin_addr = admin_addr;
        gw
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// The process id of the gateway.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many log lines so far `matches` accepts.
    pub fn count(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| matches(l))
            .count()
    }

    /// The first log line `matches` accepts, waiting up to 10 s for it.
    pub fn wait_for(&self, matches: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| matches(l)) {
                return line.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no such log line in 10 s; the log:\n{:#?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The access lines so far, each without its time stamp and duration (checked to be a
    /// whole number of microseconds) and without tracing's span context.
    pub fn access_lines(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["target"] == "access")
            .map(|l| {
                let mut l = l.clone();
                let o = l.as_object_mut().unwrap();
                assert!(o["duration_us"].is_u64(), "{o:?}");
                for volatile in ["timestamp", "duration_us", "span", "spans"] {
                    o.remove(volatile);
                }
                l
            })
            .collect()
    }

    /// The access line of correlation id `cid`, waiting up to 10 s for it.
    pub fn access_line(&self, cid: &str) -> Value {
        self.wait_for(|l| l["target"] == "access" && l["correlation_id"] == cid);
        let mut found: Vec<Value> = self
            .access_lines()
            .into_iter()
            .filter(|l| l["correlation_id"] == cid)
            .collect();
        assert_eq!(found.len(), 1, "one line for {cid}: {found:#?}");
        found.remove(0)
    }

    /// Asks the process to stop (SIGTERM) and waits for it, and for its last log lines.
    pub fn terminate(&mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let exit = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        exit
    }
}

impl Drop for LoggedGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

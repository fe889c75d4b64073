//! Process metrics read from `/proc` at scrape time: CPU seconds, resident and virtual
//! memory, open and maximum file descriptors and the start time, under the names every
//! Prometheus client library uses (`process_*`, no prefix), so stock dashboards and alerts
//! for "a process that leaks fds or memory" work unchanged.
//!
//! Nothing is sampled between scrapes: the collector reads `/proc/self` when the page is
//! rendered, so it costs nothing on the request path. A value that cannot be read (a
//! sandbox hiding `/proc`) leaves its series out rather than reporting a made-up zero.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// One reading of the process's resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessSample {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<i64>,
    pub virtual_bytes: Option<i64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessSample {
    /// Reads `/proc/self`; on systems without procfs every field is `None`.
    #[cfg(target_os = "linux")]
    pub fn read() -> ProcessSample {
        use procfs::process::{LimitValue, Process};
        let Ok(me) = Process::myself() else {
            return ProcessSample::default();
        };
        let mut sample = ProcessSample::default();
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(stat) = me.stat() {
            if ticks > 0.0 {
                sample.cpu_seconds = Some((stat.utime + stat.stime) as f64 / ticks);
                if let Ok(boot) = procfs::boot_time_secs() {
                    sample.start_time_seconds = Some(boot as f64 + stat.starttime as f64 / ticks);
                }
            }
            let rss = stat.rss.saturating_mul(procfs::page_size());
            sample.resident_bytes = i64::try_from(rss).ok();
            sample.virtual_bytes = i64::try_from(stat.vsize).ok();
        }
        sample.open_fds = me.fd_count().ok().and_then(|n| i64::try_from(n).ok());
        if let Ok(limits) = me.limits() {
            sample.max_fds = match limits.max_open_files.soft_limit {
                LimitValue::Value(n) => i64::try_from(n).ok(),
                LimitValue::Unlimited => None,
            };
        }
        sample
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read() -> ProcessSample {
        ProcessSample::default()
    }
}

/// The collector registered on the unprefixed registry.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = ProcessSample::read();
        if let Some(v) = s.cpu_seconds {
            let m = ConstCounter::new(v);
            m.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                m.metric_type(),
            )?)?;
        }
        let gauges_i64 = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                s.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit).",
                s.max_fds,
            ),
        ];
        for (name, help, value) in gauges_i64 {
            if let Some(v) = value {
                let m = ConstGauge::new(v);
                m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)?;
            }
        }
        if let Some(v) = s.start_time_seconds {
            let m = ConstGauge::new(v);
            m.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds.",
                None,
                m.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn reads_this_process() {
        let s = ProcessSample::read();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.expect("start time");
        assert!(
            start > now - 86_400.0 && start <= now + 1.0,
            "{start} vs {now}"
        );
        assert!(s.cpu_seconds.expect("cpu") >= 0.0);
        assert!(s.resident_bytes.expect("rss") > 1 << 20);
        assert!(s.virtual_bytes.expect("vsize") >= s.resident_bytes.unwrap());
        // The file held open here is among the open descriptors counted.
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let during = ProcessSample::read().open_fds.expect("fds");
        drop(f);
        assert!(during >= 1, "{during}");
        assert!(s.max_fds.is_none_or(|m| m >= during), "{:?}", s.max_fds);
    }
}

//! Capacity metrics, read at scrape time: the memory budget for bodies in flight (its
//! limit, what is in use, requests refused), failed accepts by kind and the partner
//! listener's connection cap in force. Nothing here is written on the request path beyond
//! the budget's own atomics.

use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use super::traffic::{counter, gauge};
use crate::edge::budget::MemoryBudget;

type Source = Arc<RwLock<Option<Arc<MemoryBudget>>>>;

/// The capacity series of one [`super::Metrics`].
#[derive(Debug)]
pub struct CapacityMetrics {
    memory: Source,
}

impl CapacityMetrics {
    pub(super) fn register(registry: &mut Registry) -> CapacityMetrics {
        let memory: Source = Arc::default();
        registry.register_collector(Box::new(CapacityCollector {
            memory: Arc::clone(&memory),
        }));
        CapacityMetrics { memory }
    }

    /// Reports `budget` from now on (set once the gateway's state exists).
    pub fn report_memory(&self, budget: Arc<MemoryBudget>) {
        if let Ok(mut m) = self.memory.write() {
            *m = Some(budget);
        }
    }
}

#[derive(Debug)]
struct CapacityCollector {
    memory: Source,
}

fn clamp(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for CapacityCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(budget) = self.memory.read().ok().and_then(|m| m.clone()) {
            gauge(
                &mut enc,
                "memory_budget_bytes",
                "The memory budget for bodies in flight (limits.max_memory_bytes)",
                &[(&[], clamp(budget.limit()))],
            )?;
            gauge(
                &mut enc,
                "memory_in_flight_bytes",
                "Bytes counted against the memory budget by requests in flight",
                &[(&[], clamp(budget.in_use()))],
            )?;
            counter(
                &mut enc,
                "memory_budget_refusals",
                "Requests answered 503 memory-budget-exhausted",
                &[(&[], budget.refused())],
            )?;
        }
        let failures = crate::server::accept_failures();
        let series: Vec<([(&str, &str); 1], u64)> = failures
            .iter()
            .map(|(kind, n)| ([("kind", *kind)], *n))
            .collect();
        let series: Vec<(&[(&str, &str)], u64)> =
            series.iter().map(|(l, n)| (&l[..], *n)).collect();
        counter(
            &mut enc,
            "accept_errors",
            "Failed accepts of the process, by kind: emfile (out of file descriptors), \
             enfile (the system is), other",
            &series,
        )?;
        if let Some(cap) = crate::server::fds::partner_limit() {
            gauge(
                &mut enc,
                "partner_connection_limit",
                "The partner listener's connection cap in force: server.max_connections, or \
                 less when the file descriptor limit cannot serve that many",
                &[(&[], clamp(cap))],
            )?;
        }
        Ok(())
    }
}

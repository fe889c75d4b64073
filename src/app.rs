//! The running gateway: the HTTP phases of a partner request and the admin endpoints.

use anyhow::Result;

use crate::config::LoadOptions;

/// Runs `serve` until SIGTERM/SIGINT.
pub fn run_server(opts: LoadOptions, demo: bool) -> Result<()> {
    let _ = (opts, demo);
    anyhow::bail!("serve is not wired yet")
}

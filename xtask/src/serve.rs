//! `cargo xtask serve [--port N] [--host ADDR] [--model DIR|hub-id]… […]`: loam's
//! OpenAI-compatible HTTP server in the foreground, with the flags of the `loam-server` binary
//! (one argument struct, `loam_apps::server::ServeArgs`). Ctrl-C or SIGTERM stops it after the
//! requests in flight.

use anyhow::Result;
use loam_apps::server::{ServeArgs, run as serve};

/// Serves until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    Ok(serve(args)?)
}

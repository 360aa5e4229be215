//! Running cargo from the xtask: which cargo, and in which workspace.

use std::path::PathBuf;
use std::process::Command;

/// A `cargo` command (the one that started this xtask, `$CARGO`, else `cargo` from the path)
/// run in the workspace root.
pub fn command() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// The root of the loam workspace (the folder above `xtask/`).
pub fn workspace_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().map_or(xtask.clone(), PathBuf::from)
}

//! Building the browser SDK and measuring what it costs a page.

use std::path::{Path, PathBuf};

/// Builds `target/sdk/{sdk.js, sdk-worker.js, sdk.wasm}`.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let _ = root;
    Err("not built yet".into())
}

/// Prints the size table; fails above the budget.
pub fn size(root: &Path) -> Result<u64, String> {
    let _ = root;
    Err("not built yet".into())
}

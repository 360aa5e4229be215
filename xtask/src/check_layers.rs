//! `cargo xtask check-layers`: fails when a loam crate depends on a crate above it.
//!
//! The order is `loam-tensor < loam-nn < loam-lm < loam-apps`; `loam-text` depends on no loam
//! crate and may be used by `loam-lm` and `loam-apps` (not by `loam-nn`); `xtask` and
//! `loam-benches` sit on top and nothing depends on them.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cargo;

/// Where a workspace package sits in the layer order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    /// A library in the main stack, with its height (`loam-tensor` is 0).
    Stack(u8),
    /// `loam-text`: depends on no loam crate.
    Text,
    /// A top-level tool (`xtask`, `loam-benches`): may use any library, used by none.
    Top,
}

/// The layer of a workspace package, or `None` when it has no place in the order yet.
fn layer(package: &str) -> Option<Layer> {
    match package {
        "loam-tensor" => Some(Layer::Stack(0)),
        "loam-nn" => Some(Layer::Stack(1)),
        "loam-lm" => Some(Layer::Stack(2)),
        "loam-apps" => Some(Layer::Stack(3)),
        "loam-text" => Some(Layer::Text),
        "xtask" | "loam-benches" => Some(Layer::Top),
        _ => None,
    }
}

/// Whether a package of layer `from` may depend on one of layer `to`.
fn allowed(from: Layer, to: Layer) -> bool {
    match (from, to) {
        (_, Layer::Top) | (Layer::Text, _) => false,
        (Layer::Top, _) => true,
        (Layer::Stack(f), Layer::Stack(t)) => f > t,
        (Layer::Stack(f), Layer::Text) => f >= 2,
    }
}

/// Checks one dependency edge between workspace packages, naming it when it is forbidden.
fn check_edge(from: &str, to: &str) -> Result<()> {
    let place = |p: &str| {
        layer(p).with_context(|| {
            format!("package `{p}` has no place in the layer order (add it to xtask/src/check_layers.rs)")
        })
    };
    if !allowed(place(from)?, place(to)?) {
        bail!("`{from}` depends on `{to}`, which is not below it in the layer order");
    }
    Ok(())
}

/// The dependency edges between workspace packages, as (from, to, kind) from `cargo metadata`.
fn workspace_edges(metadata: &Value) -> Result<Vec<(String, String, String)>> {
    let packages = metadata["packages"]
        .as_array()
        .context("`packages` missing from cargo metadata")?;
    let name = |p: &Value| {
        p["name"]
            .as_str()
            .map(str::to_owned)
            .context("package without a name")
    };
    let members: BTreeSet<String> = packages.iter().map(name).collect::<Result<_>>()?;
    let mut edges = Vec::new();
    for package in packages {
        let from = name(package)?;
        let deps = package["dependencies"]
            .as_array()
            .context("package without `dependencies`")?;
        for dep in deps {
            let to = name(dep)?;
            if members.contains(&to) {
                let kind = dep["kind"].as_str().unwrap_or("normal").to_owned();
                edges.push((from.clone(), to, kind));
            }
        }
    }
    Ok(edges)
}

/// Reads `cargo metadata` and fails on the first dependency that breaks the layer order.
pub fn run() -> Result<()> {
    let output = cargo::command()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("could not start `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata is not JSON")?;
    let edges = workspace_edges(&metadata)?;
    for (from, to, kind) in &edges {
        check_edge(from, to)
            .with_context(|| format!("layer check failed on a {kind} dependency"))?;
    }
    eprintln!(
        "check-layers: {} dependencies between loam crates follow the layer order",
        edges.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_follow_the_table() {
        let table = [
            ("loam-nn", "loam-tensor", true),
            ("loam-lm", "loam-tensor", true),
            ("loam-lm", "loam-nn", true),
            ("loam-lm", "loam-text", true),
            ("loam-apps", "loam-lm", true),
            ("loam-apps", "loam-nn", true),
            ("loam-apps", "loam-text", true),
            ("loam-apps", "loam-tensor", true),
            ("xtask", "loam-tensor", true),
            ("xtask", "loam-apps", true),
            ("loam-benches", "loam-text", true),
            ("loam-tensor", "loam-nn", false),
            ("loam-tensor", "loam-text", false),
            ("loam-nn", "loam-lm", false),
            ("loam-nn", "loam-text", false),
            ("loam-lm", "loam-apps", false),
            ("loam-text", "loam-tensor", false),
            ("loam-text", "loam-lm", false),
            ("loam-apps", "xtask", false),
            ("loam-tensor", "loam-benches", false),
            ("xtask", "loam-benches", false),
            ("loam-tensor", "loam-tensor", false),
        ];
        for (from, to, ok) in table {
            assert_eq!(check_edge(from, to).is_ok(), ok, "{from} -> {to}");
        }
    }

    #[test]
    fn unknown_package_is_an_error_that_names_it() {
        let err = check_edge("loam-new", "loam-tensor").unwrap_err();
        assert!(err.to_string().contains("loam-new"), "{err}");
    }

    #[test]
    fn forbidden_edge_is_named() {
        let err = check_edge("loam-nn", "loam-text").unwrap_err();
        assert!(
            err.to_string().contains("`loam-nn` depends on `loam-text`"),
            "{err}"
        );
    }

    #[test]
    fn edges_come_from_workspace_packages_only() {
        let metadata = serde_json::json!({"packages": [
            {"name": "loam-nn", "dependencies": [
                {"name": "loam-tensor", "kind": null},
                {"name": "rayon", "kind": null},
                {"name": "loam-text", "kind": "dev"}]},
            {"name": "loam-tensor", "dependencies": [{"name": "ndarray", "kind": null}]},
            {"name": "loam-text", "dependencies": []}]});
        let edges = workspace_edges(&metadata).unwrap();
        assert_eq!(
            edges,
            [
                ("loam-nn".into(), "loam-tensor".into(), "normal".into()),
                ("loam-nn".into(), "loam-text".into(), "dev".into())
            ]
        );
    }
}

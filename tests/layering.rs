//! Checks the allowed dependency edges between berth crates.
//!
//! The table below is the one in `shared/ARCHITECTURE.md` ("Allowed dependency
//! edges"). Normal and build dependencies between workspace crates must be in
//! it. Dev-dependencies may additionally point at `berth-testkit`, and nothing
//! may depend on `berth-testkit` except as a dev-dependency. The root package
//! `berth-tests` (workspace-wide tests) is exempt. A workspace crate missing from
//! the table fails the test too, so new crates get a row here and in the doc.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// (package name, short name used in ARCHITECTURE.md, allowed internal deps by short name)
const ALLOWED: &[(&str, &str, &[&str])] = &[
    ("berth-sys", "sys", &[]),
    ("berth-cgroups", "cgroups", &["sys"]),
    ("berth-runtime", "runtime", &["sys", "cgroups"]),
    ("berth-runtime-cli", "runtime-cli", &["runtime"]),
    ("berth-shim", "shim", &["runtime", "shim-proto", "sys"]),
    ("berth-shim-proto", "shim-proto", &[]),
    ("berth-image", "image", &["sys"]),
    ("berth-registry", "registry", &["image"]),
    ("berth-build", "build", &["image"]),
    ("berth-net", "net", &["sys"]),
    (
        "berth-engine",
        "engine",
        &[
            "image",
            "registry",
            "build",
            "net",
            "cgroups",
            "shim-proto",
            "sys",
        ],
    ),
    ("berth-api-types", "api-types", &[]),
    ("berth-api-server", "api-server", &["engine", "api-types"]),
    ("berth-api-client", "api-client", &["api-types"]),
    ("berth-compose", "compose", &["api-client", "api-types"]),
    (
        "berth",
        "cli",
        &["api-client", "api-types", "compose", "registry"],
    ),
    ("berthd", "berthd", &["api-server", "engine"]),
    ("berth-init", "init", &[]),
    ("hello", "hello", &[]),
    ("berth-testkit", "testkit", &["api-client", "sys"]),
];

const EXEMPT: &[&str] = &["berth-tests"];
const TESTKIT: &str = "berth-testkit";

fn short(pkg: &str) -> Option<&'static str> {
    ALLOWED
        .iter()
        .find(|(p, _, _)| *p == pkg)
        .map(|(_, s, _)| *s)
}

fn allowed(from: &str, to: &str) -> bool {
    let Some(to_short) = short(to) else {
        return false;
    };
    ALLOWED
        .iter()
        .find(|(p, _, _)| *p == from)
        .is_some_and(|(_, _, deps)| deps.contains(&to_short))
}

#[test]
fn dependency_edges_follow_architecture() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = meta["packages"].as_array().expect("packages array");

    let workspace: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("package name").to_owned())
        .collect();

    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pkg in packages {
        let name = pkg["name"].as_str().expect("package name");
        if EXEMPT.contains(&name) {
            continue;
        }
        if short(name).is_none() {
            problems.push(format!(
                "workspace crate `{name}` is not in the allowed-edges table \
                 (add it to tests/layering.rs and shared/ARCHITECTURE.md)"
            ));
            continue;
        }
        for dep in pkg["dependencies"].as_array().expect("dependencies array") {
            let dep_name = dep["name"].as_str().expect("dependency name");
            // Only edges to workspace members (path deps) matter.
            if !workspace.contains(dep_name) {
                continue;
            }
            let kind = dep["kind"].as_str().unwrap_or("normal");
            edges
                .entry(name.to_owned())
                .or_default()
                .push(format!("{dep_name} ({kind})"));
            let ok = match kind {
                "dev" => dep_name == TESTKIT || allowed(name, dep_name),
                _ => dep_name != TESTKIT && allowed(name, dep_name),
            };
            if !ok {
                let why = if dep_name == TESTKIT {
                    "berth-testkit may only be a dev-dependency".to_owned()
                } else {
                    let allowed_list = ALLOWED
                        .iter()
                        .find(|(p, _, _)| *p == name)
                        .map(|(_, _, d)| d.join(", "))
                        .unwrap_or_default();
                    format!("allowed: [{allowed_list}]")
                };
                problems.push(format!(
                    "forbidden edge {name} -> {dep_name} ({kind} dependency); {why}"
                ));
            }
        }
    }

    assert!(
        problems.is_empty(),
        "layering violations (see shared/ARCHITECTURE.md, \"Allowed dependency edges\"):\n  {}\n\
         all internal edges found: {edges:#?}",
        problems.join("\n  ")
    );
}

#[test]
fn table_is_consistent() {
    // Every allowed target is itself a known crate.
    for (pkg, _, deps) in ALLOWED {
        for d in *deps {
            assert!(
                ALLOWED.iter().any(|(_, s, _)| s == d),
                "{pkg} lists unknown crate {d}"
            );
        }
    }
}

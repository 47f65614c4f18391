//! Every shipped config under `configs/` must run: `lt-train --check` loads its plugins and
//! builds each stage's loss, head and sampler with the config's settings.
mod common;

use common::{check, root};
use std::path::{Path, PathBuf};

/// The plugin a config is written for, from where it lives.
fn plugin_of(rel: &str) -> &'static str {
    match rel {
        r if r.starts_with("mislas/") => "mislas",
        r if r.starts_with("decoupling/") => "decoupling",
        r if r.ends_with("/mislas.toml") => "mislas",
        r if r.ends_with("/ldam-drw.toml") => "ldam",
        r if ["imagenet-lt/", "inat2018/", "places-lt/"]
            .iter()
            .any(|d| r.starts_with(d)) =>
        {
            "decoupling"
        }
        "ldam-drw.toml" => "ldam",
        "balanced-softmax.toml"
        | "logit-adjustment.toml"
        | "logit-adjustment-posthoc.toml"
        | "focal.toml"
        | "cb-focal.toml" => "rebalance",
        "bbn.toml" => "bbn",
        "ride.toml" | "ride-router.toml" => "ride",
        "sade.toml" => "sade",
        "lade.toml" => "lade",
        "kcl.toml" => "kcl",
        "kcl-crt.toml" => "decoupling",
        other => panic!("configs/{other}: add it to plugin_of in this test"),
    }
}

fn configs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            configs(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_config_builds_its_components() {
    let dir = root().join("configs");
    let mut files = Vec::new();
    configs(&dir, &mut files);
    files.sort();
    assert!(
        files.len() >= 23,
        "expected the shipped configs, found {}",
        files.len()
    );
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap().to_str().unwrap();
        let out = check(&["--plugin", plugin_of(rel), "--config", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "configs/{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_rejects_a_missing_component_and_a_bad_setting() {
    let out = check(&["--plugin", "mislas", "--set", "stage1.loss=nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("'nope'") && err.lines().count() == 1, "{err}");

    // Label-aware smoothing factors must lie in [0, 1]: the plugin rejects 1.5.
    let out = check(&[
        "--plugin",
        "mislas",
        "--set",
        "stage2.loss_config.smooth_head=1.5",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stage 2 loss 'las'"), "{err}");
}

//! Every way loading or calling a plugin can fail gives an `Err` naming the file and the problem,
//! never undefined behaviour or an abort.

mod plugin_common;

use lt_core::plugin::{ComponentKind, Plugin, PluginError, PluginSearch, StepCtx};
use plugin_common::*;
use serde_json::json;
use std::path::PathBuf;
use tch::Tensor;

fn logits_targets() -> (Tensor, Tensor) {
    (
        Tensor::zeros([4, 3], (tch::Kind::Float, tch::Device::Cpu)),
        Tensor::from_slice(&[0i64, 1, 2, 0]),
    )
}

#[test]
fn abi_version_mismatch_names_both_versions() {
    let so = fixture("abi_v999");
    let e = Plugin::open(&so).unwrap_err();
    assert!(
        matches!(e, PluginError::AbiMismatch { found: 999, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("ABI version 999") && msg.contains("ABI versions 1 and 2"),
        "{msg}"
    );
    assert!(msg.starts_with(&so.display().to_string()), "{msg}");
}

#[test]
fn missing_table_symbol_is_named() {
    let so = fixture("no_table");
    let e = Plugin::open(&so).unwrap_err();
    assert!(
        matches!(&e, PluginError::MissingSymbol { symbol, .. } if symbol == "lt_plugin_v1"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("missing symbol `lt_plugin_v1`"),
        "{e}"
    );
}

/// Path of a library this process has loaded, from /proc/self/maps.
fn mapped_library(prefix: &str) -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.rsplit('/').next().unwrap().starts_with(prefix))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{prefix} not mapped"))
}

#[test]
fn libc_and_libc10_are_not_plugins() {
    let _ = Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)); // make sure libc10 is mapped
    for lib in [mapped_library("libc.so"), mapped_library("libc10.so")] {
        let e = Plugin::open(&lib).unwrap_err();
        assert!(
            matches!(&e, PluginError::MissingSymbol { symbol, .. } if symbol == "lt_plugin_abi_version"),
            "{}: {e:?}",
            lib.display()
        );
        let msg = e.to_string();
        assert!(
            msg.contains("not an lt-train plugin") && msg.contains(&lib.display().to_string()),
            "{msg}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_shared_library() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("liblt_plugin_fake.so");
    std::fs::write(&fake, "this is not ELF\n").unwrap();
    let e = Plugin::open(&fake).unwrap_err();
    assert!(matches!(e, PluginError::NotALibrary { .. }), "{e:?}");
    assert!(
        e.to_string().contains("not a loadable shared library"),
        "{e}"
    );
    let e = Plugin::open(&tmp.path().join("libabsent.so")).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
}

#[test]
fn panic_inside_a_plugin_becomes_an_error() {
    let p = Plugin::open(&misbehaving_plugin()).unwrap();
    let data = dataset(vec![2, 1, 1], 0);
    let (logits, targets) = logits_targets();
    let mut l = p.loss("panics", &json!({}), &data).unwrap();
    let ctx = StepCtx {
        step: 7,
        ..Default::default()
    };
    let e = l.forward(&logits, &targets, &ctx).unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::Call {
                panicked: true,
                op: "forward",
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("deliberate panic at step 7"), "{msg}");
    assert!(
        msg.contains("loss `panics`") && msg.contains("liblt_testdata_misbehaving.so"),
        "{msg}"
    );
    // The process and the plugin are still usable afterwards.
    let e = l.forward(&logits, &targets, &ctx).unwrap_err();
    assert!(e.to_string().contains("panicked"));
}

#[test]
fn an_error_returned_by_a_plugin_is_reported() {
    let p = Plugin::open(&misbehaving_plugin()).unwrap();
    let (logits, targets) = logits_targets();
    let mut l = p
        .loss("fails", &json!(null), &dataset(vec![2, 1, 1], 0))
        .unwrap();
    let e = l
        .forward(&logits, &targets, &StepCtx::default())
        .unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::Call {
                panicked: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .ends_with("loss `fails`: forward failed: deliberate error"),
        "{e}"
    );
}

/// What kind of component a table row asks for.
#[derive(Clone, Copy)]
enum Make {
    Loss,
    Head,
}

/// The variant of `e`, in the words of the table below.
fn variant(e: &PluginError) -> &'static str {
    match e {
        PluginError::UnknownComponent {
            kind: ComponentKind::Loss,
            ..
        } => "unknown loss",
        PluginError::UnknownComponent {
            kind: ComponentKind::Head,
            ..
        } => "unknown head",
        PluginError::Call { panicked: true, .. } => "panicked",
        PluginError::Call { .. } => "failed",
        PluginError::BadArgument { .. } => "bad argument",
        _ => "other",
    }
}

#[test]
fn creating_a_component_fails_with_a_clear_error() {
    let example = Plugin::open(&example_plugin()).unwrap();
    let misbehaving = Plugin::open(&misbehaving_plugin()).unwrap();
    let data = dataset(vec![2, 1, 1], 0);
    #[rustfmt::skip]
    let table = [
        (&misbehaving, Make::Loss, "panics-on-create", json!({}), "panicked",
         "create panicked: deliberate panic in constructor"),
        (&example, Make::Loss, "nope", json!({}), "unknown loss",
         "plugin `example-loss` has no loss named `nope` (available: poly1)"),
        // A loss name asked for as a head is unknown too.
        (&example, Make::Head, "poly1", json!({}), "unknown head",
         "no head named `poly1` (available: none)"),
        (&example, Make::Loss, "poly1", json!({"epsilon": -2.0}), "failed",
         "create failed: epsilon must be >= -1, got -2"),
        (&example, Make::Loss, "poly1", json!({"epsilom": 1.0}), "failed",
         "unknown field `epsilom`"),
        (&example, Make::Loss, "poly1", json!([1, 2]), "bad argument",
         "config must be a JSON object"),
    ];
    for (plugin, make, name, config, kind, says) in table {
        let e = match make {
            Make::Loss => plugin.loss(name, &config, &data).err(),
            Make::Head => plugin.head(name, &config, &data).err(),
        }
        .unwrap_or_else(|| panic!("{name} {config} was created"));
        assert_eq!(variant(&e), kind, "{name} {config}: {e:?}");
        assert!(e.to_string().contains(says), "{name} {config}: {e}");
    }
}

#[test]
fn wrong_shapes_are_an_error_from_the_plugin() {
    let p = Plugin::open(&example_plugin()).unwrap();
    let data = dataset(vec![2, 1, 1], 0);
    // Not a crash.
    let mut l = p.loss("poly1", &json!({}), &data).unwrap();
    let e = l.forward(
        &Tensor::zeros([4, 5], (tch::Kind::Float, tch::Device::Cpu)),
        &Tensor::from_slice(&[0i64; 4]),
        &StepCtx::default(),
    );
    assert!(e.unwrap_err().to_string().contains("expected logits [B,3]"));
}

#[test]
fn plugin_not_found_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let e = PluginSearch::new()
        .dedicated_dir(tmp.path())
        .load("mislas")
        .unwrap_err();
    assert!(matches!(e, PluginError::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("liblt_plugin_mislas.so or libmislas.so"),
        "{e}"
    );
}

#[test]
fn discover_lists_plugins_and_reports_broken_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(misbehaving_plugin(), tmp.path().join("libmisbehaving.so")).unwrap();
    std::fs::write(tmp.path().join("libjunk.so"), "junk").unwrap();
    std::fs::write(tmp.path().join("README"), "not considered").unwrap();
    // Shared dir: only liblt_plugin_* files count, so the fixture plugin there is not listed.
    let found = PluginSearch::new()
        .dedicated_dir(tmp.path())
        .shared_dir(plugins_dir())
        .discover();
    let names: Vec<&str> = found.plugins.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&"misbehaving") && names.contains(&"example-loss"),
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| **n == "misbehaving").count(), 1);
    assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
    assert!(found.problems[0].to_string().contains("libjunk.so"));
    let line = found
        .plugins
        .iter()
        .find(|p| p.name == "misbehaving")
        .unwrap()
        .to_string();
    assert!(
        line.starts_with("misbehaving 0.0.1 [sampler:by-class, loss:panics,"),
        "{line}"
    );
}

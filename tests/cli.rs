//! The command lines themselves, through the real binaries: help text on every flag and
//! subcommand, registry names as possible values (listed by `--help`, clap's error for others),
//! shell completion scripts, and clap's "similar argument" tip kept on the one error line.

mod common;

use common::{lt_train, lt_train_cmd};
use lt_core::model::Arch;
use std::process::{Command, Output};

const LT_DATA: &str = env!("CARGO_BIN_EXE_lt-data");

fn lt_data(args: &[&str]) -> Output {
    Command::new(LT_DATA).args(args).output().unwrap()
}

/// `BIN ARGS` for either binary, by name.
fn bin(name: &str, args: &[&str]) -> Output {
    match name {
        "lt-data" => lt_data(args),
        _ => lt_train(args),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `BIN ARGS`, which must succeed; its stdout.
fn out(name: &str, args: &[&str]) -> String {
    let o = bin(name, args);
    assert!(o.status.success(), "{name} {args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// The entries of a help section (`Commands:`, `Arguments:`, `Options:`) that have no
/// description, for either layout clap uses (description on the entry's line after two spaces,
/// or on the more indented lines below it).
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut bad = Vec::new();
    let mut in_section = false;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            in_section = matches!(line.trim(), "Commands:" | "Arguments:" | "Options:");
            continue;
        }
        let entry = line.trim_start();
        let indent = line.len() - entry.len();
        // An entry starts with its name; description lines of the long layout are indented more.
        let is_entry =
            indent <= 6 && (entry.starts_with('-') || entry.starts_with('<') || indent == 2);
        if !in_section || !is_entry {
            continue;
        }
        let same_line = entry
            .split_once("  ")
            .is_some_and(|(_, d)| !d.trim().is_empty());
        let below = lines
            .get(i + 1)
            .is_some_and(|n| n.len() - n.trim_start().len() > indent + 4 && !n.trim().is_empty());
        if !same_line && !below {
            bad.push(entry.to_string());
        }
    }
    bad
}

/// The subcommands a `--help` lists (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// `BIN ARGS`, which must exit 2 with one stderr line `BIN: START...`; that line.
fn usage_error(name: &str, args: &[&str], start: &str) -> String {
    let o = bin(name, args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name} {args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("{name}: {start}")), "{err}");
    err
}

/// Each binary and (some of) the subcommands it must have.
const SUBCOMMANDS: [(&str, &[&str]); 2] = [
    (
        "lt-data",
        &["build", "inspect", "verify", "bench", "completions"],
    ),
    ("lt-train", &["plugins", "env", "bench", "completions"]),
];

#[test]
fn every_flag_and_subcommand_has_help_text() {
    for (name, want) in SUBCOMMANDS {
        let top = out(name, &["--help"]);
        let subs = subcommands(&top);
        for w in want {
            assert!(subs.iter().any(|s| s == w), "{name}: {w} not in {subs:?}");
        }
        let mut bad = undescribed(&top);
        for sub in &subs {
            let help = out(name, &[sub, "--help"]);
            assert!(help.contains("Options:"), "{name} {sub} --help: {help}");
            bad.extend(
                undescribed(&help)
                    .into_iter()
                    .map(|e| format!("{sub}: {e}")),
            );
        }
        assert!(
            bad.is_empty(),
            "{name}: entries without help text: {bad:#?}"
        );
    }
    // The check itself finds a bare entry in either section.
    let bare = "Options:\n      --seed <SEED>\n  -q, --quiet  No bars\nArguments:\n  <PATH>\n";
    assert_eq!(undescribed(bare), ["--seed <SEED>", "<PATH>"]);
}

/// `[possible values: a, b]` in `--help`, the names in registry order.
fn possible(names: &[&str]) -> String {
    format!("[possible values: {}]", names.join(", "))
}

#[test]
fn registry_names_are_possible_values() {
    let recipes = possible(&lt_data::recipe::names());
    assert!(
        out("lt-data", &["build", "--help"]).contains(&recipes),
        "{recipes}"
    );
    let augs = possible(&lt_data::augment::Pipeline::ALL.map(|p| p.name()));
    assert!(
        out("lt-data", &["bench", "--help"]).contains(&augs),
        "{augs}"
    );
    let archs: Vec<&str> = Arch::all().map(Arch::name).collect();
    assert!(
        archs.contains(&"resnet32") && archs.contains(&"resnet152"),
        "{archs:?}"
    );
    let models = possible(&archs);
    assert!(out("lt-train", &["--help"]).contains(&models), "{models}");
    assert!(out("lt-train", &["bench", "--help"]).contains(&models));

    // Anything else: exit 2, one line naming the value and listing the possible ones.
    for (name, args, value, list) in [
        (
            "lt-data",
            &["build", "--dataset", "cifar11", "--out", "x"][..],
            "'cifar11' for '--dataset <DATASET>'",
            &recipes,
        ),
        (
            "lt-data",
            &["bench", "x", "--aug", "autoaugment"][..],
            "'autoaugment' for '--aug <AUG>'",
            &augs,
        ),
        (
            "lt-train",
            &["--dataset", "d", "--out", "o", "--model", "resnet11"][..],
            "'resnet11' for '--model <MODEL>'",
            &models,
        ),
        (
            "lt-train",
            &["bench", "--model", "vgg16"][..],
            "'vgg16' for '--model <MODEL>'",
            &models,
        ),
    ] {
        let err = usage_error(name, args, &format!("invalid value {value}"));
        assert!(err.contains(list.as_str()), "{err}");
    }
}

/// `--model` is parsed into the registry's `Arch` at the edge: any case, written in lower case.
#[test]
fn model_flag_parses_to_the_registry_name() {
    let o = lt_train_cmd()
        .args([
            "--print-config",
            "--dataset",
            "d",
            "--out",
            "o",
            "--model",
            "ResNet10",
        ])
        .output()
        .unwrap();
    let cfg = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(cfg.lines().any(|l| l == "model = \"resnet10\""), "{cfg}");
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for (name, subs) in SUBCOMMANDS {
        for shell in ["bash", "zsh", "fish"] {
            let script = out(name, &["completions", shell]);
            assert!(script.len() > 500, "{name} {shell}: {script}");
            assert!(script.contains(name), "{name} {shell}");
            for sub in subs {
                assert!(script.contains(sub), "{name} {shell}: no {sub}");
            }
            // Flags too (fish spells them `-l NAME`).
            assert!(script.contains("quiet"), "{name} {shell}: no --quiet");
        }
        let path = common::scratch("cli").join(format!("{name}.bash"));
        std::fs::write(&path, out(name, &["completions", "bash"])).unwrap();
        let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(
            check.status.success(),
            "bash -n {name}: {}",
            text(&check.stderr)
        );
    }
    let o = lt_data(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("[possible values: bash, elvish, fish, powershell, zsh]"));
}

#[test]
fn a_mistyped_flag_keeps_the_similar_argument_tip() {
    for (name, args, want) in [
        ("lt-train", &["--epoch", "3"][..], "'--epochs'"),
        (
            "lt-data",
            &["build", "--datset", "cifar10"][..],
            "'--dataset'",
        ),
    ] {
        let err = usage_error(name, args, "unexpected argument");
        assert!(
            err.contains(&format!("tip: a similar argument exists: {want}")),
            "{err}"
        );
    }
}

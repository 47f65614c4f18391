//! A damaged or wrong plugin file is one line of error naming it, never a crash: `dlopen` of a
//! truncated library maps bytes the file does not have and dies of SIGBUS, so the host checks the
//! file first. Through the real binary: `--plugin FILE` with `--check`, and `lt-train plugins`
//! with the file on `LT_PLUGIN_PATH` next to a good plugin.
mod common;

use common::{check, lt_train_cmd, plugin, scratch_dir};
use std::fs::File;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

const NAME: &str = "plugin_files";

/// A real plugin, `liblt_plugin_mislas.so`, built by cargo for the tests.
fn real_plugin() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| plugin("mislas"))
}

/// Writes the first `len` bytes of the real plugin to `dst`.
fn truncated_copy(dst: &Path, len: u64) -> PathBuf {
    let mut src = File::open(real_plugin()).unwrap().take(len);
    let mut out = File::create(dst).unwrap();
    assert_eq!(std::io::copy(&mut src, &mut out).unwrap(), len);
    dst.to_path_buf()
}

/// The sizes a copy is cut to: half, a tenth, one page, the ELF header, nothing.
fn cuts() -> Vec<(&'static str, u64)> {
    let len = std::fs::metadata(real_plugin()).unwrap().len();
    vec![
        ("half", len / 2),
        ("tenth", len / 10),
        ("page", 4096),
        ("header", 64),
        ("empty", 0),
    ]
}

/// `lt-train --check --plugin FILE` (which loads the plugin before it would read the dataset).
fn check_with(plugin: &Path) -> Output {
    check(&["--plugin".as_ref(), plugin.as_os_str()])
}

fn not_killed(out: &Output, what: &str) {
    assert!(
        out.status.code().is_some(),
        "{what}: killed by signal {:?}; stderr: {}",
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts a clean failure with exactly one stderr line, `lt-train: FILE: ...` naming the file
/// once and no panic; returns the text after `FILE: `.
fn one_error_line(out: &Output, file: &Path) -> String {
    let name = file.display().to_string();
    not_killed(out, &name);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{name}: {err}");
    assert_eq!(err.lines().count(), 1, "{name}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let prefix = format!("lt-train: {name}: ");
    assert!(err.starts_with(&prefix), "{err}");
    assert_eq!(err.matches(&name).count(), 1, "names the file once: {err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    err[prefix.len()..].trim_end().to_string()
}

#[test]
fn truncated_plugin_given_as_plugin_is_one_line_error() {
    let dir = scratch_dir(NAME, "truncated_plugin");
    // The whole copy is accepted: the check rejects damage, not good files.
    let whole = dir.join("liblt_plugin_whole.so");
    std::fs::copy(real_plugin(), &whole).unwrap();
    let out = check_with(&whole);
    not_killed(&out, "whole copy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (what, len) in cuts() {
        let f = truncated_copy(&dir.join(format!("liblt_plugin_{what}.so")), len);
        let reason = one_error_line(&check_with(&f), &f);
        assert!(
            reason.starts_with("truncated shared library: ")
                || reason.contains("not a shared library"),
            "cut to {len} bytes: {reason}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plugins_lists_good_plugins_and_names_bad_files() {
    let dir = scratch_dir(NAME, "plugins_listing");
    let good = dir.join("liblt_plugin_mislas.so");
    std::fs::copy(real_plugin(), &good).unwrap();
    let mut bad = Vec::new();
    for (what, len) in cuts() {
        bad.push(truncated_copy(
            &dir.join(format!("liblt_plugin_{what}.so")),
            len,
        ));
    }
    let text = dir.join("liblt_plugin_text.so");
    std::fs::write(&text, "this is not a library\n").unwrap();
    bad.push(text);

    let out = lt_train_cmd()
        .arg("plugins")
        .env("LT_PLUGIN_PATH", &dir)
        .output()
        .unwrap();
    not_killed(&out, "lt-train plugins");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let good_name = good.display().to_string();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("mislas ") && l.contains(&good_name)),
        "good plugin not listed:\n{stdout}\nstderr:\n{stderr}"
    );
    for f in &bad {
        let name = f.display().to_string();
        assert!(!stdout.contains(&name), "{name} listed:\n{stdout}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&name)).collect();
        assert_eq!(lines.len(), 1, "{name}:\n{stderr}");
        let prefix = format!("lt-train: skipped {name}: ");
        assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
        let reason = &lines[0][prefix.len()..];
        assert!(
            reason.starts_with("truncated shared library: ")
                || reason.contains("not a shared library")
                || reason.contains("not an ELF file"),
            "{}",
            lines[0]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn directory_given_as_plugin_says_so() {
    let dir = scratch_dir(NAME, "directory");
    let sub = dir.join("liblt_plugin_dir.so");
    std::fs::create_dir(&sub).unwrap();
    for d in [&dir, &sub] {
        let reason = one_error_line(&check_with(d), d);
        assert_eq!(reason, "is a directory, not a plugin library");
    }
}

#[test]
fn text_file_named_like_a_plugin_is_one_line_error() {
    let dir = scratch_dir(NAME, "text_file");
    let f = dir.join("liblt_plugin_x.so");
    std::fs::write(&f, "this is not a library\n").unwrap();
    let reason = one_error_line(&check_with(&f), &f);
    assert_eq!(
        reason,
        "not a loadable shared library: not an ELF file (it starts with \"this is not a li\")"
    );
}

//! The output directory of `lt-data build`, through the real binary: what it refuses to
//! replace, the lock against concurrent builds, and the commit killed (SIGKILL, through the
//! `LT_DATA_TEST_CRASH_AT` hook) at every step, after which the path holds the old dataset or
//! the new one and the next build succeeds and cleans up.

mod common;

use common::{build_args, fails_out, idx_source, manifest, ok, run, run_env, s, strs};
use lt_data::output::CRASH_POINTS;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn build(src: &Path, out: &Path, seed: u32, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let seed = seed.to_string();
    let args = build_args(
        "mnist",
        src,
        out,
        &[&["--imbalance", "3", "--seed", &seed], extra].concat(),
    );
    run_env(&strs(&args), env)
}

/// A 30-image, 2-class IDX source in `dir` and a dataset built from it (seed 0) at
/// `dir/name`: their paths.
fn built_source(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let src = idx_source(dir, 30, 2);
    let out = dir.join(name);
    ok(&build(&src, &out, 0, &[], &[]), "build");
    (src, out)
}

/// The seed of the dataset in `out`, after `lt-data verify` accepted it.
fn verified_seed(out: &Path) -> u64 {
    ok(&run(&["verify", s(out)]), "verify");
    manifest(out)["seed"].as_u64().unwrap()
}

/// Names in `dir` other than `keep`: leftovers of builds.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(tree(&p));
        } else {
            v.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

#[test]
fn directories_lt_data_did_not_write_are_never_replaced_without_force() {
    let t = tempfile::tempdir().unwrap();
    let src = idx_source(t.path(), 30, 2);
    // A web app's folder that happens to hold a manifest.json.
    let web = t.path().join("web");
    std::fs::create_dir_all(web.join("src")).unwrap();
    std::fs::write(web.join("manifest.json"), r#"{"name": "app", "icons": []}"#).unwrap();
    std::fs::write(web.join("src/main.js"), "console.log(1)").unwrap();
    std::fs::write(web.join("README"), "mine").unwrap();
    let before = tree(&web);
    fails_out(
        &build(&src, &web, 0, &[], &[]),
        &[
            "web",
            "not a dataset lt-data wrote",
            "README",
            "src/",
            "--force",
        ],
    );
    assert_eq!(tree(&web), before);
    // A dataset directory lt-train wrote checkpoints into.
    let ds = t.path().join("ds");
    ok(&build(&src, &ds, 0, &[], &[]), "build");
    std::fs::create_dir_all(ds.join("checkpoints")).unwrap();
    std::fs::write(ds.join("checkpoints/stage1-last.safetensors"), "weights").unwrap();
    let before = tree(&ds);
    fails_out(&build(&src, &ds, 1, &[], &[]), &["ds", "checkpoints/"]);
    assert_eq!(tree(&ds), before);
    // A plain file.
    let file = t.path().join("file");
    std::fs::write(&file, "x").unwrap();
    fails_out(
        &build(&src, &file, 0, &[], &[]),
        &["file", "is a file, not a directory"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    // --force replaces, and says so.
    let err = ok(&build(&src, &web, 3, &["--force"], &[]), "forced build");
    assert!(err.contains("--force: replacing"), "{err}");
    assert_eq!(verified_seed(&web), 3);
    assert!(!web.join("README").exists());
    assert_eq!(
        others(t.path(), &["idx", "web", "ds", "file"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_dataset_is_replaced_whole_and_nothing_is_left_beside_it() {
    let t = tempfile::tempdir().unwrap();
    let src = idx_source(t.path(), 30, 2);
    let out = t.path().join("out");
    for seed in [0, 1] {
        ok(&build(&src, &out, seed, &[], &[]), "build");
        assert_eq!(verified_seed(&out), seed as u64);
        assert_eq!(others(t.path(), &["idx", "out"]), Vec::<String>::new());
    }
    // An empty directory is fine too.
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(&build(&src, &empty, 2, &[], &[]), "build into an empty dir");
    assert_eq!(verified_seed(&empty), 2);
}

#[test]
fn a_second_build_into_the_same_path_is_refused_while_one_runs() {
    let t = tempfile::tempdir().unwrap();
    let (src, out) = built_source(t.path(), "out");
    // Hold the build lock as a running build would.
    let lock = std::fs::File::create(t.path().join(".out.lock")).unwrap();
    std::fs::write(t.path().join(".out.lock"), "4242").unwrap();
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    fails_out(
        &build(&src, &out, 1, &[], &[]),
        &["out", "another lt-data build (pid 4242) is writing it"],
    );
    assert_eq!(verified_seed(&out), 0);
    drop(lock);
    ok(
        &build(&src, &out, 1, &[], &[]),
        "build after the lock is released",
    );
    assert_eq!(verified_seed(&out), 1);
}

/// Kills a rebuild at `point` (with or without the atomic swap), then checks that `out`
/// holds the old or the new dataset and that the next build succeeds and leaves nothing.
fn crash_and_recover(template: &Path, src: &Path, dir: &Path, point: &str, swap: bool) {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(template).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, out.join(p.file_name().unwrap())).unwrap();
    }
    let mut env = vec![("LT_DATA_TEST_CRASH_AT", point)];
    if !swap {
        env.push(("LT_DATA_TEST_NO_EXCHANGE", "1"));
    }
    let killed = build(src, &out, 1, &[], &env);
    let reached = match point {
        "exchanged" => swap,
        "renamed-old" | "renamed-new" => !swap,
        _ => true,
    };
    if reached {
        assert_eq!(killed.status.signal(), Some(9), "{point}: not killed");
    } else {
        ok(&killed, point);
    }
    let torn = point == "renamed-old" && reached;
    if torn {
        // Only the two-rename commit has this instant: DIR is missing, the next build (or
        // `verify`'s error) sees it, and the next build completes the commit.
        assert!(!out.exists());
    } else {
        let seed = verified_seed(&out);
        let expect_new =
            matches!(point, "exchanged" | "removing" | "renamed-new" | "done") || !reached;
        assert_eq!(seed == 1, expect_new, "{point} swap={swap}: seed {seed}");
    }
    let err = ok(&build(src, &out, 2, &[], &[]), "build after the crash");
    if torn {
        assert!(err.contains("completed the commit of build"), "{err}");
    }
    if reached && point != "done" {
        assert!(err.contains("left by build"), "{point}: {err}");
    }
    assert_eq!(verified_seed(&out), 2);
    assert_eq!(others(dir, &["out"]), Vec::<String>::new(), "{point}");
}

#[test]
fn a_build_killed_at_any_step_of_its_commit_leaves_the_old_or_the_new_dataset() {
    let t = tempfile::tempdir().unwrap();
    let (src, template) = built_source(t.path(), "template");
    for swap in [true, false] {
        for point in CRASH_POINTS {
            let dir = t.path().join(format!("{point}-{swap}"));
            crash_and_recover(&template, &src, &dir, point, swap);
        }
    }
    // Killed before the first dataset of a path exists: nothing at the path, then a build.
    let dir = t.path().join("first");
    let out = dir.join("out");
    let killed = build(&src, &out, 1, &[], &[("LT_DATA_TEST_CRASH_AT", "exchange")]);
    assert_eq!(killed.status.signal(), Some(9));
    assert!(!out.exists());
    ok(&build(&src, &out, 2, &[], &[]), "build");
    assert_eq!(verified_seed(&out), 2);
    assert_eq!(others(&dir, &["out"]), Vec::<String>::new());
}

//! Mutation fuzzing of built datasets: a few hundred mutated split files and manifests, each
//! opened the way the trainer opens a dataset (`Dataset::open`, then every sample touched) and
//! checked by the real `lt-data verify`. Neither may crash or hang, and neither may accept a
//! dataset whose split headers disagree with its manifest. Deterministic (a fixed seed), bounded
//! (every verify is killed after 20 s), a few seconds in all.

mod common;

use common::{build_args, idx_source, ok, run, strs};
use lt_data::dataset::Dataset;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// SplitMix64: the fixed mutation stream.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Builds a small MNIST-style dataset (4x4 raw, or JPEG) with the real binary.
fn base(dir: &Path, store: &str) -> PathBuf {
    let src = dir.join("idx");
    if !src.exists() {
        idx_source(dir, 20, 2);
    }
    let out = dir.join(format!("base-{store}"));
    let args = build_args("mnist", &src, &out, &["--imbalance", "4", "--store", store]);
    ok(&run(&strs(&args)), "build");
    out
}

/// One mutation: which file, and what was done (for failure messages).
struct Case {
    what: String,
    /// A split file's bytes changed (not only the manifest).
    split_changed: bool,
}

const U32_FIELDS: [usize; 8] = [8, 12, 24, 28, 32, 36, 80, 84];
const U64_FIELDS: [usize; 6] = [16, 40, 48, 56, 64, 72];
const INTERESTING: [u64; 9] = [0, 1, 2, 3, 255, 784, 0x7fff_ffff, 0xffff_ffff, u64::MAX];

/// Mutates one split file's bytes.
fn mutate_split(b: &mut Vec<u8>, rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => {
            let at = rng.below(b.len());
            let x = 1 + rng.below(255) as u8;
            b[at] ^= x;
            format!("byte {at} ^= {x}")
        }
        1 => {
            let at = rng.below(128);
            b[at] ^= 1 << rng.below(8);
            format!("header bit at byte {at}")
        }
        2 => {
            let f = U32_FIELDS[rng.below(U32_FIELDS.len())];
            let v = INTERESTING[rng.below(INTERESTING.len())] as u32;
            b[f..f + 4].copy_from_slice(&v.to_le_bytes());
            format!("u32 at {f} = {v}")
        }
        3 => {
            let f = U64_FIELDS[rng.below(U64_FIELDS.len())];
            let v = INTERESTING[rng.below(INTERESTING.len())];
            b[f..f + 8].copy_from_slice(&v.to_le_bytes());
            format!("u64 at {f} = {v}")
        }
        4 => {
            let n = rng.below(b.len());
            b.truncate(n);
            format!("truncated to {n}")
        }
        5 => {
            let n = 1 + rng.below(256);
            b.extend(std::iter::repeat_n(0u8, n));
            format!("padded by {n}")
        }
        _ => {
            // A consistent forgery: another shape of the same size, the checksum recomputed.
            let (h, w, c) = [(1, 16, 1), (16, 1, 1), (2, 8, 1), (8, 2, 1)][rng.below(4)];
            for (at, v) in [(28, h), (32, w), (36, c)] {
                b[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
            }
            reseal(b);
            format!("header rewritten to {h}x{w}x{c}, checksum recomputed")
        }
    }
}

/// Recomputes a version-2 split file's checksum.
fn reseal(b: &mut [u8]) {
    if b.len() >= 84 {
        let crc = lt_data::format::file_checksum(b);
        b[80..84].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Mutates the manifest: a field the checks depend on, or its bytes.
fn mutate_manifest(text: &str, rng: &mut Rng) -> (String, String) {
    let mut m: Value = serde_json::from_str(text).unwrap();
    let split = if rng.below(2) == 0 { "train" } else { "test" };
    let what = match rng.below(12) {
        0 => {
            m["num_classes"] = (rng.below(20) as u64).into();
            "num_classes".to_string()
        }
        1 => {
            m["splits"][split]["shape"] = serde_json::json!([1, 16, 1]);
            format!("{split} shape")
        }
        2 => {
            m["splits"][split]["storage"] = "png".into();
            format!("{split} storage")
        }
        3 => {
            m["std"] =
                serde_json::json!([[0.0], [-1.0], [0.1, 0.1, 0.1], []])[rng.below(4)].clone();
            "std".to_string()
        }
        4 => {
            m["mean"] = serde_json::json!([0.1, 0.2]);
            "mean".to_string()
        }
        5 => {
            m["augment"] = serde_json::json!(["imagenet", "none", 3])[rng.below(3)].clone();
            "augment".to_string()
        }
        6 => {
            m["splits"][split]["total"] = (rng.below(1000) as u64).into();
            format!("{split} total")
        }
        7 => {
            m["splits"][split]["file"] =
                serde_json::json!(["../x.ltd", "test.ltd", "train.ltd", ""][rng.below(4)]);
            format!("{split} file")
        }
        8 => {
            m["splits"].as_object_mut().unwrap().remove(split);
            format!("{split} removed")
        }
        9 => {
            m["class_names"].as_array_mut().unwrap().pop();
            "class_names".to_string()
        }
        10 => {
            m["splits"][split]["checksum"] = "00000000".into();
            format!("{split} checksum")
        }
        _ => {
            let mut b = text.as_bytes().to_vec();
            let at = rng.below(b.len());
            b[at] = b"{}[]\",:0 9e-"[rng.below(12)];
            return (
                String::from_utf8_lossy(&b).into_owned(),
                format!("manifest byte {at}"),
            );
        }
    };
    (serde_json::to_string_pretty(&m).unwrap(), what)
}

/// Applies one random mutation to a fresh copy of `base` in `dir`.
fn mutate(base: &Path, dir: &Path, rng: &mut Rng) -> Case {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(base).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    match rng.below(3) {
        0 => {
            let (text, what) = mutate_manifest(&manifest, rng);
            std::fs::write(dir.join("manifest.json"), text).unwrap();
            Case {
                what,
                split_changed: false,
            }
        }
        _ => {
            let (file, split) = [("train.ltd", "train"), ("test.ltd", "test")][rng.below(2)];
            let original = std::fs::read(dir.join(file)).unwrap();
            let mut b = original.clone();
            let what = format!("{file}: {}", mutate_split(&mut b, rng));
            if what.contains("recomputed") {
                // The forger updates the manifest's checksum too: only its shape can tell.
                let mut m: Value = serde_json::from_str(&manifest).unwrap();
                let crc = u32::from_le_bytes(b[80..84].try_into().unwrap());
                m["splits"][split]["checksum"] = format!("{crc:08x}").into();
                std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
            }
            let split_changed = b != original;
            std::fs::write(dir.join(file), b).unwrap();
            Case {
                what,
                split_changed,
            }
        }
    }
}

/// Every split header of `dir` agrees with its manifest (what an accepted dataset must satisfy).
fn headers_agree(dir: &Path) -> bool {
    let Ok(m) = serde_json::from_slice::<Value>(&std::fs::read(dir.join("manifest.json")).unwrap())
    else {
        return false;
    };
    m["splits"].as_object().unwrap().values().all(|s| {
        let b = std::fs::read(dir.join(s["file"].as_str().unwrap())).unwrap();
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64;
        let n = u64::from_le_bytes(b[16..24].try_into().unwrap());
        let shape = match u32_at(12) {
            0 => serde_json::json!([u32_at(28), u32_at(32), u32_at(36)]),
            _ => Value::Null,
        };
        let storage = match (u32_at(12), u32_at(84)) {
            (0, _) => "raw",
            (1, 1) => "jpeg",
            _ => "png",
        };
        u32_at(24) == m["num_classes"].as_u64().unwrap()
            && Some(n) == s["total"].as_u64()
            && s.get("shape").cloned().unwrap_or(Value::Null) == shape
            && s["storage"] == storage
    })
}

/// The trainer's way in: open with every check, then touch every sample of every split.
fn open_like_the_trainer(dir: &Path) -> Result<usize, String> {
    let d = Dataset::open(dir).map_err(|e| e.to_string())?;
    let mut touched = 0;
    for name in d.manifest.splits.keys() {
        let r = d.split(name).map_err(|e| e.to_string())?;
        for i in 0..r.len() {
            touched += r.sample(i).len().min(1);
        }
    }
    Ok(touched)
}

/// `lt-data verify` with a deadline: its exit code and stderr.
fn verify(dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lt-data"))
        .arg("verify")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("lt-data verify {} hung", dir.display());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mutated_datasets_never_crash_hang_or_verify_with_a_disagreeing_header() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed);
    let mut accepted = 0;
    for store in ["raw", "jpeg"] {
        let base = base(t.path(), store);
        for i in 0..160 {
            let dir = t.path().join(format!("{store}-{i}"));
            let case = mutate(&base, &dir, &mut rng);
            let opened = std::panic::catch_unwind(|| open_like_the_trainer(&dir))
                .unwrap_or_else(|_| panic!("{}: Dataset::open panicked", case.what));
            let (code, err) = verify(&dir);
            let what = &case.what;
            assert!(code.is_some(), "{what}: verify killed by a signal: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            if code == Some(0) {
                accepted += 1;
                assert!(
                    headers_agree(&dir),
                    "{what}: verify accepted a header that disagrees with the manifest"
                );
                assert!(
                    !case.split_changed,
                    "{what}: verify accepted a changed split file"
                );
                assert!(
                    opened.is_ok(),
                    "{what}: verify accepts what the trainer refuses: {opened:?}"
                );
            } else {
                assert_eq!(code, Some(1), "{what}: {err}");
                assert_eq!(err.lines().count(), 1, "{what}: {err}");
                assert!(err.starts_with("lt-data: "), "{what}: {err}");
            }
            if opened.is_ok() {
                assert!(
                    headers_agree(&dir),
                    "{what}: the trainer accepted a disagreeing header"
                );
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    // Some manifest mutations are harmless (a removed test split, a renamed source) and must
    // still verify; most must not.
    assert!((1..100).contains(&accepted), "{accepted} of 320 accepted");
}

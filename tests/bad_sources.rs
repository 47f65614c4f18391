//! Issue 10, "nothing lost, nothing wrong accepted": hostile or damaged raw sources given to
//! the real `lt-data` binary. Each must end in one `lt-data: <file>: <problem>` line and a
//! non-zero exit (never a crash, a runaway allocation or a silently wrong dataset), while the
//! legitimate variants next to them still build.

mod common;

use common::{
    build_args, counts, crc, failed, fails, idx, jpeg, json, manifest, nothing_left, python_script,
    s, stdout, strs, write_jpeg, NAMES10,
};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `lt-data` with at most `kib` KiB of address space, so that a runaway allocation
/// fails instead of swapping the machine.
fn run_limited(kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_lt-data"))
        .args(args)
        .output()
        .expect("cannot start sh")
}

// ---------------------------------------------------------------- 1. pickle nesting

/// A small cifar-10-batches-py tree written by Python's pickle and numpy (5 images a class).
fn write_cifar10_python(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let script = format!(
        r#"
import pickle, sys, numpy as np
d = sys.argv[1]
def batch(ids):
    data = np.stack([((np.arange(3072) + i * 7) % 256).astype(np.uint8) for i in ids])
    b = {{b"batch_label": b"x", b"labels": [i % 10 for i in ids], b"data": data,
         b"filenames": [b"img_%d.png" % i for i in ids]}}
    return pickle.dumps(b, protocol=2)
for b in range(5):
    open(f"{{d}}/data_batch_{{b + 1}}", "wb").write(batch(range(b * 10, b * 10 + 10)))
open(f"{{d}}/test_batch", "wb").write(batch(range(50, 60)))
meta = {{b"label_names": [x.encode() for x in "{NAMES10}".split()], b"num_cases_per_batch": 10}}
open(f"{{d}}/batches.meta", "wb").write(pickle.dumps(meta, protocol=2))
"#
    );
    python_script(&script, &[dir]);
}

/// About 400 KB of pickle nesting 200,000 deep, in four shapes.
fn pickle_bombs() -> Vec<(&'static str, Vec<u8>)> {
    const N: usize = 200_000;
    let framed = |body: Vec<u8>| {
        let mut b = vec![0x80, 0x02];
        b.extend(body);
        b.push(b'.');
        b
    };
    // EMPTY_LIST x N, then APPEND x (N - 1): each list inside the one below it.
    let lists = [vec![b']'; N], vec![b'a'; N - 1]].concat();
    // EMPTY_TUPLE, then TUPLE1 x N: ((((),),),)...
    let tuples = [vec![b')'], vec![0x85; 2 * N]].concat();
    // EMPTY_DICT, (BININT1 0, EMPTY_DICT) x N, SETITEM x N: {0: {0: {0: ...}}}.
    let dicts = [vec![b'}'], b"K\x00}".repeat(N / 2), vec![b's'; N / 2]].concat();
    // Through the memo: l = []; then (l = [l]; memo[0] = l; POP) N times; GET 0.
    let memo = [
        b"]q\x00\x30".to_vec(),
        b"]h\x00aq\x00\x30".repeat(N / 4),
        b"h\x00".to_vec(),
    ]
    .concat();
    vec![
        ("lists", framed(lists)),
        ("tuples", framed(tuples)),
        ("dicts", framed(dicts)),
        ("memo", framed(memo)),
    ]
}

#[test]
fn deeply_nested_pickle_is_an_error_not_a_stack_overflow() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("cifar-10-batches-py");
    write_cifar10_python(&src);
    let out = t.path().join("out");
    let args = build_args("cifar10", &src, &out, &["--imbalance", "2"]);
    // The tree as written is a valid source.
    stdout(&strs(&args));
    std::fs::remove_dir_all(&out).unwrap();
    for (shape, bomb) in pickle_bombs() {
        assert!(bomb.len() > 300_000, "{shape}: {} bytes", bomb.len());
        std::fs::write(src.join("batches.meta"), &bomb).unwrap();
        let line = fails(
            &strs(&args),
            &["batches.meta: pickle: nesting deeper than 512"],
        );
        assert!(line.contains(s(&src)), "{shape}: {line}");
        nothing_left(t.path(), &out);
    }
}

// ---------------------------------------------------------------- 2. labels and class counts

/// One gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, b) in blocks.iter().enumerate() {
        g.push((i + 1 == blocks.len()) as u8);
        let n = b.len() as u16;
        g.extend(n.to_le_bytes());
        g.extend((!n).to_le_bytes());
        g.extend_from_slice(b);
    }
    g.extend(crc(data).to_le_bytes());
    g.extend((data.len() as u32).to_le_bytes());
    g
}

/// The four Fashion-MNIST files (gzipped, as distributed): 20 training and 20 test images of
/// 4x4, two of each of the 10 classes. Returns the label files' content.
fn write_idx_tree(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let labels: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
    let pixels: Vec<u8> = (0..20 * 16).map(|i| (i * 7 % 256) as u8).collect();
    let mut out = Vec::new();
    for prefix in ["train", "t10k"] {
        let l = idx(&[20], &labels);
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gzip(&idx(&[20, 4, 4], &pixels)),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), gzip(&l)).unwrap();
        out.push(l);
    }
    (out.remove(0), out.remove(0))
}

#[test]
fn idx_label_beyond_the_recipe_classes_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("fmnist");
    let (_, mut test_labels) = write_idx_tree(&src);
    let out = t.path().join("out");
    let args = build_args("fashion-mnist", &src, &out, &["--imbalance", "2"]);
    stdout(&strs(&args));
    assert_eq!(manifest(&out)["num_classes"], 10);
    std::fs::remove_dir_all(&out).unwrap();
    // One stray 255 used to make a 256-class dataset.
    test_labels[8 + 17] = 255;
    std::fs::write(src.join("t10k-labels-idx1-ubyte.gz"), gzip(&test_labels)).unwrap();
    fails(
        &strs(&args),
        &[
            "t10k-labels-idx1-ubyte.gz: label 255 of item 17 is outside the 10 classes of fashion-mnist",
        ],
    );
    nothing_left(t.path(), &out);
}

/// An ImageNet-LT-style root with three images a class for classes 0..3; returns the lines
/// `train/c{c}/{i}.JPEG {c}`.
fn write_list_tree(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for c in 0..3 {
        for i in 0..3 {
            let rel = format!("train/c{c}/{i}.JPEG");
            write_jpeg(&root.join(&rel), 40, 30, c * 10 + i);
            lines.push(format!("{rel} {c}"));
        }
    }
    lines
}

#[test]
fn list_labels_beyond_the_recipe_classes_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("imagenet");
    let lines = write_list_tree(&root);
    let (train, test) = (t.path().join("train.txt"), t.path().join("test.txt"));
    std::fs::write(&test, lines[..3].join("\n") + "\n").unwrap();
    let out = t.path().join("out");
    let args = build_args(
        "imagenet-lt",
        &root,
        &out,
        &["--split-file", s(&train), "--test-file", s(&test)],
    );
    std::fs::write(&train, lines.join("\n") + "\n").unwrap();
    stdout(&strs(&args));
    std::fs::remove_dir_all(&out).unwrap();
    for label in ["2000000000", "4294967295", "1000"] {
        let mut bad = lines.clone();
        bad[2] = format!("train/c0/2.JPEG {label}");
        std::fs::write(&train, bad.join("\n") + "\n").unwrap();
        let out = run_limited(4 << 20, &strs(&args));
        failed(
            &strs(&args),
            &out,
            &[&format!(
                "train.txt: line 3: label {label} is outside the 1000 classes of imagenet-lt"
            )],
        );
        nothing_left(t.path(), &out_dir(&args));
    }
    // Places-LT declares 365 classes.
    let mut bad = lines.clone();
    bad[8] = "train/c2/2.JPEG 365".into();
    std::fs::write(&train, bad.join("\n") + "\n").unwrap();
    let mut places = args.clone();
    places[2] = "places-lt".into();
    fails(
        &strs(&places),
        &["train.txt: line 9: label 365 is outside the 365 classes of places-lt"],
    );
}

fn out_dir(args: &[String]) -> PathBuf {
    let i = args.iter().position(|a| a == "--out").unwrap();
    PathBuf::from(&args[i + 1])
}

#[test]
fn inspect_split_list_bounds_classes_by_the_list_or_by_flag() {
    let t = tempfile::tempdir().unwrap();
    let list = t.path().join("LIST");
    std::fs::write(
        &list,
        "a/1.jpg 0\na/2.jpg 1\nb/3.jpg 2000000000\nc/4.jpg 2\n",
    )
    .unwrap();
    for args in [
        vec!["inspect", "--split-file", s(&list)],
        vec!["inspect", "--split-file", s(&list), "--json"],
    ] {
        // Bounded by the file: no 8 GB class-count vector.
        let out = run_limited(1 << 20, &args);
        failed(
            &args,
            &out,
            &["LIST: line 3: label 2000000000", "4 entries", "--classes"],
        );
    }
    let args = ["inspect", "--split-file", s(&list), "--classes", "1000"];
    fails(
        &args,
        &["LIST: line 3: label 2000000000 is outside the 1000 classes given by --classes"],
    );
    // A list naming fewer classes than it has entries needs no flag; a flag may add classes
    // the list does not use.
    std::fs::write(&list, "a/1.jpg 0\na/2.jpg 1\nb/3.jpg 1\nc/4.jpg 2\n").unwrap();
    let r = json(&["inspect", "--split-file", s(&list), "--json"]);
    assert_eq!(
        (r["classes"].as_u64(), r["total"].as_u64()),
        (Some(3), Some(4))
    );
    let r = json(&[
        "inspect",
        "--split-file",
        s(&list),
        "--classes",
        "5",
        "--json",
    ]);
    assert_eq!(counts(&r["counts"]), [1, 2, 1, 0, 0]);
    fails(
        &["inspect", "--split-file", s(&list), "--classes", "2"],
        &["LIST: line 4: label 2 is outside the 2 classes given by --classes"],
    );
    // The flag is for lists only, and bounded.
    fails(&["inspect", s(t.path()), "--classes", "3"], &["--classes"]);
    for k in ["0", "4294967295"] {
        fails(
            &["inspect", "--split-file", s(&list), "--classes", k],
            &["--classes", k],
        );
    }
}

#[test]
fn inat_category_beyond_the_recipe_classes_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let rel = "train_val2018/Plantae/0/a.jpg";
    write_jpeg(&t.path().join(rel), 40, 30, 1);
    let coco = |cat: u64| {
        serde_json::json!({
            "images": [{"id": 1, "file_name": rel}],
            "annotations": [{"id": 0, "image_id": 1, "category_id": cat}],
            "categories": [{"id": cat, "name": "Abies"}],
        })
        .to_string()
    };
    std::fs::write(t.path().join("train2018.json"), coco(9000)).unwrap();
    std::fs::write(t.path().join("val2018.json"), coco(9000)).unwrap();
    let out = t.path().join("out");
    fails(
        &strs(&build_args("inat2018", t.path(), &out, &[])),
        &["train2018.json: category id 9000 is outside the 8142 classes of inat2018"],
    );
    nothing_left(t.path(), &out);
}

// ---------------------------------------------------------------- 3. gzip streams

#[test]
fn gzip_trailing_garbage_and_truncation_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("fmnist");
    let (train_labels, _) = write_idx_tree(&src);
    let out = t.path().join("out");
    let args = build_args("fashion-mnist", &src, &out, &["--imbalance", "2"]);
    let f = src.join("train-labels-idx1-ubyte.gz");
    // Two members, as `cat a.gz b.gz` makes: one stream of the whole file.
    let (a, b) = train_labels.split_at(11);
    std::fs::write(&f, [gzip(a), gzip(b)].concat()).unwrap();
    stdout(&strs(&args));
    assert_eq!(
        counts(&manifest(&out)["splits"]["test"]["counts"]),
        [2; 10],
        "test split"
    );
    std::fs::remove_dir_all(&out).unwrap();
    // Anything else after the stream is garbage, even a valid-looking IDX tail.
    // With `bytes` as the labels file, the build fails naming every needle, leaving nothing.
    let refused = |bytes: &[u8], needles: &[&str]| {
        std::fs::write(&f, bytes).unwrap();
        fails(&strs(&args), needles);
        nothing_left(t.path(), &out);
    };
    for tail in [&b"garbage!"[..], &[0u8; 16], &[0x1f]] {
        refused(
            &[gzip(&train_labels), tail.to_vec()].concat(),
            &[
                "train-labels-idx1-ubyte.gz: bad gzip stream",
                "trailing data after the gzip stream",
            ],
        );
    }
    let whole = gzip(&train_labels);
    for cut in [whole.len() - 1, whole.len() - 8, 20, 11] {
        refused(
            &whole[..cut],
            &["train-labels-idx1-ubyte.gz: bad gzip stream"],
        );
    }
}

// ---------------------------------------------------------------- 4. class folder names

#[test]
fn non_utf8_class_folder_builds() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    for (split, n) in [("train", 4), ("test", 2)] {
        for class in [OsStr::new("ant"), latin1] {
            for i in 0..n {
                let file = root.join(split).join(class).join(format!("{i}.jpg"));
                write_jpeg(&file, 48, 40, i);
            }
        }
    }
    let out = t.path().join("out");
    stdout(&strs(&build_args(
        "folder",
        &root,
        &out,
        &["--max-side", "32"],
    )));
    let m = manifest(&out);
    assert_eq!(m["num_classes"], 2);
    assert_eq!(m["class_names"][0], "ant");
    let name = m["class_names"][1].as_str().unwrap();
    assert!(name.starts_with("caf"), "{name}");
    assert_eq!(counts(&m["splits"]["train"]["counts"]), [4, 4]);
    assert_eq!(counts(&m["splits"]["test"]["counts"]), [2, 2]);
    stdout(&["verify", s(&out)]);
}

// ---------------------------------------------------------------- 5. JPEG decoding

/// The first `n` bytes after the end of the first SOS header.
fn after_sos(j: &[u8]) -> usize {
    let sos = j.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    sos + 2 + u16::from_be_bytes([j[sos + 2], j[sos + 3]]) as usize
}

/// A small real JPEG whose frame header claims `w` x `h`, cut a few bytes into its scan.
fn bomb_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut j = jpeg(16, 16, 3);
    let sof = j.windows(2).position(|x| x == [0xff, 0xc0]).unwrap();
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j.truncate(after_sos(&j) + 8);
    j
}

#[test]
fn truncated_and_oversized_jpegs_are_errors_or_skipped() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    for c in ["cat", "dog"] {
        for i in 0..5 {
            write_jpeg(&root.join(c).join(format!("{i}.jpg")), 96, 64, i);
        }
    }
    let good = jpeg(128, 96, 7);
    let half = root.join("cat/half.jpg");
    let bomb = root.join("dog/bomb.jpg");
    let bomb_bytes = bomb_jpeg(16000, 16000);
    assert!(bomb_bytes.len() < 1000, "{} bytes", bomb_bytes.len());
    let out = t.path().join("out");
    let args = build_args("folder", &root, &out, &["--max-side", "32"]);

    // The whole file builds; cut at half it is an error, not a grey bottom half.
    std::fs::write(&half, &good).unwrap();
    stdout(&strs(&args));
    assert_eq!(counts(&manifest(&out)["splits"]["train"]["counts"]), [6, 5]);
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(&half, &good[..good.len() / 2]).unwrap();
    fails(&strs(&args), &["half.jpg: cannot decode image"]);
    nothing_left(t.path(), &out);

    // A header claiming 16000 x 16000 is refused before any pixel buffer exists.
    std::fs::write(&half, &good).unwrap();
    std::fs::write(&bomb, &bomb_bytes).unwrap();
    fails(
        &strs(&args),
        &["bomb.jpg: 16000x16000 = 256000000 pixels exceeds --max-pixels 89478485 (decompression bomb guard)"],
    );
    nothing_left(t.path(), &out);
    // A lower limit applies to ordinary images too, PNG included.
    std::fs::remove_file(&bomb).unwrap();
    let png = root.join("dog/wide.png");
    image::RgbImage::from_pixel(300, 200, image::Rgb([1, 2, 3]))
        .save(&png)
        .unwrap();
    let mut limited = args.clone();
    limited.extend(["--max-pixels".into(), "50000".into()]);
    fails(
        &strs(&limited),
        &["wide.png: 300x200 = 60000 pixels exceeds --max-pixels 50000"],
    );
    std::fs::remove_file(&png).unwrap();

    // With --skip-bad both bad files are left out and listed; every good image is kept.
    std::fs::write(&half, &good[..good.len() / 2]).unwrap();
    std::fs::write(&bomb, &bomb_bytes).unwrap();
    let mut skip = args.clone();
    skip.push("--skip-bad".into());
    stdout(&strs(&skip));
    let m = manifest(&out);
    let mut skipped: Vec<(String, String)> = m["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_string(),
                x["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].0.ends_with("cat/half.jpg"), "{skipped:?}");
    assert!(skipped[0].1.contains("cannot decode image"), "{skipped:?}");
    assert!(skipped[1].0.ends_with("dog/bomb.jpg"), "{skipped:?}");
    assert!(
        skipped[1].1.contains("exceeds --max-pixels 89478485"),
        "{skipped:?}"
    );
    assert_eq!(counts(&m["splits"]["train"]["counts"]), [5, 5]);
    stdout(&["verify", s(&out)]);
}

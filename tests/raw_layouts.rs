//! `lt-data build` on image trees in the layouts the raw datasets are distributed in
//! (ILSVRC2012, Places365-Standard, iNaturalist 2018), read through real lines of the official
//! lists in ../shared/splits: every listed image is looked up before decoding, the lookup is
//! reported per split, and missing images stop the build with a report beside the output,
//! unless `--skip-missing`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

/// (path, label) lines of a list.
type Lines = Vec<(String, u32)>;

/// The first `per[i]` lines of class `labels[i]` of the shared list `name`, in list order.
fn real_lines(name: &str, labels: &[u32], per: &[usize]) -> Lines {
    let text = std::fs::read_to_string(shared_split(name)).unwrap();
    let mut taken = vec![0; labels.len()];
    let mut out = Vec::new();
    for line in text.lines() {
        let (path, label) = line.rsplit_once(' ').unwrap();
        let label: u32 = label.parse().unwrap();
        if let Some(i) = labels.iter().position(|&l| l == label) {
            if taken[i] < per[i] {
                taken[i] += 1;
                out.push((path.to_string(), label));
            }
        }
    }
    assert_eq!(taken, per, "{name} has too few lines of {labels:?}");
    out
}

fn write_list(path: &Path, lines: &Lines) {
    let text: String = lines.iter().map(|(p, l)| format!("{p} {l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// A tiny JPEG for every listed image, at the path `place` gives its list path under `root`.
fn write_images(root: &Path, lines: &Lines, place: impl Fn(&str) -> String) {
    for (i, (p, _)) in lines.iter().enumerate() {
        write_jpeg(&root.join(place(p)), 12, 9, i as u32);
    }
}

/// `lt-data build` with its report (not `-q`).
fn build(dataset: &str, src: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = build_args(dataset, src, out, extra);
    args.retain(|a| a != "-q");
    run(&strs(&args))
}

fn stdout_of(o: &Output) -> String {
    ok(o, "lt-data build");
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The class counts of split `split` in the manifest of `out`.
fn split_counts(m: &Value, split: &str) -> Vec<u64> {
    counts(&m["splits"][split]["counts"])
}

// ------------------------------------------------------------------------- ImageNet-LT

const WNIDS: [&str; 3] = ["n01440764", "n01443537", "n01484850"];

/// ImageNet-LT lists for the first three classes, in `dir`: a training list in the real line
/// format (the official one is not in ../shared) with 6, 3 and 2 images, and the first 3 (val)
/// and 4 (test) real lines of each class. Returns (train, val, test) lines.
fn imagenet_lists(dir: &Path) -> (Lines, Lines, Lines) {
    let val = real_lines("ImageNet_LT_val.txt", &[0, 1, 2], &[3, 3, 3]);
    let test = real_lines("ImageNet_LT_test.txt", &[0, 1, 2], &[4, 4, 4]);
    let mut train = Lines::new();
    for (c, (wnid, n)) in WNIDS.iter().zip([6, 3, 2]).enumerate() {
        for i in 0..n {
            // Numbers no line of ImageNet_LT_val.txt (training images too) uses.
            train.push((
                format!("train/{wnid}/{wnid}_{}.JPEG", 100_000 + i),
                c as u32,
            ));
        }
    }
    assert!(train.iter().all(|t| !val.contains(t)));
    write_list(&dir.join("ImageNet_LT_train.txt"), &train);
    write_list(&dir.join("ImageNet_LT_val.txt"), &val);
    write_list(&dir.join("ImageNet_LT_test.txt"), &test);
    (train, val, test)
}

/// `val/n01440764/ILSVRC2012_val_00029930.JPEG` as ILSVRC2012_img_val.tar extracts it.
fn flat_val(listed: &str) -> String {
    format!("val/{}", listed.rsplit('/').next().unwrap())
}

/// An ILSVRC2012 root: class folders under train/, the validation images flat in val/ except
/// those of the classes in `sorted`, re-sorted into val/<wnid>/.
fn ilsvrc_tree(root: &Path, lists: &(Lines, Lines, Lines), sorted: &[&str]) {
    let (train, val, test) = lists;
    write_images(root, train, str::to_string);
    write_images(root, val, str::to_string);
    write_images(root, test, |p| {
        if sorted.iter().any(|w| p.contains(w)) {
            p.to_string()
        } else {
            flat_val(p)
        }
    });
}

fn list_flags(dir: &Path) -> [String; 6] {
    let f = |n: &str| dir.join(n).display().to_string();
    [
        "--split-file".into(),
        f("ImageNet_LT_train.txt"),
        "--val-file".into(),
        f("ImageNet_LT_val.txt"),
        "--test-file".into(),
        f("ImageNet_LT_test.txt"),
    ]
}

/// A temporary directory with the ImageNet-LT lists (`imagenet_lists`) and an ILSVRC2012 root
/// `ILSVRC2012/` whose validation images are all flat.
struct Ilsvrc {
    t: tempfile::TempDir,
    lists: (Lines, Lines, Lines),
    root: PathBuf,
    /// The lists as `--split-file`, `--val-file` and `--test-file`.
    flags: [String; 6],
}

fn ilsvrc() -> Ilsvrc {
    let t = tempfile::tempdir().unwrap();
    let lists = imagenet_lists(t.path());
    let root = t.path().join("ILSVRC2012");
    ilsvrc_tree(&root, &lists, &[]);
    let flags = list_flags(t.path());
    Ilsvrc {
        t,
        lists,
        root,
        flags,
    }
}

#[test]
fn imagenet_lt_reads_ilsvrc2012_with_a_flat_or_a_sorted_val_folder() {
    // Every test image flat in val/, the lists given by flags.
    let Ilsvrc {
        t,
        lists,
        root: flat,
        flags,
    } = ilsvrc();
    let out = t.path().join("inet-lt");
    let o = build("imagenet-lt", &flat, &out, &strs(&flags));
    assert_eq!(
        stdout_of(&o),
        format!(
            "images listed under {} (layout ilsvrc2012):\n\
             \x20 train 11 listed, 11 found (class folders: 11), 0 missing\n\
             \x20 test  12 listed, 12 found (flat val/: 12), 0 missing\n\
             \x20 val   9 listed, 9 found (class folders: 9), 0 missing\n\
             built imagenet-lt in {}: train 11 images, 3 classes\n\
             \x20 test: 12 images\n\
             \x20 val: 9 images\n",
            flat.display(),
            out.display()
        )
    );
    let m = manifest(&out);
    assert_eq!(split_counts(&m, "train"), [6, 3, 2]);
    assert_eq!(split_counts(&m, "val"), [3, 3, 3]);
    assert_eq!(split_counts(&m, "test"), [4, 4, 4]);
    assert_eq!(m["class_names"], json!(WNIDS));
    assert!(m.get("missing_skipped").is_none(), "{m}");
    assert!(!out.join("missing.txt").exists());
    stdout(&["verify", s(&out)]);

    // The first class's test images re-sorted into val/n01440764/, the others flat; the lists
    // in the root under the recipe's names.
    let mixed = t.path().join("ILSVRC2012-sorted");
    ilsvrc_tree(&mixed, &lists, &[WNIDS[0]]);
    for n in ["train", "val", "test"] {
        let name = format!("ImageNet_LT_{n}.txt");
        std::fs::copy(t.path().join(&name), mixed.join(&name)).unwrap();
    }
    let out2 = t.path().join("inet-lt-sorted");
    let report = stdout_of(&build("imagenet-lt", &mixed, &out2, &[]));
    assert!(
        report
            .contains("  test  12 listed, 12 found (class folders: 4, flat val/: 8), 0 missing\n"),
        "{report}"
    );
    let m2 = manifest(&out2);
    for split in ["train", "val", "test"] {
        assert_eq!(split_counts(&m2, split), split_counts(&m, split), "{split}");
    }
    // The same images in the same order: the same split files.
    for f in ["train.ltd", "val.ltd", "test.ltd"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// The report of a build that stopped on the images of lines 2 (train), 3 and 10 (test).
fn stopped_report(root: &Path, lists: &(Lines, Lines, Lines)) -> String {
    let (train, _, test) = lists;
    format!(
        "# lt-data build --dataset imagenet-lt: 3 of 32 listed images are not under {} (layout ilsvrc2012); one `split place path` a line\n\
         train 2 {}\ntest 3 {}\ntest 10 {}\n",
        root.display(),
        train[1].0,
        test[2].0,
        test[9].0
    )
}

#[test]
fn missing_images_stop_the_build_with_a_report_unless_skipped() {
    let Ilsvrc {
        t,
        lists,
        root,
        flags,
    } = ilsvrc();
    let (train, _, test) = &lists;
    let gone = [
        root.join(&train[1].0),
        root.join(flat_val(&test[2].0)),
        root.join(flat_val(&test[9].0)),
    ];
    let kept: Vec<Vec<u8>> = gone.iter().map(|p| std::fs::read(p).unwrap()).collect();
    gone.iter().for_each(|p| std::fs::remove_file(p).unwrap());
    let out = t.path().join("inet-lt");
    let report_file = t.path().join("inet-lt.missing.txt");

    let o = build("imagenet-lt", &root, &out, &strs(&flags));
    assert_eq!(o.status.code(), Some(1));
    let line = fails_out(&o, &[]);
    assert_eq!(
        line,
        format!(
            "lt-data: 3 of 32 listed images are not under {} (train 1 of 11, test 2 of 12; \
             first: ImageNet_LT_train.txt line 2: {}); all 3 are listed in {}; pass \
             --skip-missing to build from the 29 found",
            root.display(),
            train[1].0,
            report_file.display()
        )
    );
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!(
            "images listed under {} (layout ilsvrc2012):\n\
             \x20 train 11 listed, 10 found (class folders: 10), 1 missing\n\
             \x20 test  12 listed, 10 found (flat val/: 10), 2 missing\n\
             \x20 val   9 listed, 9 found (class folders: 9), 0 missing\n\
             \x20 missing from train (ImageNet_LT_train.txt):\n\
             \x20   line 2: {}\n\
             \x20 missing from test (ImageNet_LT_test.txt):\n\
             \x20   line 3: {}\n\
             \x20   line 10: {}\n",
            root.display(),
            train[1].0,
            test[2].0,
            test[9].0
        )
    );
    let want = stopped_report(&root, &lists);
    assert_eq!(std::fs::read_to_string(&report_file).unwrap(), want);
    nothing_left(t.path(), &out);

    // Shifted test splits need every test image, even with --skip-missing.
    let shifted = [&strs(&flags)[..], &["--skip-missing", "--test-splits", "2"]].concat();
    fails(
        &strs(&build_args("imagenet-lt", &root, &out, &shifted)),
        &["--test-splits: 2 test images were not found (--skip-missing)"],
    );
    nothing_left(t.path(), &out);

    // --skip-missing builds from the 29 found, counts and lists the skipped images in the
    // dataset, and removes the report of the build that stopped.
    let skip = [&strs(&flags)[..], &["--skip-missing"]].concat();
    let o = run(&strs(&build_args("imagenet-lt", &root, &out, &skip)));
    let err = ok(&o, "--skip-missing");
    assert_eq!(
        err,
        format!(
            "lt-data: note: --skip-missing: left out 3 listed images not found under {} (test 2, train 1); {} lists them\n\
             lt-data: note: removed {}, the missing-image report of an earlier build that stopped\n",
            root.display(),
            out.join("missing.txt").display(),
            report_file.display()
        )
    );
    assert!(o.stdout.is_empty(), "-q prints no report");
    assert!(!report_file.exists());
    let m = manifest(&out);
    assert_eq!(m["missing_skipped"], json!({"train": 1, "test": 2}));
    assert_eq!(split_counts(&m, "train"), [5, 3, 2]);
    assert_eq!(split_counts(&m, "test"), [3, 4, 3]);
    assert_eq!(split_counts(&m, "val"), [3, 3, 3]);
    assert_eq!(
        std::fs::read_to_string(out.join("missing.txt")).unwrap(),
        want
    );
    stdout(&["verify", s(&out)]);
    // A dataset with its missing.txt is lt-data's own: a new build replaces it.
    let again = stdout_of(&build("imagenet-lt", &root, &out, &skip));
    assert!(again.contains("  test  12 listed, 10 found (flat val/: 10), 2 missing\n"));
    assert!(again.contains("built imagenet-lt in"), "{again}");

    // With every image back, the dataset is whole and holds no missing.txt.
    for (p, bytes) in gone.iter().zip(&kept) {
        std::fs::write(p, bytes).unwrap();
    }
    stdout_of(&build("imagenet-lt", &root, &out, &strs(&flags)));
    let m = manifest(&out);
    assert!(m.get("missing_skipped").is_none(), "{m}");
    assert_eq!(split_counts(&m, "train"), [6, 3, 2]);
    assert!(!out.join("missing.txt").exists());
}

#[test]
fn a_report_file_lt_data_did_not_write_is_left_alone() {
    let Ilsvrc {
        t,
        lists,
        root,
        flags,
    } = ilsvrc();
    std::fs::remove_file(root.join(&lists.0[0].0)).unwrap();
    let out = t.path().join("inet-lt");
    let mine = t.path().join("inet-lt.missing.txt");
    std::fs::write(&mine, "my notes\n").unwrap();
    fails(
        &strs(&build_args("imagenet-lt", &root, &out, &strs(&flags))),
        &[
            "inet-lt.missing.txt: exists and lt-data did not write it",
            "1 listed images missing",
            "--skip-missing",
        ],
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes\n");
    nothing_left(t.path(), &out);
    // A build that succeeds leaves it too.
    let skip = [&strs(&flags)[..], &["--skip-missing"]].concat();
    ok(
        &run(&strs(&build_args("imagenet-lt", &root, &out, &skip))),
        "build",
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes\n");
}

// -------------------------------------------------------------------------- Places-LT

/// `train/apartment_building-outdoor/00000794.jpg` in a letter-level archive folder `dir`
/// (`data_256`: `data_256/a/apartment_building/outdoor/00000794.jpg`), and a validation image
/// in the flat folder `val_dir`.
fn places_archive(listed: &str, dir: &str, val_dir: &str) -> String {
    let (set, rest) = listed.split_once('/').unwrap();
    let (class, file) = rest.split_once('/').unwrap();
    match set {
        "train" => format!(
            "{dir}/{}/{}/{file}",
            &class[..1],
            class.replacen('-', "/", 1)
        ),
        _ => format!("{val_dir}/{file}"),
    }
}

#[test]
fn places_lt_reads_the_easy_format_and_the_letter_level_archives() {
    let t = tempfile::tempdir().unwrap();
    // airfield, airplane_cabin and apartment_building-outdoor (a sub-category).
    let labels = [0, 1, 8];
    let train = real_lines("Places_LT_train.txt", &labels, &[5, 3, 2]);
    let val = real_lines("Places_LT_val.txt", &labels, &[2, 2, 2]);
    let test = real_lines("Places_LT_test.txt", &labels, &[3, 3, 3]);
    for (n, l) in [("train", &train), ("val", &val), ("test", &test)] {
        write_list(&t.path().join(format!("Places_LT_{n}.txt")), l);
    }
    let f = |n: &str| t.path().join(n).display().to_string();
    let (tr, va, te) = (
        f("Places_LT_train.txt"),
        f("Places_LT_val.txt"),
        f("Places_LT_test.txt"),
    );
    let flags = [
        "--split-file",
        tr.as_str(),
        "--val-file",
        va.as_str(),
        "--test-file",
        te.as_str(),
    ];
    // (root, where a list path lies, the rule names the report gives train and test)
    type Place = fn(&str) -> String;
    let layouts: [(&str, Place, &str, &str); 3] = [
        (
            "places365_standard",
            str::to_string,
            "train/ and val/ class folders",
            "train/ and val/ class folders",
        ),
        (
            "small",
            |p| places_archive(p, "data_256", "val_256"),
            "data_256/",
            "flat val_256/",
        ),
        (
            "large",
            |p| places_archive(p, "data_large", "val_large"),
            "data_large/",
            "flat val_large/",
        ),
    ];
    let mut first: Option<Vec<u8>> = None;
    for (name, place, train_rule, test_rule) in layouts {
        let root = t.path().join(name);
        for l in [&train, &val, &test] {
            write_images(&root, l, place);
        }
        let out = t.path().join(format!("places-lt-{name}"));
        let report = stdout_of(&build("places-lt", &root, &out, &flags));
        for want in [
            format!("  train 10 listed, 10 found ({train_rule}: 10), 0 missing\n"),
            format!("  test  9 listed, 9 found ({test_rule}: 9), 0 missing\n"),
            format!("  val   6 listed, 6 found ({train_rule}: 6), 0 missing\n"),
        ] {
            assert!(report.contains(&want), "{name}: {want:?} not in {report}");
        }
        let m = manifest(&out);
        assert_eq!(
            split_counts(&m, "train"),
            [5, 3, 0, 0, 0, 0, 0, 0, 2],
            "{name}"
        );
        assert_eq!(split_counts(&m, "test"), [3, 3, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(split_counts(&m, "val"), [2, 2, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(m["class_names"][0], "airfield");
        assert_eq!(m["class_names"][8], "apartment_building-outdoor");
        stdout(&["verify", s(&out)]);
        let bytes = std::fs::read(out.join("train.ltd")).unwrap();
        assert_eq!(first.get_or_insert(bytes.clone()), &bytes, "{name}");
    }
    // A training image gone from data_256/: reported by its list line.
    let root = t.path().join("small");
    let gone = places_archive(&train[6].0, "data_256", "val_256");
    std::fs::remove_file(root.join(&gone)).unwrap();
    let out = t.path().join("places-lt-gone");
    let o = build("places-lt", &root, &out, &flags);
    fails_out(
        &o,
        &[
            "1 of 25 listed images",
            &format!("first: Places_LT_train.txt line 7: {}", train[6].0),
            "places-lt-gone.missing.txt",
        ],
    );
    nothing_left(t.path(), &out);
    let skip = [&flags[..], &["--skip-missing"]].concat();
    stdout_of(&build("places-lt", &root, &out, &skip));
    let m = manifest(&out);
    assert_eq!(m["missing_skipped"], json!({"train": 1}));
    assert_eq!(split_counts(&m, "train"), [5, 2, 0, 0, 0, 0, 0, 0, 2]);
}

// -------------------------------------------------------------------- iNaturalist 2018

#[test]
fn inat2018_lists_with_the_root_above_or_at_train_val2018() {
    let t = tempfile::tempdir().unwrap();
    let test = real_lines("iNaturalist18_val.txt", &[0, 1, 2, 3], &[3, 3, 3, 3]);
    let mut train = Lines::new();
    for (c, n) in [4u32, 3, 2, 1].into_iter().enumerate() {
        for i in 0..n {
            let file = format!("{:032x}", 0x5eed_0000_u64 + (c as u64) * 16 + i as u64);
            train.push((format!("train_val2018/Animalia/{c}/{file}.jpg"), c as u32));
        }
    }
    let (tl, vl) = (
        t.path().join("iNaturalist18_train.txt"),
        t.path().join("iNaturalist18_val.txt"),
    );
    write_list(&tl, &train);
    write_list(&vl, &test);
    let root = t.path().join("inat");
    write_images(&root, &train, str::to_string);
    write_images(&root, &test, str::to_string);
    let flags = ["--split-file", s(&tl), "--test-file", s(&vl)];
    let mut first: Option<Vec<u8>> = None;
    for (i, (src, rule)) in [
        (root.clone(), "train_val2018/ under the root"),
        (root.join("train_val2018"), "the root is train_val2018/"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = t.path().join(format!("inat-{i}"));
        let report = stdout_of(&build("inat2018", &src, &out, &flags));
        for want in [
            format!("  train 10 listed, 10 found ({rule}: 10), 0 missing\n"),
            format!("  test  12 listed, 12 found ({rule}: 12), 0 missing\n"),
        ] {
            assert!(report.contains(&want), "{want:?} not in {report}");
        }
        let m = manifest(&out);
        assert_eq!(split_counts(&m, "train"), [4, 3, 2, 1]);
        assert_eq!(split_counts(&m, "test"), [3, 3, 3, 3]);
        assert_eq!(m["class_names"], json!(["0", "1", "2", "3"]));
        stdout(&["verify", s(&out)]);
        let bytes = std::fs::read(out.join("test.ltd")).unwrap();
        assert_eq!(first.get_or_insert(bytes.clone()), &bytes);
    }
    // The root below train_val2018/ holds nothing the lists name.
    let below = root.join("train_val2018/Animalia");
    let out = t.path().join("inat-below");
    fails(
        &strs(&build_args("inat2018", &below, &out, &flags)),
        &[
            "22 of 22 listed images are not under",
            "inat-below.missing.txt",
        ],
    );
    nothing_left(t.path(), &out);
}

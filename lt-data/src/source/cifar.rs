//! CIFAR-10 and CIFAR-100, python (pickled dicts of numpy arrays, from Python 2 or 3) or
//! binary version. Images are stored as 3072 bytes in planes (1024 red, 1024 green, 1024
//! blue, each row-major 32x32); they are returned interleaved, 32x32x3.

use super::{read_recorded, Pixels, Sample, SourceData};
use crate::error::{Error, Result};
use crate::pickle::{self, Value};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Which of the two datasets to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Cifar10,
    Cifar100,
}

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;
const IMAGE: usize = 3 * PLANE;

enum Layout {
    Python(PathBuf),
    Binary(PathBuf),
}

/// Reads a CIFAR source from the extracted folder itself or from its parent, python version
/// preferred when both are present.
pub fn read(dir: &Path, variant: Variant) -> Result<SourceData> {
    let (py_dir, bin_dir, py_marker, bin_marker) = match variant {
        Variant::Cifar10 => (
            "cifar-10-batches-py",
            "cifar-10-batches-bin",
            "batches.meta",
            "batches.meta.txt",
        ),
        Variant::Cifar100 => (
            "cifar-100-python",
            "cifar-100-binary",
            "meta",
            "fine_label_names.txt",
        ),
    };
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let layout = [
        (dir.to_path_buf(), py_marker, true),
        (dir.to_path_buf(), bin_marker, false),
        (dir.join(py_dir), py_marker, true),
        (dir.join(bin_dir), bin_marker, false),
    ]
    .into_iter()
    .find(|(d, m, _)| d.join(m).is_file())
    .map(|(d, _, py)| {
        if py {
            Layout::Python(d)
        } else {
            Layout::Binary(d)
        }
    })
    .ok_or_else(|| {
        Error::format(
            dir,
            format!("no CIFAR files here (expected {py_dir}/ or {bin_dir}/, or their content)"),
        )
    })?;
    match (layout, variant) {
        (Layout::Python(d), Variant::Cifar10) => python10(&d),
        (Layout::Python(d), Variant::Cifar100) => python100(&d),
        (Layout::Binary(d), Variant::Cifar10) => binary10(&d),
        (Layout::Binary(d), Variant::Cifar100) => binary100(&d),
    }
}

/// Reads a python-version file (recording its CRC-32) and unpickles it; errors name the file.
fn read_pickle(path: &Path, checksums: &mut Vec<(String, String)>) -> Result<Value> {
    let bytes = read_recorded(path, checksums)?;
    pickle::load(path, &bytes)
}

/// Planar CHW bytes of one image to interleaved HWC.
fn to_hwc(chw: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; IMAGE];
    for (p, px) in out.chunks_exact_mut(3).enumerate() {
        px[0] = chw[p];
        px[1] = chw[PLANE + p];
        px[2] = chw[2 * PLANE + p];
    }
    out
}

fn raw(chw: &[u8]) -> Pixels {
    Pixels::Raw {
        height: SIDE as u32,
        width: SIDE as u32,
        channels: 3,
        data: to_hwc(chw),
    }
}

fn check_label(path: &Path, i: usize, label: i64, k: usize, what: &str) -> Result<u32> {
    if label < 0 || label as usize >= k {
        return Err(Error::format(
            path,
            format!("sample {i}: {what} label {label} outside 0..{k}"),
        ));
    }
    Ok(label as u32)
}

/// One python batch: (image bytes of N x 3072, label lists by key).
fn python_batch(
    path: &Path,
    keys: &[&str],
    checksums: &mut Vec<(String, String)>,
) -> Result<(Vec<u8>, Vec<Vec<i64>>)> {
    let v = read_pickle(path, checksums)?;
    if !matches!(v, Value::Dict(_)) {
        return Err(Error::format(path, "the pickle does not hold a dict"));
    }
    let data = match v.get("data") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(Error::format(path, "'data' is not a numpy array")),
        None => return Err(Error::format(path, "no 'data' entry")),
    };
    if data.dtype != "|u1" || data.shape.len() != 2 || data.shape[1] != IMAGE {
        return Err(Error::format(
            path,
            format!(
                "'data' is {} of shape {:?}, expected uint8 of shape (N, {IMAGE})",
                data.dtype, data.shape
            ),
        ));
    }
    let n = data.shape[0];
    let mut labels = Vec::new();
    for key in keys {
        let l = v
            .get(key)
            .ok_or_else(|| Error::format(path, format!("no '{key}' entry")))?
            .to_int_vec()
            .ok_or_else(|| Error::format(path, format!("'{key}' is not a list of integers")))?;
        if l.len() != n {
            return Err(Error::format(
                path,
                format!("{} '{key}' for {n} images", l.len()),
            ));
        }
        labels.push(l);
    }
    if data.fortran {
        return Ok((data.c_order_data().into_owned(), labels));
    }
    // Move the pixels out of the parsed dict rather than copying 150 MB.
    let Value::Dict(items) = v else {
        return Err(Error::format(path, "the pickle does not hold a dict"));
    };
    let pixels = items
        .into_iter()
        .rev()
        .find_map(|(k, v)| match v {
            Value::Array(a) if k.as_str().as_deref() == Some("data") => Some(a.data),
            _ => None,
        })
        .unwrap_or_default();
    Ok((pixels, labels))
}

fn names_from_meta(
    path: &Path,
    key: &str,
    k: usize,
    checksums: &mut Vec<(String, String)>,
) -> Result<Vec<String>> {
    let v = read_pickle(path, checksums)?;
    meta_names(path, &v, key, k)
}

fn meta_names(path: &Path, v: &Value, key: &str, k: usize) -> Result<Vec<String>> {
    let names = v
        .get(key)
        .ok_or_else(|| Error::format(path, format!("no '{key}' entry")))?
        .to_str_vec()
        .ok_or_else(|| Error::format(path, format!("'{key}' is not a list of strings")))?;
    expect_count(path, names, k, |n| format!("'{key}' has {n} names"))
}

/// `names` when there are `k` of them; else an error on `path`: `what(len), expected k`.
fn expect_count(
    path: &Path,
    names: Vec<String>,
    k: usize,
    what: impl FnOnce(usize) -> String,
) -> Result<Vec<String>> {
    if names.len() != k {
        return Err(Error::format(
            path,
            format!("{}, expected {k}", what(names.len())),
        ));
    }
    Ok(names)
}

/// CIFAR-10 from its five training batches and its test batch (file names ending in
/// `suffix`), in that order, each read into samples by `batch`.
fn cifar10(
    class_names: Vec<String>,
    mut checksums: Vec<(String, String)>,
    suffix: &str,
    mut batch: impl FnMut(&str, &mut Vec<(String, String)>) -> Result<Vec<Sample>>,
) -> Result<SourceData> {
    let mut train = Vec::new();
    for i in 1..=5 {
        train.extend(batch(&format!("data_batch_{i}{suffix}"), &mut checksums)?);
    }
    let test = batch(&format!("test_batch{suffix}"), &mut checksums)?;
    Ok(SourceData {
        class_names,
        train,
        test,
        checksums,
        ..Default::default()
    })
}

/// CIFAR-100 from its training and test files (`train{suffix}`, `test{suffix}` in `dir`), in
/// that order, each read into samples by `split`, which records each fine class's super-class.
fn cifar100(
    class_names: Vec<String>,
    coarse_names: Vec<String>,
    mut checksums: Vec<(String, String)>,
    dir: &Path,
    suffix: &str,
    mut split: impl FnMut(
        &Path,
        &mut Vec<Option<u32>>,
        &mut Vec<(String, String)>,
    ) -> Result<Vec<Sample>>,
) -> Result<SourceData> {
    let mut coarse_of: Vec<Option<u32>> = vec![None; 100];
    let train_path = dir.join(format!("train{suffix}"));
    let train = split(&train_path, &mut coarse_of, &mut checksums)?;
    let test = split(
        &dir.join(format!("test{suffix}")),
        &mut coarse_of,
        &mut checksums,
    )?;
    let coarse_of_class = complete_coarse(&train_path, coarse_of)?;
    Ok(SourceData {
        class_names,
        train,
        test,
        coarse_of_class: Some(coarse_of_class),
        coarse_names: Some(coarse_names),
        checksums,
        ..Default::default()
    })
}

fn python10(dir: &Path) -> Result<SourceData> {
    let mut checksums = Vec::new();
    let class_names =
        names_from_meta(&dir.join("batches.meta"), "label_names", 10, &mut checksums)?;
    cifar10(class_names, checksums, "", |name, checksums| {
        let path = dir.join(name);
        let (data, labels) = python_batch(&path, &["labels"], checksums)?;
        let labels = labels[0]
            .iter()
            .enumerate()
            .map(|(i, &l)| check_label(&path, i, l, 10, "class"))
            .collect::<Result<Vec<_>>>()?;
        Ok(samples(&data, &labels))
    })
}

fn python100(dir: &Path) -> Result<SourceData> {
    let mut checksums = Vec::new();
    let meta_path = dir.join("meta");
    let meta = read_pickle(&meta_path, &mut checksums)?;
    let class_names = meta_names(&meta_path, &meta, "fine_label_names", 100)?;
    let coarse_names = meta_names(&meta_path, &meta, "coarse_label_names", 20)?;
    cifar100(
        class_names,
        coarse_names,
        checksums,
        dir,
        "",
        |path, coarse_of, checksums| {
            let (data, labels) = python_batch(path, &["fine_labels", "coarse_labels"], checksums)?;
            let fine = pair_labels(path, &labels[0], &labels[1], coarse_of)?;
            Ok(samples(&data, &fine))
        },
    )
}

/// Checks fine/coarse labels and records each fine class's super-class (which must not vary).
fn pair_labels(
    path: &Path,
    fine: &[i64],
    coarse: &[i64],
    coarse_of: &mut [Option<u32>],
) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(fine.len());
    for (i, (&f, &c)) in fine.iter().zip(coarse).enumerate() {
        let f = check_label(path, i, f, 100, "fine")?;
        let c = check_label(path, i, c, 20, "coarse")?;
        match coarse_of[f as usize] {
            None => coarse_of[f as usize] = Some(c),
            Some(prev) if prev == c => {}
            Some(prev) => {
                return Err(Error::format(
                    path,
                    format!("sample {i}: fine class {f} has coarse label {c}, earlier {prev}"),
                ))
            }
        }
        out.push(f);
    }
    Ok(out)
}

fn complete_coarse(path: &Path, coarse_of: Vec<Option<u32>>) -> Result<Vec<u32>> {
    coarse_of
        .into_iter()
        .enumerate()
        .map(|(f, c)| {
            c.ok_or_else(|| {
                Error::format(
                    path,
                    format!("fine class {f} has no sample, so no coarse label"),
                )
            })
        })
        .collect()
}

fn samples(data: &[u8], labels: &[u32]) -> Vec<Sample> {
    data.par_chunks_exact(IMAGE)
        .zip(labels.par_iter())
        .map(|(chw, &label)| Sample {
            label,
            pixels: raw(chw),
        })
        .collect()
}

/// Label names of a binary-version text file: one a line, trailing blank lines ignored.
fn text_names(path: &Path, k: usize, checksums: &mut Vec<(String, String)>) -> Result<Vec<String>> {
    let bytes = read_recorded(path, checksums)?;
    let text = String::from_utf8_lossy(&bytes);
    let names: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    expect_count(path, names, k, |n| format!("{n} label names"))
}

/// Samples of binary records (`header` label bytes, then the pixels) with their labels.
fn record_samples(recs: &[&[u8]], header: usize, labels: Vec<u32>) -> Vec<Sample> {
    recs.par_iter()
        .zip(labels)
        .map(|(r, label)| Sample {
            label,
            pixels: raw(&r[header..]),
        })
        .collect()
}

/// Records of `header` label bytes followed by 3072 pixel bytes.
fn binary_records(
    path: &Path,
    header: usize,
    checksums: &mut Vec<(String, String)>,
) -> Result<(Vec<u8>, usize)> {
    let bytes = read_recorded(path, checksums)?;
    let rec = header + IMAGE;
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} bytes is not a whole number of {rec}-byte records",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / rec;
    Ok((bytes, n))
}

fn binary10(dir: &Path) -> Result<SourceData> {
    let mut checksums = Vec::new();
    let class_names = text_names(&dir.join("batches.meta.txt"), 10, &mut checksums)?;
    cifar10(class_names, checksums, ".bin", |name, checksums| {
        let path = dir.join(name);
        let (bytes, n) = binary_records(&path, 1, checksums)?;
        let recs: Vec<&[u8]> = bytes.chunks_exact(IMAGE + 1).collect();
        let labels = (0..n)
            .map(|i| check_label(&path, i, recs[i][0] as i64, 10, "class"))
            .collect::<Result<Vec<_>>>()?;
        Ok(record_samples(&recs, 1, labels))
    })
}

fn binary100(dir: &Path) -> Result<SourceData> {
    let mut checksums = Vec::new();
    let coarse_names = text_names(&dir.join("coarse_label_names.txt"), 20, &mut checksums)?;
    let class_names = text_names(&dir.join("fine_label_names.txt"), 100, &mut checksums)?;
    cifar100(
        class_names,
        coarse_names,
        checksums,
        dir,
        ".bin",
        |path, coarse_of, checksums| {
            let (bytes, _) = binary_records(path, 2, checksums)?;
            let recs: Vec<&[u8]> = bytes.chunks_exact(IMAGE + 2).collect();
            let coarse: Vec<i64> = recs.iter().map(|r| r[0] as i64).collect();
            let fine: Vec<i64> = recs.iter().map(|r| r[1] as i64).collect();
            let labels = pair_labels(path, &fine, &coarse, coarse_of)?;
            Ok(record_samples(&recs, 2, labels))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::writer::{dumps, Item, Style};

    /// A recognisable value for image `i`, channel `c`, row `y`, column `x`.
    fn px(i: usize, c: usize, y: usize, x: usize) -> u8 {
        ((i * 7 + c * 50 + y * 3 + x * 5) % 256) as u8
    }

    /// Image `i` as CIFAR stores it: three 32x32 planes.
    fn chw(i: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(IMAGE);
        for c in 0..3 {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    v.push(px(i, c, y, x));
                }
            }
        }
        v
    }

    fn check_pixels(s: &Sample, i: usize) {
        let Pixels::Raw {
            height: 32,
            width: 32,
            channels: 3,
            data,
        } = &s.pixels
        else {
            panic!("{:?}", s.pixels)
        };
        for (y, x) in [(0, 0), (0, 1), (1, 0), (17, 29), (31, 31)] {
            for c in 0..3 {
                assert_eq!(
                    data[(y * SIDE + x) * 3 + c],
                    px(i, c, y, x),
                    "image {i} ({y},{x},{c})"
                );
            }
        }
        assert_eq!(data, &to_hwc(&chw(i)));
    }

    fn u8_data(first: usize, n: usize) -> Item {
        Item::U8Array(vec![n, IMAGE], (first..first + n).flat_map(chw).collect())
    }

    fn texts(v: impl IntoIterator<Item = String>) -> Item {
        Item::Texts(v.into_iter().collect())
    }

    const NAMES10: [&str; 10] = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];

    /// Images per batch file in the test trees (the real files hold 10,000).
    const PER: usize = 3;

    fn label10(i: usize) -> usize {
        (i * 3 + 1) % 10
    }

    fn fine(i: usize) -> usize {
        (i * 37 + 5) % 100
    }

    fn coarse(f: usize) -> usize {
        f % 20
    }

    fn write_py10(dir: &Path, style: Style) {
        std::fs::create_dir_all(dir).unwrap();
        let meta = Item::Dict(vec![
            ("num_cases_per_batch".into(), Item::Int(10000)),
            (
                "label_names".into(),
                texts(NAMES10.iter().map(|s| s.to_string())),
            ),
            ("num_vis".into(), Item::Int(3072)),
        ]);
        std::fs::write(dir.join("batches.meta"), dumps(style, &meta)).unwrap();
        for b in 0..6 {
            let name = if b < 5 {
                format!("data_batch_{}", b + 1)
            } else {
                "test_batch".into()
            };
            let first = b * PER;
            let batch = Item::Dict(vec![
                ("batch_label".into(), Item::Text(format!("batch {b}"))),
                (
                    "labels".into(),
                    Item::Ints((first..first + PER).map(|i| label10(i) as i64).collect()),
                ),
                ("data".into(), u8_data(first, PER)),
                (
                    "filenames".into(),
                    texts((first..first + PER).map(|i| format!("img_{i}.png"))),
                ),
            ]);
            std::fs::write(dir.join(name), dumps(style, &batch)).unwrap();
        }
    }

    fn check10(d: &SourceData) {
        assert_eq!(d.class_names, NAMES10);
        assert_eq!((d.train.len(), d.test.len()), (5 * PER, PER));
        for (i, s) in d.train.iter().chain(&d.test).enumerate() {
            assert_eq!(s.label as usize, label10(i));
            check_pixels(s, i);
        }
        assert!(d.coarse_of_class.is_none());
    }

    #[test]
    fn cifar10_python_from_python2_and_python3_pickles() {
        for style in [Style::Py2, Style::Py3P2, Style::Py3P4] {
            let t = tempfile::tempdir().unwrap();
            let dir = t.path().join("cifar-10-batches-py");
            write_py10(&dir, style);
            // Both the parent and the extracted folder are accepted.
            for src in [t.path(), dir.as_path()] {
                let d = read(src, Variant::Cifar10).unwrap_or_else(|e| panic!("{style:?}: {e}"));
                check10(&d);
                assert_eq!(d.checksums.len(), 7);
                let meta = std::fs::read(dir.join("batches.meta")).unwrap();
                assert!(d.checksums.contains(&(
                    "batches.meta".into(),
                    format!("{:08x}", crc32fast::hash(&meta))
                )));
            }
        }
    }

    #[test]
    fn cifar10_python_large_batch_in_frames() {
        // Over 64 KiB of pixels: protocol 4 writes the data outside the frames.
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("cifar-10-batches-py");
        write_py10(&dir, Style::Py3P4);
        let n = 30;
        let batch = Item::Dict(vec![
            (
                "labels".into(),
                Item::Ints((0..n).map(|i| label10(i) as i64).collect()),
            ),
            ("data".into(), u8_data(0, n)),
        ]);
        let bytes = dumps(Style::Py3P4, &batch);
        assert!(
            bytes
                .windows(5)
                .any(|w| w == [b'B', 0x00, 0x68, 0x01, 0x00]),
            "BINBYTES of 92160"
        );
        std::fs::write(dir.join("data_batch_1"), bytes).unwrap();
        let d = read(&dir, Variant::Cifar10).unwrap();
        assert_eq!(d.train.len(), n + 4 * PER);
        for i in [0, 13, 29] {
            check_pixels(&d.train[i], i);
            assert_eq!(d.train[i].label as usize, label10(i));
        }
    }

    fn write_py100(dir: &Path, style: Style) {
        std::fs::create_dir_all(dir).unwrap();
        let meta = Item::Dict(vec![
            (
                "fine_label_names".into(),
                texts((0..100).map(|f| format!("fine{f}"))),
            ),
            (
                "coarse_label_names".into(),
                texts((0..20).map(|c| format!("coarse{c}"))),
            ),
        ]);
        std::fs::write(dir.join("meta"), dumps(style, &meta)).unwrap();
        // The training file must hold every fine class: 100 images.
        for (name, first, n) in [("train", 0, 100), ("test", 100, 4)] {
            let batch = Item::Dict(vec![
                (
                    "filenames".into(),
                    texts((first..first + n).map(|i| format!("img_{i}.png"))),
                ),
                ("batch_label".into(), Item::Text(name.into())),
                (
                    "fine_labels".into(),
                    Item::Ints((first..first + n).map(|i| fine(i) as i64).collect()),
                ),
                (
                    "coarse_labels".into(),
                    Item::Ints((first..first + n).map(|i| coarse(fine(i)) as i64).collect()),
                ),
                ("data".into(), u8_data(first, n)),
            ]);
            std::fs::write(dir.join(name), dumps(style, &batch)).unwrap();
        }
    }

    fn check100(d: &SourceData) {
        assert_eq!(d.class_names.len(), 100);
        assert_eq!(d.class_names[42], "fine42");
        assert_eq!((d.train.len(), d.test.len()), (100, 4));
        for (i, s) in d.train.iter().chain(&d.test).enumerate() {
            assert_eq!(s.label as usize, fine(i));
            check_pixels(s, i);
        }
        let co = d.coarse_of_class.as_ref().unwrap();
        assert_eq!(co.len(), 100);
        assert!(co.iter().enumerate().all(|(f, &c)| c as usize == coarse(f)));
        assert_eq!(d.coarse_names.as_ref().unwrap()[19], "coarse19");
    }

    #[test]
    fn cifar100_python_fine_and_coarse_labels() {
        for style in [Style::Py2, Style::Py3P2, Style::Py3P4] {
            let t = tempfile::tempdir().unwrap();
            write_py100(&t.path().join("cifar-100-python"), style);
            check100(
                &read(t.path(), Variant::Cifar100).unwrap_or_else(|e| panic!("{style:?}: {e}")),
            );
        }
    }

    fn write_bin10(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("batches.meta.txt"), NAMES10.join("\n") + "\n\n").unwrap();
        for b in 0..6 {
            let name = if b < 5 {
                format!("data_batch_{}.bin", b + 1)
            } else {
                "test_batch.bin".into()
            };
            let mut bytes = Vec::new();
            for i in b * PER..(b + 1) * PER {
                bytes.push(label10(i) as u8);
                bytes.extend(chw(i));
            }
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    fn write_bin100(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let lines = |v: Vec<String>| v.join("\n") + "\n";
        std::fs::write(
            dir.join("fine_label_names.txt"),
            lines((0..100).map(|f| format!("fine{f}")).collect()),
        )
        .unwrap();
        std::fs::write(
            dir.join("coarse_label_names.txt"),
            lines((0..20).map(|c| format!("coarse{c}")).collect()),
        )
        .unwrap();
        for (name, first, n) in [("train.bin", 0, 100), ("test.bin", 100, 4)] {
            let mut bytes = Vec::new();
            for i in first..first + n {
                bytes.extend([coarse(fine(i)) as u8, fine(i) as u8]);
                bytes.extend(chw(i));
            }
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn cifar_binary_versions() {
        let t = tempfile::tempdir().unwrap();
        write_bin10(&t.path().join("cifar-10-batches-bin"));
        let d = read(t.path(), Variant::Cifar10).unwrap();
        check10(&d);
        assert_eq!(d.checksums.len(), 7);
        write_bin100(&t.path().join("cifar-100-binary"));
        check100(&read(&t.path().join("cifar-100-binary"), Variant::Cifar100).unwrap());
    }

    fn err(dir: &Path, v: Variant) -> String {
        read(dir, v).unwrap_err().to_string()
    }

    #[test]
    fn corrupt_sources_are_named_errors() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("cifar-10-batches-bin");
        write_bin10(&bin);
        let f = bin.join("data_batch_3.bin");
        let mut b = std::fs::read(&f).unwrap();
        b.pop();
        std::fs::write(&f, &b).unwrap();
        let e = err(t.path(), Variant::Cifar10);
        assert!(
            e.contains("data_batch_3.bin") && e.contains("truncated"),
            "{e}"
        );
        b.push(0);
        b[0] = 10; // label out of range
        std::fs::write(&f, &b).unwrap();
        let e = err(t.path(), Variant::Cifar10);
        assert!(
            e.contains("data_batch_3.bin") && e.contains("label 10 outside 0..10"),
            "{e}"
        );

        let py = t.path().join("py").join("cifar-10-batches-py");
        write_py10(&py, Style::Py3P2);
        let f = py.join("data_batch_2");
        let b = std::fs::read(&f).unwrap();
        std::fs::write(&f, &b[..b.len() / 2]).unwrap();
        let e = err(&py, Variant::Cifar10);
        assert!(e.contains("data_batch_2") && e.contains("truncated"), "{e}");
        std::fs::remove_file(&f).unwrap();
        let e = err(&py, Variant::Cifar10);
        assert!(e.contains("data_batch_2"), "{e}");
        // Labels that do not match the images.
        let batch = Item::Dict(vec![
            ("labels".into(), Item::Ints(vec![1, 2])),
            ("data".into(), u8_data(0, 3)),
        ]);
        std::fs::write(&f, dumps(Style::Py3P4, &batch)).unwrap();
        let e = err(&py, Variant::Cifar10);
        assert!(
            e.contains("data_batch_2") && e.contains("2 'labels' for 3 images"),
            "{e}"
        );

        let bin100 = t.path().join("cifar-100-binary");
        write_bin100(&bin100);
        let f = bin100.join("test.bin");
        let mut b = std::fs::read(&f).unwrap();
        b[0] = (b[0] + 1) % 20; // a coarse label disagreeing with the training file
        std::fs::write(&f, &b).unwrap();
        let e = err(&bin100, Variant::Cifar100);
        assert!(e.contains("test.bin") && e.contains("coarse label"), "{e}");

        let e = err(&t.path().join("py"), Variant::Cifar100);
        assert!(e.contains("no CIFAR files"), "{e}");
    }
}

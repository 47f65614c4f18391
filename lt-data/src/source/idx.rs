//! IDX files (MNIST, Fashion-MNIST): a big-endian header `0 0 TYPE NDIMS`, NDIMS u32 sizes,
//! then the values. Read gzip-compressed or plain, whichever is on disk.

use super::{Classes, Pixels, Sample, SourceData};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// [`read_within`] with the ten classes of MNIST and Fashion-MNIST.
pub fn read(dir: &Path) -> Result<SourceData> {
    read_within(dir, &Classes::new(10, "of an MNIST-style IDX source"))
}

/// Reads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
/// and `t10k-labels-idx1-ubyte` (each optionally `.gz`) from `dir` or its `raw/` folder.
/// Every label must be one of `classes`, which are the dataset's classes.
pub fn read_within(dir: &Path, classes: &Classes) -> Result<SourceData> {
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let mut checksums = Vec::new();
    let train = read_pair(dir, "train", classes, &mut checksums)?;
    let test = read_pair(dir, "t10k", classes, &mut checksums)?;
    Ok(SourceData {
        class_names: (0..classes.count).map(|c| c.to_string()).collect(),
        train,
        test,
        checksums,
        ..Default::default()
    })
}

/// Finds `prefix-kind-idxN-ubyte[.gz]` (also the `prefix-kind.idxN-ubyte` spelling).
fn find(dir: &Path, prefix: &str, kind: &str, n: u8) -> Result<PathBuf> {
    let names = [
        format!("{prefix}-{kind}-idx{n}-ubyte"),
        format!("{prefix}-{kind}.idx{n}-ubyte"),
    ];
    for d in [dir.to_path_buf(), dir.join("raw")] {
        for name in &names {
            for cand in [d.join(name), d.join(format!("{name}.gz"))] {
                if cand.is_file() {
                    return Ok(cand);
                }
            }
        }
    }
    let want = dir.join(format!("{}[.gz]", names[0]));
    Err(Error::io(
        want,
        std::io::Error::new(std::io::ErrorKind::NotFound, "IDX file not found"),
    ))
}

/// Whole file content, gunzipped when it starts with the gzip magic; plus the raw CRC-32.
fn load(path: &Path) -> Result<(Vec<u8>, u32)> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let crc = crc32fast::hash(&raw);
    if raw.starts_with(&GZIP_MAGIC) {
        let out = gunzip(&raw).map_err(|e| Error::format(path, format!("bad gzip stream: {e}")))?;
        Ok((out, crc))
    } else {
        Ok((raw, crc))
    }
}

/// The content of every member of a gzip file (several, as `cat a.gz b.gz` makes, are one
/// stream), refusing a truncated member and anything but another member after one.
fn gunzip(mut rest: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if !rest.starts_with(&GZIP_MAGIC) {
            return Err(format!(
                "{} bytes of trailing data after the gzip stream",
                rest.len()
            ));
        }
        let mut member = flate2::bufread::GzDecoder::new(rest);
        member.read_to_end(&mut out).map_err(|e| e.to_string())?;
        rest = member.into_inner();
    }
    Ok(out)
}

/// Checks the header of an unsigned-byte IDX file of `ndims` dimensions and returns the
/// dimensions and the data that follows.
fn header<'a>(path: &Path, b: &'a [u8], ndims: u8) -> Result<(Vec<usize>, &'a [u8])> {
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        let got = b
            .iter()
            .take(4)
            .map(|x| format!("{x:02x}"))
            .collect::<String>();
        return Err(Error::format(
            path,
            format!("bad IDX magic {got:?} (expected 0000 08 {ndims:02x})"),
        ));
    }
    if b[2] != 0x08 {
        return Err(Error::format(
            path,
            format!(
                "IDX element type 0x{:02x} is not unsigned byte (0x08)",
                b[2]
            ),
        ));
    }
    if b[3] != ndims {
        return Err(Error::format(
            path,
            format!("IDX file has {} dimensions, expected {ndims}", b[3]),
        ));
    }
    let hlen = 4 + 4 * ndims as usize;
    if b.len() < hlen {
        return Err(Error::format(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndims as usize)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let need: usize = dims.iter().product();
    let data = &b[hlen..];
    if data.len() != need {
        return Err(Error::format(
            path,
            format!(
                "IDX dimensions {dims:?} need {need} bytes of data, the file has {}",
                data.len()
            ),
        ));
    }
    Ok((dims, data))
}

fn read_pair(
    dir: &Path,
    prefix: &str,
    classes: &Classes,
    checksums: &mut Vec<(String, String)>,
) -> Result<Vec<Sample>> {
    let ipath = find(dir, prefix, "images", 3)?;
    let lpath = find(dir, prefix, "labels", 1)?;
    let (ibytes, icrc) = load(&ipath)?;
    let (lbytes, lcrc) = load(&lpath)?;
    let (idims, pixels) = header(&ipath, &ibytes, 3)?;
    let (ldims, labels) = header(&lpath, &lbytes, 1)?;
    if idims[0] != ldims[0] {
        return Err(Error::format(
            &lpath,
            format!(
                "{} labels for {} images in {}",
                ldims[0],
                idims[0],
                ipath.display()
            ),
        ));
    }
    let (h, w) = (idims[1], idims[2]);
    if h == 0 || w == 0 {
        return Err(Error::format(&ipath, format!("empty image size {h}x{w}")));
    }
    check_labels(&lpath, labels, classes)?;
    for (p, c) in [(&ipath, icrc), (&lpath, lcrc)] {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        checksums.push((name, format!("{c:08x}")));
    }
    Ok(pixels
        .chunks_exact(h * w)
        .zip(labels)
        .map(|(px, &l)| Sample {
            label: l as u32,
            pixels: Pixels::Raw {
                height: h as u32,
                width: w as u32,
                channels: 1,
                data: px.to_vec(),
            },
        })
        .collect())
}

/// Fails on the first label (items counted from 0) that is not one of `classes`.
fn check_labels(path: &Path, labels: &[u8], classes: &Classes) -> Result<()> {
    match labels.iter().position(|&l| !classes.contains(l as u64)) {
        None => Ok(()),
        Some(i) => Err(Error::format(
            path,
            format!(
                "label {} of item {i} is outside {}",
                labels[i],
                classes.describe()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    const FASHION: &str = "/usr/share/datasets/fashion-mnist";

    #[test]
    fn reads_real_fashion_mnist() {
        let d = read(Path::new(FASHION)).unwrap();
        assert_eq!((d.train.len(), d.test.len()), (60_000, 10_000));
        assert_eq!(
            d.class_names,
            (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
        );
        let mut counts = [0usize; 10];
        for s in &d.train {
            counts[s.label as usize] += 1;
        }
        assert_eq!(counts, [6000; 10]);
        let mut counts = [0usize; 10];
        for s in &d.test {
            counts[s.label as usize] += 1;
        }
        assert_eq!(counts, [1000; 10]);
        // The first training image is an ankle boot (9) with dark borders.
        assert_eq!(d.train[0].label, 9);
        let Pixels::Raw {
            height: 28,
            width: 28,
            channels: 1,
            data,
        } = &d.train[0].pixels
        else {
            panic!()
        };
        assert_eq!(data.len(), 784);
        assert_eq!(data[0], 0);
        assert!(data.iter().any(|&p| p > 200));
        assert_eq!(d.checksums.len(), 4);
        assert!(d
            .checksums
            .iter()
            .any(|(n, _)| n == "train-images-idx3-ubyte.gz"));
    }

    fn idx(ndims: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, ndims];
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    /// Two 2x3 training images and one test image, plain or gzipped.
    fn write_tree(dir: &Path, gzip: bool) {
        let files = [
            (
                "train-images-idx3-ubyte",
                idx(3, &[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
            ),
            ("train-labels-idx1-ubyte", idx(1, &[2], &[4, 7])),
            (
                "t10k-images-idx3-ubyte",
                idx(3, &[1, 2, 3], &[0, 0, 0, 255, 255, 255]),
            ),
            ("t10k-labels-idx1-ubyte", idx(1, &[1], &[2])),
        ];
        for (name, bytes) in files {
            if gzip {
                std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }

    #[test]
    fn plain_and_gzip_files() {
        for gzip in [false, true] {
            let t = tempfile::tempdir().unwrap();
            write_tree(t.path(), gzip);
            let d = read(t.path()).unwrap();
            assert_eq!(d.train.len(), 2);
            assert_eq!(d.train[1].label, 7);
            assert_eq!(
                d.train[1].pixels,
                Pixels::Raw {
                    height: 2,
                    width: 3,
                    channels: 1,
                    data: vec![7, 8, 9, 10, 11, 12]
                }
            );
            assert_eq!(d.test[0].label, 2);
            assert_eq!(d.class_names.len(), 10);
        }
    }

    #[test]
    fn bad_files_are_named_errors() {
        let t = tempfile::tempdir().unwrap();
        write_tree(t.path(), false);
        // Reading the tree fails with a message holding every needle.
        let refused = |needles: &[&str]| {
            let e = read(t.path()).unwrap_err().to_string();
            assert!(needles.iter().all(|n| e.contains(n)), "{e}");
        };
        let f = t.path().join("train-images-idx3-ubyte");
        let mut b = std::fs::read(&f).unwrap();
        b[2] = 0x0d; // float elements
        std::fs::write(&f, &b).unwrap();
        refused(&["train-images-idx3-ubyte", "not unsigned byte"]);
        b[2] = 8;
        b[0] = 0x1a;
        std::fs::write(&f, &b).unwrap();
        refused(&["train-images-idx3-ubyte", "bad IDX magic"]);
        b[0] = 0;
        b.pop();
        std::fs::write(&f, &b).unwrap();
        refused(&["need 12 bytes of data, the file has 11"]);
        b.push(0);
        std::fs::write(&f, &b).unwrap();
        std::fs::write(
            t.path().join("t10k-labels-idx1-ubyte"),
            idx(1, &[2], &[1, 2]),
        )
        .unwrap();
        refused(&["t10k-labels-idx1-ubyte", "2 labels for 1 images"]);
        std::fs::remove_file(t.path().join("t10k-labels-idx1-ubyte")).unwrap();
        refused(&["t10k-labels-idx1-ubyte", "not found"]);
        // A corrupt gzip stream.
        std::fs::write(
            t.path().join("t10k-labels-idx1-ubyte.gz"),
            [0x1f, 0x8b, 8, 0, 1, 2],
        )
        .unwrap();
        refused(&["t10k-labels-idx1-ubyte.gz", "gzip"]);
    }

    #[test]
    fn labels_must_be_among_the_declared_classes() {
        let t = tempfile::tempdir().unwrap();
        write_tree(t.path(), true);
        let eight = Classes::new(8, "of test-set");
        let d = read_within(t.path(), &eight).unwrap();
        assert_eq!(d.class_names.len(), 8);
        // Label 7 is the largest in the tree: seven classes are too few.
        let e = read_within(t.path(), &Classes::new(7, "of seven"))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(
                "train-labels-idx1-ubyte.gz: label 7 of item 1 is outside the 7 classes of seven"
            ),
            "{e}"
        );
        std::fs::write(
            t.path().join("t10k-labels-idx1-ubyte.gz"),
            gz(&idx(1, &[1], &[255])),
        )
        .unwrap();
        let e = read(t.path()).unwrap_err().to_string();
        assert!(
            e.contains("t10k-labels-idx1-ubyte.gz: label 255 of item 0 is outside the 10 classes"),
            "{e}"
        );
    }

    #[test]
    fn gzip_members_trailing_data_and_truncation() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(gunzip(&gz(&data)).unwrap(), data);
        // Several members are one stream.
        let multi = [gz(&data[..10]), gz(&data[10..4000]), gz(&data[4000..])].concat();
        assert_eq!(gunzip(&multi).unwrap(), data);
        // Anything else after a member is an error.
        for tail in [&b"x"[..], &[0; 512], &[0x1f], b"\x1f\x8bjunkjunkjunk"] {
            let e = gunzip(&[gz(&data), tail.to_vec()].concat()).unwrap_err();
            assert!(
                e.contains("trailing data") || e.contains("header"),
                "{tail:?}: {e}"
            );
        }
        let e = gunzip(&[gz(&data), b"garbage".to_vec()].concat()).unwrap_err();
        assert_eq!(e, "7 bytes of trailing data after the gzip stream");
        // Every truncation, inside the header, the data or the trailer, is an error.
        let whole = gz(&data);
        for n in 2..whole.len() {
            assert!(
                gunzip(&whole[..n]).is_err(),
                "cut at {n} of {}",
                whole.len()
            );
        }
        // A wrong CRC is an error too.
        let mut bad = whole.clone();
        let at = bad.len() - 8;
        bad[at] ^= 1;
        assert!(gunzip(&bad).is_err());
    }
}

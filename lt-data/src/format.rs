//! The split file (`*.ltd`): one split of a dataset, memory-mappable, readable with numpy alone.
//!
//! Layout (all integers little-endian, every section 64-byte aligned):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..8 | magic `b"LTDSPLT\0"` |
//! | 8..12 | version (u32, currently 2) |
//! | 12..16 | kind: 0 = raw uint8 HWC of fixed shape, 1 = encoded image bytes |
//! | 16..24 | number of samples N (u64) |
//! | 24..28 | number of classes K (u32) |
//! | 28..40 | height, width, channels (u32 each; 0 for encoded splits) |
//! | 40..80 | byte positions of offsets, labels, counts, data, then data length (u64 each) |
//! | 80..84 | CRC-32 (zlib polynomial) of the whole file, these four bytes read as zero |
//! | 84..88 | encoding: 0 none, 1 JPEG, 2 PNG |
//! | 88..128 | reserved, zero |
//! | data | the samples, back to back, from byte 128 |
//! | offsets | N+1 u64: sample i is `data[offsets[i]..offsets[i+1]]` |
//! | labels | N u32 |
//! | counts | K u32, samples per class |
//!
//! The data comes first so a writer can stream samples without knowing their number in
//! advance (`--skip-bad` drops samples as it goes); the small index follows.
//!
//! Files are written under a temporary name and renamed once complete, so a file with the
//! final name is always whole; `Reader::open` still checks every size against the file length.
//! The checksum covers the header too (since version 2): a header rewritten to another shape
//! fails `verify`. Version 1 files (checksum of bytes 128.. only) are still read.

use crate::error::{Error, Result};
use memmap2::Mmap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"LTDSPLT\0";
pub const VERSION: u32 = 2;
/// The oldest version this build reads (its checksum does not cover the header).
pub const OLDEST_VERSION: u32 = 1;
/// Where the checksum sits in the header.
const CHECKSUM_AT: usize = 80;
pub const HEADER_LEN: u64 = 128;
const ALIGN: u64 = 64;

/// How samples are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Fixed-shape uint8 pixels, height x width x channels.
    Raw {
        height: u32,
        width: u32,
        channels: u32,
    },
    /// Variable-length encoded images.
    Encoded(Encoding),
}

/// Codec of encoded samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Jpeg,
    Png,
}

impl Layout {
    fn code(self) -> (u32, [u32; 3], u32) {
        match self {
            Layout::Raw {
                height,
                width,
                channels,
            } => (0, [height, width, channels], 0),
            Layout::Encoded(Encoding::Jpeg) => (1, [0; 3], 1),
            Layout::Encoded(Encoding::Png) => (1, [0; 3], 2),
        }
    }
    /// Bytes of one raw sample, `None` for encoded layouts.
    pub fn raw_len(self) -> Option<usize> {
        match self {
            Layout::Raw {
                height,
                width,
                channels,
            } => Some(
                // Saturates: a hostile header's product never wraps to a plausible size.
                (height as usize)
                    .saturating_mul(width as usize)
                    .saturating_mul(channels as usize),
            ),
            Layout::Encoded(_) => None,
        }
    }
}

fn align(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}

struct Positions {
    offsets: u64,
    labels: u64,
    counts: u64,
    data: u64,
}

fn positions(n: u64, data_len: u64) -> Positions {
    let data = HEADER_LEN;
    let offsets = align(data + data_len);
    let labels = align(offsets + 8 * (n + 1));
    let counts = align(labels + 4 * n);
    Positions {
        offsets,
        labels,
        counts,
        data,
    }
}

impl Positions {
    fn end(&self, k: u64) -> u64 {
        self.counts + 4 * k
    }
}

/// The checksum of a whole split file as version 2 stores it: CRC-32 of every byte, the
/// checksum field (bytes 80..84) read as zero. Tools that rewrite a header reseal with it.
pub fn file_checksum(file: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    let at = CHECKSUM_AT.min(file.len());
    h.update(&file[..at]);
    if file.len() >= CHECKSUM_AT + 4 {
        h.update(&[0; 4]);
        h.update(&file[CHECKSUM_AT + 4..]);
    }
    h.finalize()
}

/// Path of the temporary file a writer fills before renaming it to `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Streams samples, in order, into a new split file.
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    file: BufWriter<File>,
    layout: Layout,
    k: u32,
    offsets: Vec<u64>,
    labels: Vec<u32>,
    data_crc: crc32fast::Hasher,
    finished: bool,
}

impl Writer {
    /// Starts a split over `k` classes; it becomes visible under `path` only on `finish`.
    pub fn create(path: &Path, layout: Layout, k: u32) -> Result<Self> {
        let tmp = temp_path(path);
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, f);
        file.seek(SeekFrom::Start(HEADER_LEN))
            .map_err(|e| Error::io(&tmp, e))?;
        Ok(Writer {
            path: path.to_path_buf(),
            tmp,
            file,
            layout,
            k,
            offsets: vec![0],
            labels: Vec::new(),
            data_crc: crc32fast::Hasher::new(),
            finished: false,
        })
    }

    /// Appends one sample.
    pub fn push(&mut self, label: u32, bytes: &[u8]) -> Result<()> {
        if label >= self.k {
            return Err(Error::format(
                &self.path,
                format!("label {label} out of range for {} classes", self.k),
            ));
        }
        if let Some(len) = self.layout.raw_len() {
            if bytes.len() != len {
                return Err(Error::format(
                    &self.path,
                    format!("raw sample of {} bytes, expected {len}", bytes.len()),
                ));
            }
        }
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.tmp, e))?;
        self.data_crc.update(bytes);
        let last = *self.offsets.last().unwrap();
        self.offsets.push(last + bytes.len() as u64);
        self.labels.push(label);
        Ok(())
    }

    /// Samples written so far.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Writes the index sections and header, syncs, and renames into place.
    /// Returns the CRC-32 stored in the header.
    pub fn finish(mut self) -> Result<u32> {
        let n = self.labels.len() as u64;
        let data_len = *self.offsets.last().unwrap();
        let pos = positions(n, data_len);
        let mut counts = vec![0u32; self.k as usize];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        let meta_start = pos.data + data_len;
        let mut meta = vec![0u8; (pos.end(self.k as u64) - meta_start) as usize];
        let mut put = |at: u64, bytes: Vec<u8>| {
            let at = (at - meta_start) as usize;
            meta[at..at + bytes.len()].copy_from_slice(&bytes);
        };
        put(
            pos.offsets,
            self.offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
        );
        put(
            pos.labels,
            self.labels.iter().flat_map(|o| o.to_le_bytes()).collect(),
        );
        put(
            pos.counts,
            counts.iter().flat_map(|o| o.to_le_bytes()).collect(),
        );
        let mut body = self.data_crc.clone();
        body.update(&meta);
        let mut header = self.header(n, &pos, data_len);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.combine(&body);
        let checksum = crc.finalize();
        header[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&checksum.to_le_bytes());

        let tmp = self.tmp.clone();
        let io = |e| Error::io(&tmp, e);
        self.file.write_all(&meta).map_err(io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(&header).map_err(io)?;
        self.file.flush().map_err(io)?;
        self.file.get_ref().sync_all().map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        self.finished = true;
        Ok(checksum)
    }
}

impl Writer {
    /// The 128-byte header, its checksum field zero.
    fn header(&self, n: u64, pos: &Positions, data_len: u64) -> Vec<u8> {
        let (kind, shape, encoding) = self.layout.code();
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&kind.to_le_bytes());
        header.extend_from_slice(&n.to_le_bytes());
        header.extend_from_slice(&self.k.to_le_bytes());
        for s in shape {
            header.extend_from_slice(&s.to_le_bytes());
        }
        for p in [pos.offsets, pos.labels, pos.counts, pos.data, data_len] {
            header.extend_from_slice(&p.to_le_bytes());
        }
        header.extend_from_slice(&[0; 4]);
        header.extend_from_slice(&encoding.to_le_bytes());
        header.resize(HEADER_LEN as usize, 0);
        header
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A memory-mapped split file. Pixel bytes are never copied out of the map.
pub struct Reader {
    path: PathBuf,
    map: Mmap,
    layout: Layout,
    num_classes: u32,
    offsets: Vec<u64>,
    labels: Vec<u32>,
    counts: Vec<u32>,
    data_pos: usize,
    checksum: u32,
    version: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The fixed 128-byte header of a split file, its fields checked one by one.
struct Header {
    version: u32,
    layout: Layout,
    /// Height, width and channels as stored (zero for encoded splits).
    shape: (u32, u32, u32),
    /// Samples.
    n: u64,
    /// Classes.
    k: u32,
    /// Positions of offsets, labels, counts and data as stored.
    stored: [u64; 4],
    data_len: u64,
    checksum: u32,
}

impl Header {
    /// Reads the header of `map`; errors name `path`.
    fn parse(path: &Path, map: &[u8]) -> Result<Self> {
        let bad = |msg: String| Error::format(path, msg);
        let len = map.len() as u64;
        if len < HEADER_LEN {
            return Err(bad(format!(
                "truncated: {len} bytes, shorter than the {HEADER_LEN}-byte header"
            )));
        }
        if &map[0..8] != MAGIC {
            return Err(bad("not a split file (bad magic)".into()));
        }
        let version = u32_at(map, 8);
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(bad(format!(
                "unsupported format version {version} (this build reads {OLDEST_VERSION} to {VERSION})"
            )));
        }
        let (kind, encoding) = (u32_at(map, 12), u32_at(map, 84));
        let (h, w, c) = (u32_at(map, 28), u32_at(map, 32), u32_at(map, 36));
        let layout = match (kind, encoding) {
            (0, 0) => Layout::Raw {
                height: h,
                width: w,
                channels: c,
            },
            (1, 1) => Layout::Encoded(Encoding::Jpeg),
            (1, 2) => Layout::Encoded(Encoding::Png),
            _ => {
                return Err(bad(format!(
                    "unknown sample kind {kind} / encoding {encoding}"
                )))
            }
        };
        if matches!(layout, Layout::Encoded(_)) && (h, w, c) != (0, 0, 0) {
            return Err(bad(format!(
                "encoded split with a raw shape {h}x{w}x{c} in its header"
            )));
        }
        if map[88..HEADER_LEN as usize].iter().any(|&b| b != 0) {
            return Err(bad("reserved header bytes 88..128 are not zero".into()));
        }
        Ok(Header {
            version,
            layout,
            shape: (h, w, c),
            n: u64_at(map, 16),
            k: u32_at(map, 24),
            stored: [40, 48, 56, 64].map(|at| u64_at(map, at)),
            data_len: u64_at(map, 72),
            checksum: u32_at(map, 80),
        })
    }

    /// The sections' positions, checked against the stored ones and the file length `len`.
    fn positions(&self, path: &Path, len: u64) -> Result<Positions> {
        let bad = |msg: String| Error::format(path, msg);
        let (n, k, data_len) = (self.n, self.k, self.data_len);
        if k == 0 || n > len || k as u64 > len {
            return Err(bad(format!("implausible header: {n} samples, {k} classes")));
        }
        if data_len > len {
            return Err(bad(format!(
                "truncated: data section of {data_len} bytes, file has {len}"
            )));
        }
        let pos = positions(n, data_len);
        if self.stored != [pos.offsets, pos.labels, pos.counts, pos.data] {
            return Err(bad(
                "section positions do not match the sample and class counts".into(),
            ));
        }
        let end = pos.end(k as u64);
        if end != len {
            return Err(bad(format!(
                "truncated or padded: header promises {end} bytes, file has {len}"
            )));
        }
        Ok(pos)
    }
}

/// The index sections of a split file: sample offsets, labels and class counts.
struct Index {
    offsets: Vec<u64>,
    labels: Vec<u32>,
    counts: Vec<u32>,
}

impl Index {
    /// Reads the index at `pos` and checks it against the header: increasing offsets within
    /// the data, raw samples of one size, labels in range and matching the counts.
    fn read(path: &Path, map: &[u8], header: &Header, pos: &Positions) -> Result<Self> {
        let bad = |msg: String| Error::format(path, msg);
        let (n_us, k, data_len) = (header.n as usize, header.k, header.data_len);
        let offsets: Vec<u64> = (0..=n_us)
            .map(|i| u64_at(map, (pos.offsets as usize) + 8 * i))
            .collect();
        let labels: Vec<u32> = (0..n_us)
            .map(|i| u32_at(map, (pos.labels as usize) + 4 * i))
            .collect();
        let counts: Vec<u32> = (0..k as usize)
            .map(|i| u32_at(map, (pos.counts as usize) + 4 * i))
            .collect();
        if offsets[0] != 0 || offsets[n_us] != data_len || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad(
                "sample offsets are not increasing within the data section".into(),
            ));
        }
        if let Some(raw) = header.layout.raw_len() {
            let (h, w, c) = header.shape;
            if raw == 0 || offsets.windows(2).any(|w| w[1] - w[0] != raw as u64) {
                return Err(bad(format!(
                    "raw samples must all be {raw} bytes ({h}x{w}x{c})"
                )));
            }
        }
        let mut tally = vec![0u32; k as usize];
        for (i, &l) in labels.iter().enumerate() {
            if l >= k {
                return Err(bad(format!(
                    "label {l} of sample {i} out of range for {k} classes"
                )));
            }
            tally[l as usize] += 1;
        }
        if tally != counts {
            return Err(bad("class counts do not match the labels".into()));
        }
        Ok(Index {
            offsets,
            labels,
            counts,
        })
    }
}

impl Reader {
    /// Maps `path` and checks its header and index against the file length.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: split files are immutable once renamed into place; nobody writes to them.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let header = Header::parse(path, &map)?;
        let pos = header.positions(path, map.len() as u64)?;
        let index = Index::read(path, &map, &header, &pos)?;
        Ok(Reader {
            path: path.to_path_buf(),
            map,
            layout: header.layout,
            num_classes: header.k,
            offsets: index.offsets,
            labels: index.labels,
            counts: index.counts,
            data_pos: pos.data as usize,
            checksum: header.checksum,
            version: header.version,
        })
    }

    /// Recomputes the CRC-32 of the file (version 1: of the body only) and compares it with
    /// the header.
    pub fn verify_checksum(&self) -> Result<()> {
        let got = if self.version == 1 {
            crc32fast::hash(&self.map[HEADER_LEN as usize..])
        } else {
            file_checksum(&self.map)
        };
        if got != self.checksum {
            return Err(Error::format(
                &self.path,
                format!(
                    "checksum mismatch: header {:08x}, data {got:08x} (file corrupted)",
                    self.checksum
                ),
            ));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn num_classes(&self) -> usize {
        self.num_classes as usize
    }
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }
    pub fn checksum(&self) -> u32 {
        self.checksum
    }
    /// Bytes of sample `i`: raw pixels or an encoded image, borrowed from the map.
    pub fn sample(&self, i: usize) -> &[u8] {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        &self.map[self.data_pos + a..self.data_pos + b]
    }
    /// The whole data section (for raw splits, an N x H x W x C array).
    pub fn data(&self) -> &[u8] {
        &self.map[self.data_pos..self.data_pos + *self.offsets.last().unwrap() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_small(dir: &Path) -> PathBuf {
        let p = dir.join("s.ltd");
        let mut w = Writer::create(
            &p,
            Layout::Raw {
                height: 2,
                width: 2,
                channels: 1,
            },
            2,
        )
        .unwrap();
        w.push(0, &[1, 2, 3, 4]).unwrap();
        w.push(1, &[5, 6, 7, 8]).unwrap();
        w.push(1, &[9, 10, 11, 12]).unwrap();
        w.finish().unwrap();
        p
    }

    #[test]
    fn round_trip_and_checksum() {
        let d = tempfile::tempdir().unwrap();
        let p = write_small(d.path());
        let r = Reader::open(&p).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r.counts(), &[1, 2]);
        assert_eq!(r.sample(2), &[9, 10, 11, 12]);
        r.verify_checksum().unwrap();
        assert!(!temp_path(&p).exists());
    }

    #[test]
    fn corrupt_and_truncated_files_are_rejected() {
        let d = tempfile::tempdir().unwrap();
        let p = write_small(d.path());
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[HEADER_LEN as usize + 5] ^= 0xff; // a pixel byte
        std::fs::write(&p, &bytes).unwrap();
        let err = Reader::open(&p)
            .unwrap()
            .verify_checksum()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("checksum mismatch") && err.contains("s.ltd"),
            "{err}"
        );
        // Each write of `bytes` must make `Reader::open` fail with a message naming `what`.
        let refused = |bytes: &[u8], what: &str| {
            std::fs::write(&p, bytes).unwrap();
            let err = Reader::open(&p).err().unwrap().to_string();
            assert!(err.contains(what), "{err}");
        };
        refused(&bytes[..bytes.len() - 2], "truncated");
        bytes[0] = b'X';
        refused(&bytes, "bad magic");
        bytes[0] = b'L';
        bytes[8] = 9;
        refused(&bytes, "version 9");
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.ltd");
        let mut w = Writer::create(&p, Layout::Encoded(Encoding::Jpeg), 2).unwrap();
        w.push(0, b"abc").unwrap();
        assert!(w.push(5, b"abc").is_err());
        drop(w);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}

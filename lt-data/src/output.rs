//! The output directory of a build. Before anything is replaced the directory is recognised
//! (empty, a dataset lt-data wrote, or something else, which is never touched without
//! `--force`); builds into one path are serialised by a lock; the new dataset is written in a
//! hidden staging sibling and swapped in so that, at every instant, the path holds either the
//! whole old dataset or the whole new one; what a killed build left behind is rolled forward or
//! back, and removed, by the next build into the same path.
//!
//! Names beside `DIR` (all hidden, all in DIR's parent):
//! - `.DIR.lock`: the lock file (an advisory `flock`, released by the kernel when the holder
//!   dies; it holds the holder's pid and is removed when the build ends);
//! - `.DIR.partial-PID`: the staging directory of build PID;
//! - `.DIR.old-PID`: the old dataset during a commit on a file system without an atomic swap.
//!
//! Test hooks (environment variables, read at the commit): `LT_DATA_TEST_CRASH_AT=POINT` kills
//! the process with SIGKILL at that point of the commit (see [`CRASH_POINTS`]);
//! `LT_DATA_TEST_NO_EXCHANGE=1` commits with two renames, as on file systems without
//! `renameat2(RENAME_EXCHANGE)`.

use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The points of a commit at which `LT_DATA_TEST_CRASH_AT` can kill the build, in order.
pub const CRASH_POINTS: [&str; 7] = [
    "staged",      // the staging directory holds the whole new dataset
    "exchange",    // just before the swap (or the first rename)
    "exchanged",   // the swap is done; the old dataset sits in the staging path
    "removing",    // the old dataset half removed
    "renamed-old", // two-rename commit: DIR moved to .DIR.old-PID, DIR missing
    "renamed-new", // two-rename commit: the new dataset in DIR, the old one beside it
    "done",        // everything removed
];

/// What an existing output path holds.
#[derive(Debug, PartialEq)]
enum Holds {
    Nothing,
    Dataset,
    File,
    /// Names of up to three entries lt-data did not write.
    Foreign(Vec<String>),
}

/// (pid, path) of directories builds left beside the output.
type Leftovers = Vec<(u32, PathBuf)>;

/// An output path being written: locked, with its staging directory.
pub struct Output {
    out: PathBuf,
    parent: PathBuf,
    name: OsString,
    staging: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    /// `--force` replaces a directory that may hold anything.
    forced: bool,
    committed: bool,
    /// What was done to earlier builds' leftovers, one sentence each.
    pub notes: Vec<String>,
}

impl Output {
    /// Locks `out`, recovers what an interrupted build left, checks that `out` may be replaced
    /// and creates the staging directory.
    pub fn prepare(out: &Path, force: bool) -> Result<Output> {
        let name = out
            .file_name()
            .filter(|n| *n != OsStr::new(".."))
            .ok_or_else(|| Error::invalid(format!("{}: not a directory name", out.display())))?
            .to_os_string();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let lock_path = sibling(&parent, &name, "lock", None);
        let lock = lock(&lock_path, out)?;
        let mut o = Output {
            out: out.to_path_buf(),
            lock_path,
            staging: sibling(&parent, &name, "partial", Some(std::process::id())),
            parent,
            name,
            _lock: lock,
            forced: false,
            committed: false,
            notes: Vec::new(),
        };
        o.recover()?;
        o.check_replaceable(force)?;
        std::fs::create_dir(&o.staging).map_err(|e| Error::io(&o.staging, e))?;
        Ok(o)
    }

    /// Where the new dataset is written.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Puts the staged dataset in place of `out`: one atomic swap where the file system has
    /// one, else two renames that the next build completes if this one is killed in between.
    pub fn commit(mut self) -> Result<()> {
        sync_dir(&self.staging)?;
        crash_point("staged");
        crash_point("exchange");
        if !self.out.exists() {
            rename(&self.staging, &self.out)?;
        } else if exchange_supported() && exchange(&self.staging, &self.out)? {
            crash_point("exchanged");
            sync_dir(&self.parent)?;
            self.remove_replaced(&self.staging)?;
        } else {
            let old = sibling(&self.parent, &self.name, "old", Some(std::process::id()));
            rename(&self.out, &old)?;
            crash_point("renamed-old");
            rename(&self.staging, &self.out)?;
            crash_point("renamed-new");
            sync_dir(&self.parent)?;
            self.remove_replaced(&old)?;
        }
        sync_dir(&self.parent)?;
        crash_point("done");
        self.committed = true;
        Ok(())
    }

    /// Removes what `out` held before the commit: an old dataset, or anything under `--force`.
    fn remove_replaced(&self, dir: &Path) -> Result<()> {
        if self.forced && dir.is_dir() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
        } else if self.forced {
            std::fs::remove_file(dir).map_err(|e| Error::io(dir, e))
        } else {
            remove_ours(dir)
        }
    }

    /// Leftovers of killed builds into this path: a two-rename commit cut between its renames
    /// is completed (the new dataset is whole) or undone; staging directories are removed.
    fn recover(&mut self) -> Result<()> {
        let (partials, olds) = self.leftovers()?;
        if !self.out.exists() {
            if let Some((pid, old)) = olds.first() {
                let staged = sibling(&self.parent, &self.name, "partial", Some(*pid));
                if staged.is_dir() && Manifest::load(&staged).is_ok() {
                    rename(&staged, &self.out)?;
                    self.note(format!(
                        "completed the commit of build {pid}, killed between its renames: {} holds its new dataset",
                        self.out.display()
                    ));
                } else {
                    rename(old, &self.out)?;
                    self.note(format!(
                        "undid the commit of build {pid}, killed between its renames: {} holds the old dataset again",
                        self.out.display()
                    ));
                }
            }
        }
        for (pid, dir) in olds.iter().chain(&partials) {
            if !dir.exists() {
                continue; // moved into place above
            }
            if holds_only_ours(dir)? {
                remove_ours(dir)?;
                self.note(format!(
                    "removed {}, left by build {pid} that did not finish",
                    dir.display()
                ));
            } else {
                self.note(format!(
                    "left {} alone: it holds files lt-data did not write",
                    dir.display()
                ));
            }
        }
        Ok(())
    }

    /// (pid, path) of the staging and old directories beside `out`, oldest pid first.
    fn leftovers(&self) -> Result<(Leftovers, Leftovers)> {
        let (mut partials, mut olds) = (Vec::new(), Vec::new());
        let rd = std::fs::read_dir(&self.parent).map_err(|e| Error::io(&self.parent, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.parent, e))?;
            let file = entry.file_name();
            for (kind, list) in [("partial", &mut partials), ("old", &mut olds)] {
                if let Some(pid) = leftover_pid(&file, &self.name, kind) {
                    if pid != std::process::id() && entry.path().is_dir() {
                        list.push((pid, entry.path()));
                    }
                }
            }
        }
        partials.sort();
        olds.sort();
        Ok((partials, olds))
    }

    fn check_replaceable(&mut self, force: bool) -> Result<()> {
        match (holds(&self.out)?, force) {
            (Holds::Nothing | Holds::Dataset, _) => Ok(()),
            (Holds::File, false) => Err(Error::invalid(format!(
                "{}: is a file, not a directory; choose another --out",
                self.out.display()
            ))),
            (Holds::Foreign(names), false) => Err(Error::invalid(format!(
                "{}: exists and is not a dataset lt-data wrote (it holds {}); choose another --out, or pass --force to replace it and everything in it",
                self.out.display(),
                names.join(", ")
            ))),
            (Holds::File | Holds::Foreign(_), true) => {
                self.forced = true;
                self.note(format!(
                    "--force: replacing {}, which held files lt-data did not write",
                    self.out.display()
                ));
                Ok(())
            }
        }
    }

    fn note(&mut self, s: String) {
        self.notes.push(s);
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed && self.staging.exists() {
            let _ = remove_ours(&self.staging);
        }
        // Unlinked while still held: a build waiting on this file retries on a new one.
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// `parent/.NAME.KIND` or `parent/.NAME.KIND-PID`.
fn sibling(parent: &Path, name: &OsStr, kind: &str, pid: Option<u32>) -> PathBuf {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(format!(".{kind}"));
    if let Some(pid) = pid {
        s.push(format!("-{pid}"));
    }
    parent.join(s)
}

/// The pid of a `.NAME.KIND-PID` file name.
fn leftover_pid(file: &OsStr, name: &OsStr, kind: &str) -> Option<u32> {
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(name.as_bytes());
    prefix.extend_from_slice(format!(".{kind}-").as_bytes());
    let rest = file.as_bytes().strip_prefix(prefix.as_slice())?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

/// Takes the build lock of `out`, or says which build holds it. The lock file is removed by
/// its holder (see `Drop`), so a lock taken on a file that was unlinked meanwhile is retried.
fn lock(path: &Path, out: &Path) -> Result<File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::io(path, err));
            }
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            return Err(Error::invalid(format!(
                "{}: another lt-data build (pid {}) is writing it; wait for it to finish or choose another --out",
                out.display(),
                holder.trim()
            )));
        }
        let same = match (f.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if same {
            f.set_len(0).map_err(|e| Error::io(path, e))?;
            std::io::Write::write_all(&mut &f, std::process::id().to_string().as_bytes())
                .map_err(|e| Error::io(path, e))?;
            return Ok(f);
        }
    }
}

/// Recognises an existing output path.
fn holds(out: &Path) -> Result<Holds> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Holds::Nothing),
        Err(e) => return Err(Error::io(out, e)),
    };
    if !meta.is_dir() {
        return Ok(Holds::File);
    }
    let entries = entry_names(out)?;
    if entries.is_empty() {
        return Ok(Holds::Nothing);
    }
    let Ok(m) = Manifest::load(out) else {
        return Ok(Holds::Foreign(first_three(entries)));
    };
    if !m.created_by.starts_with("lt-data") {
        return Ok(Holds::Foreign(vec![format!(
            "a {} not written by lt-data",
            manifest::FILE
        )]));
    }
    let mut ours: Vec<&str> = m.splits.values().map(|s| s.file.as_str()).collect();
    if !m.missing_skipped.is_empty() {
        ours.push(crate::missing::FILE);
    }
    let foreign: Vec<String> = entries
        .into_iter()
        .filter(|n| n != manifest::FILE && !ours.contains(&n.as_str()))
        .collect();
    Ok(if foreign.is_empty() {
        Holds::Dataset
    } else {
        Holds::Foreign(first_three(foreign))
    })
}

fn first_three(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    let more = names.len().saturating_sub(3);
    names.truncate(3);
    if more > 0 {
        names.push(format!("{more} more"));
    }
    names
}

/// Entry names of a directory, sub-directories marked with a trailing `/`.
fn entry_names(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let mut n = e.file_name().to_string_lossy().into_owned();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            n.push('/');
        }
        out.push(n);
    }
    Ok(out)
}

/// Whether a staging or old directory holds only what a build writes there: the manifest,
/// split files, the missing-image report and their temporary files.
fn holds_only_ours(dir: &Path) -> Result<bool> {
    Ok(entry_names(dir)?.iter().all(|n| {
        let base = n.split_once(".ltd").map_or(n.as_str(), |(b, _)| b);
        let plain = !base.is_empty()
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let ours_tmp = |file: &str| n.starts_with(&format!("{file}.")) && n.ends_with(".tmp");
        (plain && (n.ends_with(".ltd") || n.ends_with(".tmp")))
            || [manifest::FILE, crate::missing::FILE]
                .iter()
                .any(|f| n == f || ours_tmp(f))
    }))
}

/// Removes a directory of ours: its files one by one, then the directory.
fn remove_ours(dir: &Path) -> Result<()> {
    let mut first = true;
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        if std::mem::take(&mut first) {
            crash_point("removing");
        }
    }
    std::fs::remove_dir(dir).map_err(|e| Error::io(dir, e))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        Error::invalid(format!(
            "{}: cannot rename to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn exchange_supported() -> bool {
    std::env::var_os("LT_DATA_TEST_NO_EXCHANGE").is_none()
}

/// Swaps two paths atomically (`renameat2(RENAME_EXCHANGE)`); `false` where the file system
/// cannot, so the caller falls back to two renames.
fn exchange(a: &Path, b: &Path) -> Result<bool> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).expect("no NUL in path");
    let (ca, cb) = (c(a), c(b));
    // SAFETY: two NUL-terminated paths relative to the working directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
        _ => Err(Error::io(b, err)),
    }
}

/// Makes the renames inside `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// The test hook: dies as `kill -9` would when `LT_DATA_TEST_CRASH_AT` names `point`.
fn crash_point(point: &str) {
    if std::env::var_os("LT_DATA_TEST_CRASH_AT").is_some_and(|v| v == point) {
        // SAFETY: signalling our own process.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names_round_trip() {
        let p = sibling(Path::new("/d"), OsStr::new("c10"), "partial", Some(42));
        assert_eq!(p, Path::new("/d/.c10.partial-42"));
        let f = p.file_name().unwrap();
        assert_eq!(leftover_pid(f, OsStr::new("c10"), "partial"), Some(42));
        assert_eq!(leftover_pid(f, OsStr::new("c1"), "partial"), None);
        assert_eq!(leftover_pid(f, OsStr::new("c10"), "old"), None);
        assert_eq!(
            leftover_pid(OsStr::new(".c10.partial-4x"), OsStr::new("c10"), "partial"),
            None
        );
    }

    #[test]
    fn recognises_what_a_path_holds() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("x");
        assert_eq!(holds(&d).unwrap(), Holds::Nothing);
        std::fs::create_dir(&d).unwrap();
        assert_eq!(holds(&d).unwrap(), Holds::Nothing);
        std::fs::write(d.join("manifest.json"), "{\"format\": 1}").unwrap();
        std::fs::create_dir(d.join("src")).unwrap();
        assert_eq!(
            holds(&d).unwrap(),
            Holds::Foreign(vec!["manifest.json".into(), "src/".into()])
        );
        let f = t.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(holds(&f).unwrap(), Holds::File);
    }

    #[test]
    fn only_build_files_count_as_ours() {
        let t = tempfile::tempdir().unwrap();
        crate::testutil::write_files(
            t.path(),
            &[
                "train.ltd",
                "test.ltd.77.tmp",
                "manifest.json",
                "manifest.json.77.tmp",
                "missing.txt",
                "missing.txt.77.tmp",
            ],
            b"",
        );
        assert!(holds_only_ours(t.path()).unwrap());
        std::fs::write(t.path().join("notes.txt"), "").unwrap();
        assert!(!holds_only_ours(t.path()).unwrap());
    }
}

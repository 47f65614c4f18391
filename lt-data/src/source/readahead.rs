//! Reading ahead: the builder asks the kernel to start reading a source file a few images
//! before a worker needs it (`posix_fadvise(WILLNEED)`, which returns at once), so a file not
//! in the page cache arrives while the cores decode earlier ones instead of stalling a worker.
//! A hint only: errors are ignored (the read that follows reports them), and elsewhere than
//! Linux it does nothing.

use std::path::Path;

/// How many images ahead of the one a worker starts the builder hints, per worker.
pub const IMAGES_AHEAD_PER_THREAD: usize = 4;

/// Asks the kernel to read `path` into the page cache in the background.
#[cfg(target_os = "linux")]
pub fn hint(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: a valid open descriptor; offset 0 and length 0 mean the whole file. The
        // advice changes no memory of this process.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
    }
}

/// Elsewhere: nothing (the read itself fetches the file).
#[cfg(not(target_os = "linux"))]
pub fn hint(_path: &Path) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// Pages of `file` in the page cache, and its number of pages (mincore over a mapping).
    fn resident(file: &std::fs::File) -> (usize, usize) {
        // SAFETY: the file is not modified while mapped (the test wrote and synced it).
        let map = unsafe { memmap2::Mmap::map(file) }.unwrap();
        let pages = map.len().div_ceil(4096);
        let mut vec = vec![0u8; pages];
        // SAFETY: `map` is a live mapping of map.len() bytes; `vec` has a byte per page.
        let r = unsafe { libc::mincore(map.as_ptr() as *mut _, map.len(), vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore failed");
        (vec.iter().filter(|&&b| b & 1 == 1).count(), pages)
    }

    #[test]
    fn a_hinted_file_is_read_into_the_page_cache() {
        // On disk (tmpfs pages cannot be dropped): under the workspace's target folder.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/readahead-test");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.bin", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![7u8; 4 << 20]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid descriptor; dropping clean cached pages of our own file.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let (before, pages) = resident(&f);
        assert!(
            before < pages / 2,
            "could not evict the file ({before} of {pages} pages stay)"
        );
        hint(&path);
        let start = std::time::Instant::now();
        let mut now = resident(&f).0;
        while now < pages && start.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            now = resident(&f).0;
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            now, pages,
            "{now} of {pages} pages read ahead (from {before})"
        );
        hint(&dir.join("no such file")); // ignored, as the read that follows reports it
    }
}

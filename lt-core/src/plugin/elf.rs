//! The check a plugin file passes before it is handed to `dlopen`.
//!
//! `dlopen` maps a library's segments straight from the file. A segment that reaches past the end
//! of a truncated file is mapped all the same, and the first access to the missing part kills the
//! process with SIGBUS: no message, no error to catch. So the file is checked first: a readable
//! regular file whose ELF header (ELF64, little-endian, parsed by hand, only the fields needed)
//! describes a shared library for this machine, with its program header table, every segment's
//! file range and its section header table inside the file. The section header table comes last
//! in the files linkers write, so a file cut anywhere fails that test at least. All offset
//! arithmetic is checked: a hostile header gives an error, never an overflow.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Why a file was rejected; the text is the reason part of a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not a readable regular file, or a damaged one: cut short, or offsets that overflow.
    File(String),
    /// A complete file, but not a shared library this host can load.
    Format(String),
}

const MAGIC: [u8; 4] = *b"\x7fELF";
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u16 = 56;
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const ET_DYN: u16 = 3;
const PT_NULL: u32 = 0;
const PT_LOAD: u32 = 1;

/// The ELF `e_machine` of this build; `None` (an unlisted architecture) skips the check.
#[cfg(target_arch = "x86_64")]
const HOST_MACHINE: Option<u16> = Some(62);
#[cfg(target_arch = "aarch64")]
const HOST_MACHINE: Option<u16> = Some(183);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const HOST_MACHINE: Option<u16> = None;

/// Checks the file at `path` (see the module docs).
pub(crate) fn check_file(path: &Path) -> Result<(), Rejection> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Rejection::File(if path.symlink_metadata().is_ok() {
                "no such file (broken symbolic link)".to_string()
            } else {
                "no such file".to_string()
            }));
        }
        Err(e) => return Err(unreadable(e)),
    };
    if meta.is_dir() {
        return Err(Rejection::File(
            "is a directory, not a plugin library".to_string(),
        ));
    }
    if !meta.is_file() {
        return Err(Rejection::File(
            "not a regular file, not a plugin library".to_string(),
        ));
    }
    let mut f = File::open(path).map_err(unreadable)?;
    let len = f.metadata().map_err(unreadable)?.len();
    check_image(&mut f, len)
}

fn unreadable(e: io::Error) -> Rejection {
    Rejection::File(format!("cannot read: {e}"))
}

fn truncated(what: &str, end: u64, len: u64) -> Rejection {
    Rejection::File(format!(
        "truncated shared library: {what} ends at byte {}, file has {} bytes",
        thousands(end),
        thousands(len)
    ))
}

fn overflow(what: &str, offset: u64, size: u64) -> Rejection {
    Rejection::File(format!(
        "corrupt shared library: {what} at offset {} with size {} ends past the largest file offset",
        thousands(offset),
        thousands(size)
    ))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Checks an image of `len` bytes read from `r` (the file itself, or bytes in memory in tests):
/// the ELF header, then the program headers' segments, then the section header table.
pub(crate) fn check_image<R: Read + Seek>(r: &mut R, len: u64) -> Result<(), Rejection> {
    let h = read_header(r, len)?;
    check_ident(&h)?;
    if h.len() < EHDR_SIZE {
        return Err(truncated("the ELF header", EHDR_SIZE as u64, len));
    }
    check_type_and_machine(&h)?;
    check_segments(r, &h, len)?;
    check_section_table(&h, len)
}

/// The first `EHDR_SIZE` bytes (fewer in a short file), refused unless they start with the ELF
/// magic.
fn read_header<R: Read + Seek>(r: &mut R, len: u64) -> Result<Vec<u8>, Rejection> {
    if len == 0 {
        return Err(Rejection::File(
            "empty file, not a shared library".to_string(),
        ));
    }
    let mut h = Vec::with_capacity(EHDR_SIZE);
    r.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    r.by_ref()
        .take(EHDR_SIZE as u64)
        .read_to_end(&mut h)
        .map_err(unreadable)?;
    let n = h.len().min(MAGIC.len());
    if n == 0 || h[..n] != MAGIC[..n] {
        return Err(Rejection::Format(format!(
            "not an ELF file (it starts with \"{}\")",
            String::from_utf8_lossy(&h[..h.len().min(16)]).escape_debug()
        )));
    }
    Ok(h)
}

/// The class (64-bit) and data encoding (little-endian) bytes of the identification; a header
/// too short to hold them passes here and fails as truncated after.
fn check_ident(h: &[u8]) -> Result<(), Rejection> {
    ident_byte(
        h,
        4,
        ELFCLASS64,
        (ELFCLASS32, "32-bit ELF file, this lt-train is 64-bit"),
        "class",
    )?;
    ident_byte(
        h,
        5,
        ELFDATA2LSB,
        (
            ELFDATA2MSB,
            "big-endian ELF file, this host is little-endian",
        ),
        "data encoding",
    )
}

/// Identification byte `at`: absent or `ok` passes, the known wrong value is refused with its
/// message, any other as `unknown ELF {what} {value}`.
fn ident_byte(h: &[u8], at: usize, ok: u8, wrong: (u8, &str), what: &str) -> Result<(), Rejection> {
    match h.get(at) {
        None => Ok(()),
        Some(&v) if v == ok => Ok(()),
        Some(&v) if v == wrong.0 => Err(Rejection::Format(wrong.1.to_string())),
        Some(v) => Err(Rejection::Format(format!("unknown ELF {what} {v}"))),
    }
}

/// A shared library (`ET_DYN`) built for this host's machine.
fn check_type_and_machine(h: &[u8]) -> Result<(), Rejection> {
    let e_type = u16_at(h, 16);
    if e_type != ET_DYN {
        return Err(Rejection::Format(format!(
            "ELF type {}, not a shared library",
            type_name(e_type)
        )));
    }
    let machine = u16_at(h, 18);
    if let Some(host) = HOST_MACHINE {
        if machine != host {
            return Err(Rejection::Format(format!(
                "built for {} (ELF machine {machine}), this host is {} (ELF machine {host})",
                machine_name(machine),
                machine_name(host)
            )));
        }
    }
    Ok(())
}

/// The program header table: present, of ELF64 entries, inside the file; every segment's bytes
/// inside the file; at least one loadable segment.
fn check_segments<R: Read + Seek>(r: &mut R, h: &[u8], len: u64) -> Result<(), Rejection> {
    let phoff = u64_at(h, 32);
    let (phentsize, phnum) = (u16_at(h, 54), u16_at(h, 56));
    if phnum == 0 {
        return Err(Rejection::Format("no program headers".to_string()));
    }
    if phentsize != PHDR_SIZE {
        return Err(Rejection::File(format!(
            "corrupt shared library: program headers of {phentsize} bytes, ELF64 has {PHDR_SIZE}"
        )));
    }
    // At most 65,535 × 56 bytes: no overflow, and a bounded read.
    let ph_size = u64::from(phnum) * u64::from(phentsize);
    let ph_end = phoff
        .checked_add(ph_size)
        .ok_or_else(|| overflow("the program header table", phoff, ph_size))?;
    if ph_end > len {
        return Err(truncated("the program header table", ph_end, len));
    }
    let mut ph = vec![0u8; ph_size as usize];
    r.seek(SeekFrom::Start(phoff)).map_err(unreadable)?;
    r.read_exact(&mut ph).map_err(unreadable)?;
    let mut loads = 0usize;
    for (i, p) in ph.chunks_exact(usize::from(PHDR_SIZE)).enumerate() {
        let (p_type, offset, filesz) = (u32_at(p, 0), u64_at(p, 8), u64_at(p, 32));
        if p_type == PT_NULL {
            continue; // unused entry; its other fields mean nothing
        }
        if p_type == PT_LOAD {
            loads += 1;
        }
        if filesz == 0 {
            continue; // nothing read from the file (e.g. GNU_STACK, a bss-only segment)
        }
        let what = format!("segment {i}");
        let end = offset
            .checked_add(filesz)
            .ok_or_else(|| overflow(&what, offset, filesz))?;
        if end > len {
            return Err(truncated(&what, end, len));
        }
    }
    if loads == 0 {
        return Err(Rejection::Format("no loadable segments".to_string()));
    }
    Ok(())
}

/// The section header table, when there is one, inside the file.
fn check_section_table(h: &[u8], len: u64) -> Result<(), Rejection> {
    let shoff = u64_at(h, 40);
    let (shentsize, shnum) = (u16_at(h, 58), u16_at(h, 60));
    if shoff != 0 {
        // e_shnum 0 with a table means more than 65,279 sections (count in entry 0): check
        // that entry 0 at least is there.
        let sh_size = u64::from(shnum.max(1)) * u64::from(shentsize);
        let sh_end = shoff
            .checked_add(sh_size)
            .ok_or_else(|| overflow("the section header table", shoff, sh_size))?;
        if sh_end > len {
            return Err(truncated("the section header table", sh_end, len));
        }
    }
    Ok(())
}

fn type_name(t: u16) -> String {
    match t {
        0 => "none (0)".to_string(),
        1 => "relocatable object (1)".to_string(),
        2 => "executable (2)".to_string(),
        4 => "core dump (4)".to_string(),
        t => format!("{t}"),
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "x86",
        8 => "mips",
        20 => "powerpc",
        21 => "powerpc64",
        22 => "s390x",
        40 => "arm",
        62 => "x86_64",
        183 => "aarch64",
        243 => "riscv",
        258 => "loongarch",
        _ => "another machine",
    }
}

/// `5000000` as `5,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;

    /// A real plugin-shaped library: the fixture crate plugins/testdata/no-table, a
    /// dev-dependency of lt-core, which cargo builds into target/<profile>/deps, the directory
    /// of the running test executable.
    fn real_library() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let so = exe.parent().unwrap().join("liblt_testdata_no_table.so");
        assert!(
            so.is_file(),
            "{} missing (run with cargo test)",
            so.display()
        );
        so
    }

    fn real_bytes() -> Vec<u8> {
        std::fs::read(real_library()).unwrap()
    }

    fn check_bytes(b: &[u8]) -> Result<(), Rejection> {
        check_image(&mut Cursor::new(b), b.len() as u64)
    }

    fn file_reason(r: Result<(), Rejection>) -> String {
        match r {
            Err(Rejection::File(s)) => s,
            other => panic!("expected a file problem, got {other:?}"),
        }
    }

    fn format_reason(r: Result<(), Rejection>) -> String {
        match r {
            Err(Rejection::Format(s)) => s,
            other => panic!("expected a format problem, got {other:?}"),
        }
    }

    fn patched(b: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
        let mut v = b.to_vec();
        v[at..at + with.len()].copy_from_slice(with);
        v
    }

    /// Byte offset of the program header of the first PT_LOAD segment.
    fn first_load(b: &[u8]) -> usize {
        let phoff = u64_at(b, 32) as usize;
        (0..usize::from(u16_at(b, 56)))
            .map(|i| phoff + i * 56)
            .find(|&at| u32_at(b, at) == PT_LOAD)
            .unwrap()
    }

    #[test]
    fn real_libraries_pass() {
        assert_eq!(check_file(&real_library()), Ok(()));
        // And a system library this process has mapped.
        if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
            let libc = maps
                .lines()
                .filter_map(|l| l.split_whitespace().nth(5))
                .find(|p| p.rsplit('/').next().unwrap().starts_with("libc.so"))
                .expect("libc mapped");
            assert_eq!(check_file(Path::new(libc)), Ok(()), "{libc}");
        }
    }

    #[test]
    fn every_truncation_is_caught() {
        let b = real_bytes();
        let len = b.len();
        let mut cuts = vec![
            len - 1,
            len - 64,
            len / 2,
            len / 10,
            4096,
            1000,
            64,
            63,
            16,
            4,
            1,
        ];
        cuts.extend((1..200).map(|i| len * i / 200));
        for cut in cuts {
            let reason = file_reason(check_bytes(&b[..cut]));
            assert!(
                reason.starts_with("truncated shared library: ")
                    && reason.ends_with(&format!("file has {} bytes", thousands(cut as u64))),
                "cut at {cut}: {reason}"
            );
        }
        let r = file_reason(check_bytes(&b[..4096]));
        assert!(r.contains("segment 1 ends at byte "), "{r}");
        let r = file_reason(check_bytes(&b[..64]));
        assert!(r.contains("program header table ends at byte "), "{r}");
        let r = file_reason(check_bytes(&b[..40]));
        assert!(r.contains("the ELF header ends at byte 64"), "{r}");
        let r = file_reason(check_bytes(&b[..len - 1]));
        assert!(r.contains("section header table ends at byte "), "{r}");
    }

    #[test]
    fn empty_text_and_directory_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("liblt_plugin_empty.so");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            file_reason(check_file(&empty)),
            "empty file, not a shared library"
        );
        let text = tmp.path().join("liblt_plugin_x.so");
        std::fs::write(&text, "this is not ELF\n").unwrap();
        assert_eq!(
            format_reason(check_file(&text)),
            "not an ELF file (it starts with \"this is not ELF\\n\")"
        );
        assert_eq!(
            file_reason(check_file(tmp.path())),
            "is a directory, not a plugin library"
        );
        assert_eq!(
            file_reason(check_file(&tmp.path().join("absent.so"))),
            "no such file"
        );
        #[cfg(unix)]
        {
            let link = tmp.path().join("liblt_plugin_link.so");
            std::os::unix::fs::symlink(tmp.path().join("gone.so"), &link).unwrap();
            assert!(file_reason(check_file(&link)).contains("broken symbolic link"));
        }
    }

    #[test]
    fn wrong_class_encoding_type_and_machine_are_rejected() {
        let b = real_bytes();
        let r = format_reason(check_bytes(&patched(&b, 4, &[ELFCLASS32])));
        assert!(r.contains("32-bit"), "{r}");
        let r = format_reason(check_bytes(&patched(&b, 4, &[9])));
        assert!(r.contains("unknown ELF class 9"), "{r}");
        let r = format_reason(check_bytes(&patched(&b, 5, &[ELFDATA2MSB])));
        assert!(r.contains("big-endian"), "{r}");
        let r = format_reason(check_bytes(&patched(&b, 16, &2u16.to_le_bytes())));
        assert_eq!(r, "ELF type executable (2), not a shared library");
        if HOST_MACHINE.is_some() {
            let other: u16 = if HOST_MACHINE == Some(62) { 183 } else { 62 };
            let r = format_reason(check_bytes(&patched(&b, 18, &other.to_le_bytes())));
            assert!(r.starts_with("built for "), "{r}");
        }
        let r = format_reason(check_bytes(&patched(&b, 56, &0u16.to_le_bytes())));
        assert_eq!(r, "no program headers");
    }

    #[test]
    fn overflowing_offsets_are_errors_not_panics() {
        let b = real_bytes();
        let max = u64::MAX.to_le_bytes();
        // e_phoff near the top of the address space.
        let r = file_reason(check_bytes(&patched(&b, 32, &(u64::MAX - 8).to_le_bytes())));
        assert!(
            r.contains("program header table") && r.contains("ends past"),
            "{r}"
        );
        // e_shoff likewise.
        let r = file_reason(check_bytes(&patched(&b, 40, &max)));
        assert!(
            r.contains("section header table") && r.contains("ends past"),
            "{r}"
        );
        // A segment's offset + size overflows, and one that is merely huge.
        let load = first_load(&b);
        let r = file_reason(check_bytes(&patched(&b, load + 8, &max)));
        assert!(r.contains("segment ") && r.contains("ends past"), "{r}");
        let r = file_reason(check_bytes(&patched(
            &b,
            load + 32,
            &(u64::MAX / 2).to_le_bytes(),
        )));
        assert!(r.starts_with("truncated shared library: segment "), "{r}");
        // Many program headers, and entries of the wrong size.
        let many = patched(&b, 56, &u16::MAX.to_le_bytes());
        let r = file_reason(check_bytes(&many[..1_000_000]));
        assert_eq!(
            r,
            "truncated shared library: the program header table ends at byte 3,670,024, \
             file has 1,000,000 bytes"
        );
        let r = file_reason(check_bytes(&patched(&b, 54, &0u16.to_le_bytes())));
        assert!(r.contains("program headers of 0 bytes"), "{r}");
        let r = file_reason(check_bytes(&patched(&b, 58, &u16::MAX.to_le_bytes())));
        assert!(r.contains("section header table ends at byte"), "{r}");
    }

    #[test]
    fn numbers_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(5_000_000), "5,000,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}

//! Source files read whole with their CRC-32 recorded, for the manifest's `source_checksums`.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads the whole of `path` and appends `(file name, CRC-32 hex)` to `checksums`.
pub(crate) fn read_recorded(path: &Path, checksums: &mut Vec<(String, String)>) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    checksums.push((name, format!("{:08x}", crc32fast::hash(&bytes))));
    Ok(bytes)
}

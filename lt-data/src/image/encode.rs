//! The builder's JPEG encoder (`csrc/jpeg_encode.c`, libjpeg-turbo's libjpeg API, SIMD): 4:2:0
//! at the given quality, accurate integer DCT, and a restart marker after every MCU so that the
//! loader can decode any rectangle on its own ([`super::restart`]).

use super::error::DecodeError;
use std::os::raw::{c_char, c_int, c_uchar, c_uint, c_ulong};

extern "C" {
    fn lt_jpeg_encode_rgb(
        rgb: *const c_uchar,
        width: c_uint,
        height: c_uint,
        quality: c_int,
        out: *mut *mut c_uchar,
        out_len: *mut c_ulong,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int;
    fn lt_jpeg_free(p: *mut c_uchar);
}

/// The largest side a JPEG frame header can hold that libjpeg accepts.
pub const MAX_SIDE: usize = 65_500;

/// Encodes the RGB image `rgb` (`width` x `height`) as a baseline JPEG of `quality` (1-100),
/// 4:2:0 as PIL's default, with a restart marker after every MCU.
pub fn encode_rgb(
    rgb: &[u8],
    width: usize,
    height: usize,
    quality: u8,
) -> Result<Vec<u8>, DecodeError> {
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(DecodeError::UnsupportedJpeg(format!(
            "{width}x{height}: a JPEG side is 1 to {MAX_SIDE} pixels"
        )));
    }
    if width * height * 3 != rgb.len() {
        return Err(DecodeError::CorruptJpeg(format!(
            "{} bytes for a {width}x{height} RGB image",
            rgb.len()
        )));
    }
    let (mut ptr, mut len): (*mut c_uchar, c_ulong) = (std::ptr::null_mut(), 0);
    let mut msg = [0 as c_char; 200];
    // SAFETY: `rgb` holds width * height * 3 bytes (checked above), which the encoder reads row
    // by row; on success it sets `ptr` to a malloc'd buffer of `len` bytes, freed below once
    // copied; `msg` is a live buffer of its length.
    let status = unsafe {
        lt_jpeg_encode_rgb(
            rgb.as_ptr(),
            width as c_uint,
            height as c_uint,
            c_int::from(quality.clamp(1, 100)),
            &mut ptr,
            &mut len,
            msg.as_mut_ptr(),
            msg.len(),
        )
    };
    if status != 0 || ptr.is_null() {
        // SAFETY: on failure the C side wrote a NUL-terminated message.
        let text = unsafe { std::ffi::CStr::from_ptr(msg.as_ptr()) };
        return Err(DecodeError::CorruptJpeg(format!(
            "JPEG encoding failed: {}",
            text.to_string_lossy()
        )));
    }
    // SAFETY: `ptr` holds `len` initialised bytes, owned by us until lt_jpeg_free.
    let out = unsafe { std::slice::from_raw_parts(ptr, len as usize) }.to_vec();
    // SAFETY: the buffer libjpeg allocated, freed once.
    unsafe { lt_jpeg_free(ptr) };
    Ok(out)
}

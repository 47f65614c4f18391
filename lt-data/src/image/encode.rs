//! The builder's JPEG encoder (`csrc/jpeg_encode.c`, libjpeg-turbo's libjpeg API, SIMD): 4:2:0
//! at the given quality, accurate integer DCT, and a restart marker after every MCU so that the
//! loader can decode any rectangle on its own ([`super::restart`]). From RGB pixels, or from
//! 4:2:0 planes ([`super::yuv`]) without colour conversion or downsampling.

use super::error::DecodeError;
use super::yuv::Yuv;
use std::os::raw::{c_char, c_int, c_uchar, c_uint, c_ulong};

extern "C" {
    fn lt_jpeg_encode(
        planes: *const *const c_uchar,
        strides: *const c_uint,
        raw: c_int,
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
    check_side(width, height)?;
    if width * height * 3 != rgb.len() {
        return Err(DecodeError::CorruptJpeg(format!(
            "{} bytes for a {width}x{height} RGB image",
            rgb.len()
        )));
    }
    let null = std::ptr::null();
    // SAFETY: `rgb` holds height rows of width * 3 bytes (checked above), which the encoder
    // reads row by row.
    unsafe {
        encode(
            [rgb.as_ptr(), null, null],
            [width * 3, 0, 0],
            false,
            (width, height),
            quality,
        )
    }
}

/// Encodes 4:2:0 planes padded to whole MCUs (as [`Yuv::resize_420`] makes them) as
/// [`encode_rgb`] does RGB, reading them as they are: no colour conversion, no downsampling.
pub fn encode_yuv420(img: &Yuv, quality: u8) -> Result<Vec<u8>, DecodeError> {
    let (width, height) = img.size();
    check_side(width, height)?;
    let (pw, ph) = (width.next_multiple_of(16), height.next_multiple_of(16));
    let planes = [(&img.y, 1), (&img.cb, 2), (&img.cr, 2)];
    let padded = planes
        .iter()
        .all(|(p, d)| p.stride >= pw / d && p.data.len() >= p.stride * (ph / d));
    if img.sub != (2, 2) || !padded {
        return Err(DecodeError::UnsupportedJpeg(format!(
            "{width}x{height} planes not 4:2:0 padded to whole MCUs"
        )));
    }
    let ptrs = planes.map(|(p, _)| p.data.as_ptr());
    // SAFETY: each plane has rows up to the height rounded up to its MCU rows, each at least
    // the width rounded up to its MCU columns (checked above), all the encoder reads.
    unsafe {
        encode(
            ptrs,
            planes.map(|(p, _)| p.stride),
            true,
            (width, height),
            quality,
        )
    }
}

fn check_side(width: usize, height: usize) -> Result<(), DecodeError> {
    match (1..=MAX_SIDE).contains(&width) && (1..=MAX_SIDE).contains(&height) {
        true => Ok(()),
        false => Err(DecodeError::UnsupportedJpeg(format!(
            "{width}x{height}: a JPEG side is 1 to {MAX_SIDE} pixels"
        ))),
    }
}

/// Calls the C encoder and copies its output.
///
/// # Safety
/// `planes` and `strides` must describe buffers holding every row the encoder reads: RGB rows
/// of `planes[0]`, or (`raw`) the padded 4:2:0 planes `lt_jpeg_encode` documents.
unsafe fn encode(
    planes: [*const u8; 3],
    strides: [usize; 3],
    raw: bool,
    (width, height): (usize, usize),
    quality: u8,
) -> Result<Vec<u8>, DecodeError> {
    let (mut ptr, mut len): (*mut c_uchar, c_ulong) = (std::ptr::null_mut(), 0);
    let mut msg = [0 as c_char; 200];
    let strides = strides.map(|s| s as c_uint);
    // SAFETY: the buffers as the caller promises; on success the C side sets `ptr` to a
    // malloc'd buffer of `len` bytes, freed below once copied; `msg` is a live buffer of its
    // length.
    let status = unsafe {
        lt_jpeg_encode(
            planes.as_ptr(),
            strides.as_ptr(),
            c_int::from(raw),
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

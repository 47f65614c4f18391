//! JPEG through libjpeg-turbo's TurboJPEG API (2.x, Debian's `libturbojpeg0-dev`, linked
//! statically): SIMD Huffman/IDCT/colour conversion, decoding at a reduced DCT scale (the
//! callers use 1/2, 1/4, 1/8, which have SIMD IDCTs). Encoding is `encode`'s (libjpeg API:
//! TurboJPEG 2.1 cannot write restart markers).
//!
//! Handles are created once per thread and reused. Every call checks sizes before handing a
//! buffer to C; a decode writes into a buffer this module sized from the header it read.

use super::error::DecodeError;
use super::plane_resize::Gray;
use super::yuv::Yuv;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uchar, c_ulong, c_void, CStr};

type Handle = *mut c_void;

// Linked by build.rs (static libturbojpeg).
extern "C" {
    fn tjInitDecompress() -> Handle;
    fn tjDestroy(h: Handle) -> c_int;
    fn tjGetErrorStr2(h: Handle) -> *mut c_char;
    fn tjGetErrorCode(h: Handle) -> c_int;
    fn tjDecompressHeader3(
        h: Handle,
        buf: *const c_uchar,
        size: c_ulong,
        width: *mut c_int,
        height: *mut c_int,
        subsamp: *mut c_int,
        colorspace: *mut c_int,
    ) -> c_int;
    fn tjDecompress2(
        h: Handle,
        buf: *const c_uchar,
        size: c_ulong,
        dst: *mut c_uchar,
        width: c_int,
        pitch: c_int,
        height: c_int,
        pixel_format: c_int,
        flags: c_int,
    ) -> c_int;
    fn tjDecompressToYUVPlanes(
        h: Handle,
        buf: *const c_uchar,
        size: c_ulong,
        planes: *mut *mut c_uchar,
        width: c_int,
        strides: *mut c_int,
        height: c_int,
        flags: c_int,
    ) -> c_int;
    fn tjPlaneWidth(component: c_int, width: c_int, subsamp: c_int) -> c_int;
    fn tjPlaneHeight(component: c_int, height: c_int, subsamp: c_int) -> c_int;
}

const TJPF_RGB: c_int = 0;
const TJCS_YCBCR: c_int = 1;
const TJCS_CMYK: c_int = 3;
const TJCS_YCCK: c_int = 4;
const TJERR_WARNING: c_int = 0;
const TJFLAG_ACCURATEDCT: c_int = 4096;
const TJFLAG_STOPONWARNING: c_int = 8192;

/// A TurboJPEG handle, destroyed with its owner.
struct Tj(Handle);

impl Drop for Tj {
    fn drop(&mut self) {
        // SAFETY: a handle from tjInit*, destroyed once.
        unsafe { tjDestroy(self.0) };
    }
}

impl Tj {
    fn error(&self) -> String {
        // SAFETY: a live handle; TurboJPEG returns a NUL-terminated string it owns.
        unsafe { CStr::from_ptr(tjGetErrorStr2(self.0)) }
            .to_string_lossy()
            .into_owned()
    }
    fn warning_only(&self) -> bool {
        // SAFETY: a live handle.
        unsafe { tjGetErrorCode(self.0) == TJERR_WARNING }
    }
}

thread_local! {
    static DECODER: RefCell<Option<Tj>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's handle of `cell`, created by `init` the first time.
fn with_handle<T>(
    cell: &'static std::thread::LocalKey<RefCell<Option<Tj>>>,
    init: unsafe extern "C" fn() -> Handle,
    f: impl FnOnce(&Tj) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    cell.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            // SAFETY: tjInit* takes no arguments and returns null on failure.
            let h = unsafe { init() };
            if h.is_null() {
                return Err(DecodeError::CorruptJpeg(
                    "libjpeg-turbo: cannot create a handle".into(),
                ));
            }
            *c = Some(Tj(h));
        }
        f(c.as_ref().expect("created above"))
    })
}

/// What a JPEG header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: usize,
    pub height: usize,
    /// CMYK or YCCK: TurboJPEG cannot convert it to RGB.
    pub cmyk: bool,
    /// YCbCr with a chroma subsampling TurboJPEG knows: its factors (horizontal, vertical),
    /// 4:2:0 being (2, 2); such an image decodes to its planes ([`decode_yuv`]).
    pub chroma: Option<(usize, usize)>,
    /// TurboJPEG's subsampling code (TJSAMP_*, -1 unknown).
    subsamp: c_int,
}

/// A DCT scaling factor `num / denom` that libjpeg-turbo decodes at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub num: usize,
    pub denom: usize,
}

impl Scale {
    pub const FULL: Scale = Scale { num: 1, denom: 1 };

    /// The scaled size of a side of `n` pixels (TJSCALED: rounded up).
    pub fn of(self, n: usize) -> usize {
        (n * self.num).div_ceil(self.denom)
    }

    /// The smallest of 1/8, 1/4 and 1/2 at which `covers` holds, else full size: how the
    /// builder and the loader pick a DCT scale (libjpeg-turbo's other M/8 scales have plain-C
    /// IDCTs and measured slower: `transcode`'s notes).
    pub fn smallest_covering(covers: impl Fn(Scale) -> bool) -> Scale {
        [8, 4, 2]
            .into_iter()
            .map(|denom| Scale { num: 1, denom })
            .find(|&s| covers(s))
            .unwrap_or(Scale::FULL)
    }
}

fn c_len(bytes: &[u8]) -> Result<c_ulong, DecodeError> {
    c_ulong::try_from(bytes.len()).map_err(|_| DecodeError::CorruptJpeg("file too large".into()))
}

/// Reads the header of the JPEG `bytes`.
pub fn header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let len = c_len(bytes)?;
    with_handle(&DECODER, tjInitDecompress, |tj| {
        let (mut w, mut h, mut ss, mut cs) = (0, 0, 0, 0);
        // SAFETY: `bytes` is valid for `len` bytes; the outputs are live locals.
        let r = unsafe {
            tjDecompressHeader3(tj.0, bytes.as_ptr(), len, &mut w, &mut h, &mut ss, &mut cs)
        };
        if r != 0 || w <= 0 || h <= 0 {
            return Err(DecodeError::CorruptJpeg(tj.error()));
        }
        // TJSAMP_444, 422, 420, GRAY, 440, 411.
        let factors = [
            Some((1, 1)),
            Some((2, 1)),
            Some((2, 2)),
            None,
            Some((1, 2)),
            Some((4, 1)),
        ];
        Ok(Header {
            width: w as usize,
            height: h as usize,
            cmyk: cs == TJCS_CMYK || cs == TJCS_YCCK,
            chroma: match cs == TJCS_YCBCR {
                true => usize::try_from(ss)
                    .ok()
                    .and_then(|i| factors.get(i).copied().flatten()),
                false => None,
            },
            subsamp: ss,
        })
    })
}

/// Decodes the JPEG `bytes` (whose header is `hd`) to RGB at `scale` into `out`; returns the
/// decoded width and height. `strict`: any libjpeg warning (a truncated stream, a corrupt
/// segment) is an error; otherwise a warning keeps the pixels decoded so far, as the lenient
/// decoders do.
pub fn decode_rgb(
    bytes: &[u8],
    hd: Header,
    scale: Scale,
    strict: bool,
    out: &mut Vec<u8>,
) -> Result<(usize, usize), DecodeError> {
    if hd.cmyk {
        return Err(DecodeError::UnsupportedJpeg("CMYK/YCCK".into()));
    }
    let (w, h, cw, ch) = scaled(hd, scale)?;
    let n = w
        .checked_mul(h)
        .and_then(|p| p.checked_mul(3))
        .ok_or_else(too_large)?;
    out.resize(n, 0);
    decompress(bytes, strict, |tj, len, flags| {
        // SAFETY: `out` holds w * h * 3 bytes, what TurboJPEG writes for an RGB image of the
        // scaled size w x h (pitch 0: w * 3) it picks for these dimensions.
        unsafe {
            tjDecompress2(
                tj.0,
                bytes.as_ptr(),
                len,
                out.as_mut_ptr(),
                cw,
                0,
                ch,
                TJPF_RGB,
                flags,
            )
        }
    })?;
    Ok((w, h))
}

/// Decodes the YCbCr JPEG `bytes` (whose header is `hd`, with `hd.chroma` set) at `scale` to
/// its Y, Cb and Cr planes as stored, chroma still subsampled: no upsampling and no colour
/// conversion. `strict` as [`decode_rgb`]'s.
pub fn decode_yuv(
    bytes: &[u8],
    hd: Header,
    scale: Scale,
    strict: bool,
) -> Result<Yuv, DecodeError> {
    let Some(sub) = hd.chroma else {
        return Err(DecodeError::UnsupportedJpeg(
            "not YCbCr with a known subsampling".into(),
        ));
    };
    let (w, h, cw, ch) = scaled(hd, scale)?;
    let plane = |c: c_int| {
        // SAFETY: pure functions of their integer arguments (-1 on a bad subsampling code).
        let (pw, ph) = unsafe {
            (
                tjPlaneWidth(c, cw, hd.subsamp),
                tjPlaneHeight(c, ch, hd.subsamp),
            )
        };
        let (vw, vh) = match c {
            0 => (w, h),
            _ => (w.div_ceil(sub.0), h.div_ceil(sub.1)),
        };
        match (usize::try_from(pw), usize::try_from(ph)) {
            (Ok(pw), Ok(ph)) if pw >= vw && ph >= vh => Ok(Gray::new(vw, vh, pw, ph)),
            _ => Err(DecodeError::UnsupportedJpeg(
                "unexpected YUV plane sizes".into(),
            )),
        }
    };
    let mut out = Yuv {
        y: plane(0)?,
        cb: plane(1)?,
        cr: plane(2)?,
        sub,
    };
    let mut ptrs = [&mut out.y, &mut out.cb, &mut out.cr].map(|p| p.data.as_mut_ptr());
    let mut strides = [&out.y, &out.cb, &out.cr].map(|p| p.stride as c_int);
    decompress(bytes, strict, |tj, len, flags| {
        // SAFETY: each plane holds stride x rows bytes, the sizes TurboJPEG's tjPlaneWidth and
        // tjPlaneHeight give for this scaled size and subsampling, which it writes.
        unsafe {
            let (p, st) = (ptrs.as_mut_ptr(), strides.as_mut_ptr());
            tjDecompressToYUVPlanes(tj.0, bytes.as_ptr(), len, p, cw, st, ch, flags)
        }
    })?;
    Ok(out)
}

fn too_large() -> DecodeError {
    DecodeError::CorruptJpeg("image too large".into())
}

/// The size of `hd`'s image at `scale`, also as C ints.
fn scaled(hd: Header, scale: Scale) -> Result<(usize, usize, c_int, c_int), DecodeError> {
    let (w, h) = (scale.of(hd.width), scale.of(hd.height));
    match (c_int::try_from(w), c_int::try_from(h)) {
        (Ok(cw), Ok(ch)) => Ok((w, h, cw, ch)),
        _ => Err(too_large()),
    }
}

/// Runs the TurboJPEG decompression `call` (given this thread's handle, the length of `bytes`
/// and the flags) and reads its outcome: `strict` as [`decode_rgb`]'s.
fn decompress(
    bytes: &[u8],
    strict: bool,
    call: impl FnOnce(&Tj, c_ulong, c_int) -> c_int,
) -> Result<(), DecodeError> {
    let len = c_len(bytes)?;
    let flags = TJFLAG_ACCURATEDCT | if strict { TJFLAG_STOPONWARNING } else { 0 };
    with_handle(&DECODER, tjInitDecompress, |tj| {
        match call(tj, len, flags) == 0 || (!strict && tj.warning_only()) {
            true => Ok(()),
            false => Err(DecodeError::CorruptJpeg(tj.error())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::encode::encode_rgb;
    use super::*;

    fn photo(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x ^ y) & 0xff) as u8,
                ]
            })
            .collect()
    }

    #[test]
    fn encodes_then_decodes_at_full_and_reduced_scale() {
        let (w, h) = (403, 301);
        let jpeg = encode_rgb(&photo(w, h), w, h, 90).unwrap();
        let hd = header(&jpeg).unwrap();
        assert_eq!((hd.width, hd.height, hd.cmyk), (w, h, false));
        let mut out = Vec::new();
        assert_eq!(
            decode_rgb(&jpeg, hd, Scale::FULL, true, &mut out).unwrap(),
            (w, h)
        );
        assert_eq!(out.len(), w * h * 3);
        let half = Scale { num: 1, denom: 2 };
        assert_eq!(
            decode_rgb(&jpeg, hd, half, true, &mut out).unwrap(),
            (202, 151)
        );
        assert_eq!(out.len(), 202 * 151 * 3);
    }

    #[test]
    fn a_truncated_stream_is_an_error_only_when_strict() {
        let (w, h) = (64, 48);
        let jpeg = encode_rgb(&photo(w, h), w, h, 90).unwrap();
        let cut = &jpeg[..jpeg.len() * 2 / 3];
        let hd = header(cut).unwrap();
        let mut out = Vec::new();
        let e = decode_rgb(cut, hd, Scale::FULL, true, &mut out).unwrap_err();
        assert!(e.to_string().contains("Premature end"), "{e}");
        assert_eq!(
            decode_rgb(cut, hd, Scale::FULL, false, &mut out).unwrap(),
            (w, h)
        );
        assert!(header(b"\xff\xd8not a jpeg").is_err());
        // The same for the planes.
        let e = decode_yuv(cut, hd, Scale::FULL, true).unwrap_err();
        assert!(e.to_string().contains("Premature end"), "{e}");
        assert_eq!(
            decode_yuv(cut, hd, Scale::FULL, false).unwrap().size(),
            (w, h)
        );
        assert!(encode_rgb(&[0; 5], 2, 2, 90).is_err());
    }

    #[test]
    fn the_smallest_covering_scale_is_picked_among_the_powers_of_two() {
        let half = Scale { num: 1, denom: 2 };
        // The builder's question: 1000 wide at 1/4 is 250 < 256, at 1/2 500.
        assert_eq!(Scale::smallest_covering(|s| s.of(1000) >= 256), half);
        assert_eq!(Scale::smallest_covering(|s| s.of(4000) >= 256).denom, 8);
        assert_eq!(Scale::smallest_covering(|s| s.of(300) >= 256), Scale::FULL);
        // The loader's: a crop of `ratio` source pixels an output pixel.
        let r = crate::image::reduction;
        assert_eq!(
            [1.0, 1.99, 2.0, 3.99, 4.0, 7.9, 8.0, 100.0].map(r),
            [1, 1, 2, 2, 4, 4, 8, 8]
        );
    }
}

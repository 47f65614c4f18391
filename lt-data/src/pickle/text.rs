//! Numbers and text as protocol 0 writes them (decimal lines, Python 2 `repr` strings,
//! raw-unicode-escape), long integers, and `_codecs.encode`'s encodings.

use super::cells::Node;
use super::value::Py;

/// A protocol-0 INT or LONG argument: an i64, or a big integer's two's complement bytes.
pub(super) fn parse_int(s: &str) -> Option<Node> {
    let s = s.trim();
    match s.parse::<i64>() {
        Ok(i) => Some(Py::Int(i)),
        // Too large for i64: keep the digits' value as two's complement bytes.
        Err(_)
            if !s.is_empty()
                && s.trim_start_matches(['-', '+'])
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Some(Py::BigInt(decimal_to_twos(s)))
        }
        Err(_) => None,
    }
}

/// Converts a big decimal string to little-endian two's complement bytes.
fn decimal_to_twos(s: &str) -> Vec<u8> {
    let neg = s.starts_with('-');
    let digits = s.trim_start_matches(['-', '+']);
    let mut mag: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = (d - b'0') as u32;
        for byte in mag.iter_mut() {
            let v = *byte as u32 * 10 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.push(carry as u8);
            carry >>= 8;
        }
    }
    mag.push(0); // room for the sign bit
    if neg {
        let mut carry = 1u16;
        for byte in mag.iter_mut() {
            let v = (!*byte) as u16 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
    }
    // Shortest form, as LONG1 stores it: drop high bytes that only repeat the sign.
    while mag.len() > 1 {
        let (last, prev) = (mag[mag.len() - 1], mag[mag.len() - 2]);
        if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
            mag.pop();
        } else {
            break;
        }
    }
    mag
}

/// A LONG1/LONG4 argument: little-endian two's complement bytes.
pub(super) fn long_from_bytes(b: &[u8]) -> Node {
    if b.is_empty() {
        return Py::Int(0);
    }
    if b.len() <= 8 {
        let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..b.len()].copy_from_slice(b);
        Py::Int(i64::from_le_bytes(buf))
    } else {
        Py::BigInt(b.to_vec())
    }
}

/// `s` encoded as `enc` (Latin-1, UTF-8 or ASCII); `None` when it cannot be.
pub(super) fn encode_text(s: &str, enc: &str) -> Option<Vec<u8>> {
    match enc {
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1" => {
            // Byte-wise: in valid UTF-8, U+0080..U+00FF are exactly the pairs C2/C3 xx.
            let b = s.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    c @ 0..=0x7f => {
                        out.push(c);
                        i += 1;
                    }
                    c @ (0xc2 | 0xc3) => {
                        out.push(((c & 0x03) << 6) | (b[i + 1] & 0x3f));
                        i += 2;
                    }
                    _ => return None,
                }
            }
            Some(out)
        }
        "utf-8" | "utf8" => Some(s.as_bytes().to_vec()),
        "ascii" => s
            .chars()
            .map(|c| if c.is_ascii() { Some(c as u8) } else { None })
            .collect(),
        _ => None,
    }
}

/// Decodes a protocol-0 STRING argument: a Python 2 `repr` of a byte string.
pub(super) fn unquote_py2(l: &[u8]) -> Option<Vec<u8>> {
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    if l.len() < 2 || l[0] != l[l.len() - 1] || !(l[0] == b'\'' || l[0] == b'"') {
        return None;
    }
    let body = &l[1..l.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *body.get(i)?;
        i += 1;
        match e {
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'\n' => {}
            b'x' => {
                let h = body.get(i..i + 2)?;
                out.push(u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// Decodes a protocol-0 UNICODE argument ("raw-unicode-escape": Latin-1 bytes with
/// `\uXXXX` and `\UXXXXXXXX` escapes only).
pub(super) fn raw_unicode_unescape(l: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        if c == b'\\' && i + 1 < l.len() && (l[i + 1] == b'u' || l[i + 1] == b'U') {
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            let h = l.get(i + 2..i + 2 + n)?;
            let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            out.push(char::from_u32(v)?);
            i += 2 + n;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    Some(out)
}

//! numpy arrays as a pickle stores them: dtype string, shape, memory order and raw bytes,
//! with the conversions the CIFAR reader needs (C order, integers).

use super::error::NotIntegers;

/// A numpy array as stored: dtype string, shape, memory order and raw element bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// numpy's type string with byte order: `|u1`, `<i8`, `>f4`...
    pub dtype: String,
    pub shape: Vec<usize>,
    /// True when `data` is in column-major (Fortran) order.
    pub fortran: bool,
    pub data: Vec<u8>,
}

impl NdArray {
    /// Bytes per element, from the type string (`U` strings use 4 bytes a character).
    pub fn item_size(&self) -> Option<usize> {
        item_size(&self.dtype)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element bytes in row-major (C) order, copying only when stored column-major.
    pub fn c_order_data(&self) -> std::borrow::Cow<'_, [u8]> {
        if !self.fortran || self.shape.len() < 2 {
            return self.data.as_slice().into();
        }
        let item = self.item_size().unwrap_or(1);
        let n = self.len();
        let nd = self.shape.len();
        // Fortran strides (in elements): the first axis varies fastest.
        let mut fstride = vec![1usize; nd];
        for k in 1..nd {
            fstride[k] = fstride[k - 1] * self.shape[k - 1];
        }
        let mut out = Vec::with_capacity(self.data.len());
        let mut idx = vec![0usize; nd];
        for _ in 0..n {
            let src: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
            out.extend_from_slice(&self.data[src * item..(src + 1) * item]);
            // Advance the C-order multi-index: the last axis varies fastest.
            for k in (0..nd).rev() {
                idx[k] += 1;
                if idx[k] < self.shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        out.into()
    }

    /// Elements of an integer or boolean array as i64, in C order.
    pub fn to_i64(&self) -> Result<Vec<i64>, NotIntegers> {
        let (order, kind, size) = split_dtype(&self.dtype);
        let big = order == '>';
        let data = self.c_order_data();
        let conv = |c: &[u8]| -> i64 {
            let mut b = [0u8; 8];
            let signed = kind == 'i';
            let neg = signed
                && if big {
                    c[0] & 0x80 != 0
                } else {
                    c[size - 1] & 0x80 != 0
                };
            if neg {
                b = [0xff; 8];
            }
            for (j, &byte) in c.iter().enumerate() {
                b[if big { size - 1 - j } else { j }] = byte;
            }
            i64::from_le_bytes(b)
        };
        match (kind, size) {
            ('i' | 'u' | 'b', 1 | 2 | 4 | 8) => Ok(data.chunks_exact(size).map(conv).collect()),
            _ => Err(NotIntegers {
                dtype: self.dtype.clone(),
            }),
        }
    }
}

/// Splits `<i8` into ('<', 'i', 8); `|` and `=` mean native (little-endian here).
pub(super) fn split_dtype(dtype: &str) -> (char, char, usize) {
    let mut chars = dtype.chars().peekable();
    let order = match chars.peek() {
        Some(&c @ ('<' | '>' | '|' | '=')) => {
            chars.next();
            c
        }
        _ => '|',
    };
    let kind = chars.next().unwrap_or('?');
    let size = chars.collect::<String>().parse().unwrap_or(0);
    (order, kind, size)
}

/// Bytes per element of a dtype string, `None` when it has no size.
pub(super) fn item_size(dtype: &str) -> Option<usize> {
    let (_, kind, size) = split_dtype(dtype);
    match (kind, size) {
        (_, 0) => None,
        ('U', n) => Some(4 * n),
        (_, n) => Some(n),
    }
}

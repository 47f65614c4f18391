//! A small, safe unpickler: enough of Python's pickle format (protocols 0 to 5) to read the
//! CIFAR python batches without Python. Nothing is ever executed: the few callables that
//! build plain data (`_codecs.encode`, numpy's `_reconstruct`, `dtype`, `_frombuffer`,
//! `scalar`, `bytearray`, `set`) are interpreted here, every other object becomes an opaque
//! [`Value::Object`] holding its arguments and state.
//!
//! Containers are shared through the memo (a dict built by `BUILD` after being memoized is
//! seen complete by a later `GET`), so the machine works on reference-counted cells and the
//! result is converted to plain [`Value`]s at `STOP`.

use crate::error::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::rc::Rc;

/// A decoded Python value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64: little-endian two's complement bytes, as pickle stores them.
    BigInt(Vec<u8>),
    Float(f64),
    /// A Python 3 `str` (or Python 2 `unicode`).
    Str(String),
    /// Python 3 `bytes`/`bytearray`, or a Python 2 `str` (which holds bytes).
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    /// Key/value pairs in pickle order.
    Dict(Vec<(Value, Value)>),
    /// A numpy array (0-d for numpy scalars).
    Array(NdArray),
    /// A numpy dtype: numpy's type string with its byte order, e.g. `|u1`, `<i8`.
    Dtype(String),
    /// A reference to a module-level name that was never called.
    Global {
        module: String,
        name: String,
    },
    /// Any other object: what would have built it, never run.
    Object {
        module: String,
        name: String,
        args: Box<Value>,
        state: Option<Box<Value>>,
    },
}

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

/// Why a byte stream is not a pickle this reader accepts; `offset` is where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct PickleError {
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pickle: {} (at byte {})", self.msg, self.offset)
    }
}

impl std::error::Error for PickleError {}

/// Reads and unpickles a file; a bad stream becomes a format error naming the file.
pub fn load(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    loads(&bytes).map_err(|e| Error::format(path, e.to_string()))
}

/// Unpickles one object from `bytes` (trailing bytes after `STOP` are ignored, as Python does).
pub fn loads(bytes: &[u8]) -> std::result::Result<Value, PickleError> {
    Machine {
        input: bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    }
    .run()
}

impl Value {
    /// The value of `key` in a dict, matching `str` and Python-2 byte-string keys alike.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| k.as_str().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Text of a `str`, or of a byte string (UTF-8, else Latin-1, as Python 2 text was).
    pub fn as_str(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Str(s) => Some(s.as_str().into()),
            Value::Bytes(b) => Some(match std::str::from_utf8(b) {
                Ok(s) => s.into(),
                Err(_) => b.iter().map(|&c| c as char).collect::<String>().into(),
            }),
            _ => None,
        }
    }

    /// The integer of an `int`, a `bool` or a 0-d integer numpy array.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            Value::Array(a) if a.shape.is_empty() => {
                a.to_i64().ok().and_then(|v| v.first().copied())
            }
            _ => None,
        }
    }

    /// Items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Integers of a list/tuple of ints or of an integer numpy array (CIFAR labels are lists
    /// in the original files, arrays in some re-pickled copies).
    pub fn to_int_vec(&self) -> Option<Vec<i64>> {
        match self {
            Value::Array(a) => a.to_i64().ok(),
            _ => self.as_seq()?.iter().map(Value::as_int).collect(),
        }
    }

    /// Texts of a list/tuple of strings.
    pub fn to_str_vec(&self) -> Option<Vec<String>> {
        self.as_seq()?
            .iter()
            .map(|v| v.as_str().map(|s| s.into_owned()))
            .collect()
    }
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
    pub fn to_i64(&self) -> std::result::Result<Vec<i64>, String> {
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
            _ => Err(format!(
                "array of dtype {} is not an integer array",
                self.dtype
            )),
        }
    }
}

/// Splits `<i8` into ('<', 'i', 8); `|` and `=` mean native (little-endian here).
fn split_dtype(dtype: &str) -> (char, char, usize) {
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

fn item_size(dtype: &str) -> Option<usize> {
    let (_, kind, size) = split_dtype(dtype);
    match (kind, size) {
        (_, 0) => None,
        ('U', n) => Some(4 * n),
        (_, n) => Some(n),
    }
}

type Ref = Rc<RefCell<Node>>;

/// The machine's working form of a value: containers hold shared cells so that a memoized
/// object mutated later (APPENDS, SETITEMS, BUILD) is the same object everywhere.
#[derive(Debug)]
enum Node {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Ref>),
    Tuple(Vec<Ref>),
    Set(Vec<Ref>),
    Dict(Vec<(Ref, Ref)>),
    Global {
        module: String,
        name: String,
    },
    /// `numpy.dtype(descr, ...)`; its byte order comes with BUILD.
    Dtype {
        descr: String,
        order: Option<String>,
    },
    /// An ndarray; `None` until BUILD gives `_reconstruct`'s empty array its state.
    Array(Option<NdArray>),
    Object {
        module: String,
        name: String,
        args: Ref,
        state: Option<Ref>,
    },
}

fn cell(n: Node) -> Ref {
    Rc::new(RefCell::new(n))
}

impl Node {
    /// Moves the node's children into `out`, leaving it childless.
    fn take_children(&mut self, out: &mut Vec<Ref>) {
        match self {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) => out.append(v),
            Node::Dict(v) => out.extend(v.drain(..).flat_map(|(k, v)| [k, v])),
            Node::Object { args, state, .. } => {
                out.push(std::mem::replace(args, cell(Node::None)));
                out.extend(state.take());
            }
            _ => {}
        }
    }
}

/// Tears a node down with a work list instead of recursion: a pickle can nest containers
/// far deeper than the thread's stack (a few hundred KB of `]` and `a` opcodes), and the
/// default drop of a chain of cells recurses once per level.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(r) = pending.pop() {
            // A cell still shared elsewhere is only released here; its owner tears it down.
            if let Ok(c) = Rc::try_unwrap(r) {
                c.into_inner().take_children(&mut pending);
            }
        }
    }
}

/// Nesting beyond this is refused (also stops self-referencing structures).
const MAX_DEPTH: usize = 512;

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    stack: Vec<Ref>,
    marks: Vec<usize>,
    memo: HashMap<u64, Ref>,
}

impl<'a> Machine<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> std::result::Result<T, PickleError> {
        Err(PickleError {
            offset: self.pos,
            msg: msg.into(),
        })
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], PickleError> {
        if self.input.len() - self.pos < n {
            return Err(PickleError {
                offset: self.pos,
                msg: format!(
                    "truncated: {n} bytes needed, {} left",
                    self.input.len() - self.pos
                ),
            });
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> std::result::Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> std::result::Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> std::result::Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> std::result::Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn len64(&mut self) -> std::result::Result<usize, PickleError> {
        let n = self.u64()?;
        usize::try_from(n).or_else(|_| self.err(format!("length {n} too large")))
    }

    /// A protocol-0 argument: the bytes up to the next newline.
    fn line(&mut self) -> std::result::Result<&'a [u8], PickleError> {
        match self.input[self.pos..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let s = &self.input[self.pos..self.pos + i];
                self.pos += i + 1;
                Ok(s)
            }
            None => self.err("truncated: missing end of line"),
        }
    }

    fn line_str(&mut self) -> std::result::Result<String, PickleError> {
        let l = self.line()?;
        String::from_utf8(l.to_vec()).or_else(|_| self.err("non-UTF-8 text line"))
    }

    fn utf8(&self, b: &[u8]) -> std::result::Result<String, PickleError> {
        String::from_utf8(b.to_vec()).or_else(|_| self.err("invalid UTF-8 in a unicode string"))
    }

    fn push(&mut self, n: Node) {
        self.stack.push(cell(n));
    }

    fn pop(&mut self) -> std::result::Result<Ref, PickleError> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) && !self.marks.is_empty() {
            return self.err("stack underflow (crossing a MARK)");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    fn top(&self) -> std::result::Result<Ref, PickleError> {
        match self.stack.last() {
            Some(v) => Ok(v.clone()),
            None => self.err("stack empty"),
        }
    }

    /// Pops everything above the last MARK, and the mark itself.
    fn pop_mark(&mut self) -> std::result::Result<Vec<Ref>, PickleError> {
        match self.marks.pop() {
            Some(m) => Ok(self.stack.split_off(m)),
            None => self.err("no MARK on the stack"),
        }
    }

    fn put(&mut self, idx: u64) -> std::result::Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(idx, top);
        Ok(())
    }

    fn get(&mut self, idx: u64) -> std::result::Result<(), PickleError> {
        match self.memo.get(&idx) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            None => self.err(format!("memo key {idx} was never stored")),
        }
    }

    fn run(mut self) -> std::result::Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                b'.' => {
                    // STOP
                    let v = self.pop()?;
                    let off = self.pos;
                    drop(self.memo);
                    drop(self.stack);
                    return Converter::new(self.input.len())
                        .convert(v)
                        .map_err(|msg| PickleError { offset: off, msg });
                }
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return self.err(format!("unsupported protocol {p}"));
                    }
                }
                0x95 => {
                    // FRAME: only a read-ahead hint.
                    self.u64()?;
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    // POP with nothing above the last MARK discards the mark (as CPython).
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(t);
                }
                b'N' => self.push(Node::None),
                0x88 => self.push(Node::Bool(true)),
                0x89 => self.push(Node::Bool(false)),
                b'I' => {
                    let l = self.line_str()?;
                    let n = match l.as_str() {
                        "00" => Node::Bool(false),
                        "01" => Node::Bool(true),
                        s => parse_int(s)
                            .ok_or(())
                            .or_else(|_| self.err(format!("bad INT {s:?}")))?,
                    };
                    self.push(n);
                }
                b'L' => {
                    let l = self.line_str()?;
                    let s = l.strip_suffix('L').unwrap_or(&l);
                    let n = parse_int(s)
                        .ok_or(())
                        .or_else(|_| self.err(format!("bad LONG {l:?}")))?;
                    self.push(n);
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Node::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Node::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Node::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.push(long_from_bytes(b));
                }
                0x8b => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return self.err("LONG4 with negative length");
                    }
                    let b = self.take(n as usize)?;
                    self.push(long_from_bytes(b));
                }
                b'F' => {
                    let l = self.line_str()?;
                    let f = l
                        .trim()
                        .parse::<f64>()
                        .or_else(|_| self.err(format!("bad FLOAT {l:?}")))?;
                    self.push(Node::Float(f));
                }
                b'G' => {
                    let f = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.push(Node::Float(f));
                }
                b'S' => {
                    let l = self.line()?;
                    let b = unquote_py2(l)
                        .ok_or(())
                        .or_else(|_| self.err("bad quoted STRING"))?;
                    self.push(Node::Bytes(b));
                }
                b'T' => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return self.err("BINSTRING with negative length");
                    }
                    let b = self.take(n as usize)?.to_vec();
                    self.push(Node::Bytes(b));
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b));
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b));
                }
                0x8e | 0x96 => {
                    // BINBYTES8, BYTEARRAY8
                    let n = self.len64()?;
                    let b = self.take(n)?.to_vec();
                    self.push(Node::Bytes(b));
                }
                0x97 => return self.err("out-of-band buffers (NEXT_BUFFER) are not supported"),
                0x98 => {} // READONLY_BUFFER: same data either way.
                b'V' => {
                    let l = self.line()?;
                    let s = raw_unicode_unescape(l)
                        .ok_or(())
                        .or_else(|_| self.err("bad UNICODE escape"))?;
                    self.push(Node::Str(s));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.push(Node::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.push(Node::Str(s));
                }
                0x8d => {
                    let n = self.len64()?;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.push(Node::Str(s));
                }
                b')' => self.push(Node::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                        return self.err("stack underflow building a tuple");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Node::Tuple(items));
                }
                b']' => self.push(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                b'}' => self.push(Node::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push(Node::Dict(pairs));
                }
                0x8f => self.push(Node::Set(Vec::new())),
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Node::Set(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    self.extend_list(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.set_items(pairs)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let top = self.top()?;
                    let mut t = top.borrow_mut();
                    match &mut *t {
                        Node::Set(v) => v.extend(items),
                        _ => {
                            return Err(PickleError {
                                offset: self.pos,
                                msg: "ADDITEMS on a non-set".into(),
                            })
                        }
                    }
                }
                b'p' => {
                    let l = self.line_str()?;
                    let i = l.parse().or_else(|_| self.err(format!("bad PUT {l:?}")))?;
                    self.put(i)?;
                }
                b'q' => {
                    let i = self.u8()? as u64;
                    self.put(i)?;
                }
                b'r' => {
                    let i = self.u32()? as u64;
                    self.put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.put(i)?;
                }
                b'g' => {
                    let l = self.line_str()?;
                    let i = l.parse().or_else(|_| self.err(format!("bad GET {l:?}")))?;
                    self.get(i)?;
                }
                b'h' => {
                    let i = self.u8()? as u64;
                    self.get(i)?;
                }
                b'j' => {
                    let i = self.u32()? as u64;
                    self.get(i)?;
                }
                b'c' => {
                    let module = self.line_str()?;
                    let name = self.line_str()?;
                    self.push(Node::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (m, n) = match (&*module.borrow(), &*name.borrow()) {
                        (Node::Str(m), Node::Str(n)) => (m.clone(), n.clone()),
                        _ => return self.err("STACK_GLOBAL needs two strings"),
                    };
                    self.push(Node::Global { module: m, name: n });
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let n = self.reduce(&callable, args)?;
                    self.push(n);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let n = self.opaque(&cls, args)?;
                    self.push(n);
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let n = self.opaque(&cls, cell(Node::Tuple(vec![args, kwargs])))?;
                    self.push(n);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return self.err("OBJ without a class");
                    }
                    let cls = items.remove(0);
                    let n = self.opaque(&cls, cell(Node::Tuple(items)))?;
                    self.push(n);
                }
                b'i' => {
                    let module = self.line_str()?;
                    let name = self.line_str()?;
                    let items = self.pop_mark()?;
                    self.push(Node::Object {
                        module,
                        name,
                        args: cell(Node::Tuple(items)),
                        state: None,
                    });
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(&target, state)?;
                }
                b'P' | b'Q' => return self.err("persistent ids are not supported"),
                0x82..=0x84 => return self.err("extension registry codes are not supported"),
                _ => return self.err(format!("unknown opcode 0x{op:02x}")),
            }
        }
    }

    fn pairs(&self, items: Vec<Ref>) -> std::result::Result<Vec<(Ref, Ref)>, PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.err("odd number of items for a dict");
        }
        let mut it = items.into_iter();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }

    fn extend_list(&self, items: Vec<Ref>) -> std::result::Result<(), PickleError> {
        let top = self.top()?;
        let mut t = top.borrow_mut();
        match &mut *t {
            Node::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => self.err("APPEND to something that is not a list"),
        }
    }

    fn set_items(&self, pairs: Vec<(Ref, Ref)>) -> std::result::Result<(), PickleError> {
        let top = self.top()?;
        let mut t = top.borrow_mut();
        match &mut *t {
            Node::Dict(v) => {
                v.extend(pairs);
                Ok(())
            }
            _ => self.err("SETITEM on something that is not a dict"),
        }
    }

    fn global_name(&self, callable: &Ref) -> std::result::Result<(String, String), PickleError> {
        match &*callable.borrow() {
            Node::Global { module, name } => Ok((module.clone(), name.clone())),
            other => self.err(format!("call of a non-global ({})", kind_of(other))),
        }
    }

    fn opaque(&self, callable: &Ref, args: Ref) -> std::result::Result<Node, PickleError> {
        let (module, name) = self.global_name(callable)?;
        Ok(Node::Object {
            module,
            name,
            args,
            state: None,
        })
    }

    /// REDUCE: interprets the handful of data-building callables, keeps the rest opaque.
    fn reduce(&self, callable: &Ref, args: Ref) -> std::result::Result<Node, PickleError> {
        let (module, name) = self.global_name(callable)?;
        let a = args.borrow();
        let argv: &[Ref] = match &*a {
            Node::Tuple(v) => v,
            _ => return self.err(format!("{module}.{name}: arguments are not a tuple")),
        };
        let numpy = matches!(
            module.as_str(),
            "numpy.core.multiarray" | "numpy._core.multiarray"
        );
        let numeric = matches!(
            module.as_str(),
            "numpy.core.numeric" | "numpy._core.numeric"
        );
        let builtins = matches!(module.as_str(), "builtins" | "__builtin__");
        match (module.as_str(), name.as_str()) {
            ("_codecs", "encode") => {
                let text = match argv.first().map(|r| r.borrow()) {
                    Some(r) => match &*r {
                        Node::Str(s) => s.clone(),
                        _ => return self.err("_codecs.encode of a non-string"),
                    },
                    None => return self.err("_codecs.encode without arguments"),
                };
                let enc = match argv.get(1).map(|r| r.borrow()) {
                    Some(r) => match &*r {
                        Node::Str(s) => s.to_ascii_lowercase(),
                        _ => return self.err("_codecs.encode: encoding is not a string"),
                    },
                    None => "utf-8".to_string(),
                };
                encode_text(&text, &enc)
                    .map(Node::Bytes)
                    .ok_or(())
                    .or_else(|_| self.err(format!("_codecs.encode: cannot encode with {enc:?}")))
            }
            (_, "_reconstruct") if numpy => Ok(Node::Array(None)),
            ("numpy", "dtype") => match argv.first().map(|r| r.borrow()) {
                Some(r) => match &*r {
                    Node::Str(s) => Ok(Node::Dtype {
                        descr: s.clone(),
                        order: None,
                    }),
                    Node::Bytes(b) => Ok(Node::Dtype {
                        descr: String::from_utf8_lossy(b).into(),
                        order: None,
                    }),
                    _ => self.err("numpy.dtype: type is not a string"),
                },
                None => self.err("numpy.dtype without arguments"),
            },
            (_, "_frombuffer") if numeric => {
                if argv.len() != 4 {
                    return self.err("numpy _frombuffer needs (buffer, dtype, shape, order)");
                }
                let data = self.bytes_of(&argv[0], "_frombuffer buffer")?;
                let dtype = self.dtype_of(&argv[1])?;
                let shape = self.shape_of(&argv[2])?;
                let fortran = matches!(&*argv[3].borrow(), Node::Str(s) if s == "F");
                self.array(dtype, shape, fortran, data)
                    .map(|a| Node::Array(Some(a)))
            }
            (_, "scalar") if numpy => {
                if argv.len() != 2 {
                    return self.err("numpy scalar needs (dtype, bytes)");
                }
                let dtype = self.dtype_of(&argv[0])?;
                let data = self.bytes_of(&argv[1], "numpy scalar data")?;
                self.array(dtype, Vec::new(), false, data)
                    .map(|a| Node::Array(Some(a)))
            }
            ("bytearray" | "bytes", _) | (_, "bytearray" | "bytes") if builtins => {
                match argv.first() {
                    None => Ok(Node::Bytes(Vec::new())),
                    Some(r) => match &*r.borrow() {
                        Node::Bytes(b) => Ok(Node::Bytes(b.clone())),
                        Node::Str(s) => {
                            let enc = match argv.get(1).map(|e| e.borrow()) {
                                Some(e) => match &*e {
                                    Node::Str(e) => e.to_ascii_lowercase(),
                                    _ => "utf-8".into(),
                                },
                                None => "utf-8".into(),
                            };
                            encode_text(s, &enc)
                                .map(Node::Bytes)
                                .ok_or(())
                                .or_else(|_| {
                                    self.err(format!("{name}: cannot encode with {enc:?}"))
                                })
                        }
                        Node::List(items) => items
                            .iter()
                            .map(|i| match &*i.borrow() {
                                Node::Int(v) if (0..256).contains(v) => Ok(*v as u8),
                                _ => self.err(format!("{name}: list item is not a byte")),
                            })
                            .collect::<std::result::Result<Vec<u8>, _>>()
                            .map(Node::Bytes),
                        _ => self.err(format!("{name}: unsupported argument")),
                    },
                }
            }
            (_, "set" | "frozenset") if builtins => match argv.first() {
                None => Ok(Node::Set(Vec::new())),
                Some(r) => match &*r.borrow() {
                    Node::List(v) | Node::Tuple(v) => Ok(Node::Set(v.clone())),
                    _ => self.err(format!("{name}: argument is not a list")),
                },
            },
            _ => {
                drop(a);
                Ok(Node::Object {
                    module,
                    name,
                    args,
                    state: None,
                })
            }
        }
    }

    /// BUILD: numpy arrays and dtypes take their state; other objects keep it.
    fn build(&self, target: &Ref, state: Ref) -> std::result::Result<(), PickleError> {
        let mut t = target.borrow_mut();
        match &mut *t {
            Node::Array(slot) => {
                let s = state.borrow();
                let items: &[Ref] = match &*s {
                    Node::Tuple(v) => v,
                    _ => return self.err("ndarray state is not a tuple"),
                };
                // (version, shape, dtype, is_fortran, data), or the old form without version.
                let items = match items.len() {
                    5 => &items[1..],
                    4 => items,
                    n => return self.err(format!("ndarray state has {n} items, expected 4 or 5")),
                };
                let shape = self.shape_of(&items[0])?;
                let dtype = self.dtype_of(&items[1])?;
                let fortran = match &*items[2].borrow() {
                    Node::Bool(b) => *b,
                    Node::Int(i) => *i != 0,
                    _ => return self.err("ndarray state: is_fortran is not a bool"),
                };
                if dtype
                    .trim_start_matches(['<', '>', '|', '='])
                    .starts_with('O')
                {
                    return self.err("object arrays (dtype O) are not supported");
                }
                let data = self.bytes_of(&items[3], "ndarray data")?;
                *slot = Some(self.array(dtype, shape, fortran, data)?);
                Ok(())
            }
            Node::Dtype { order, .. } => {
                if let Node::Tuple(items) = &*state.borrow() {
                    if let Some(Node::Str(o)) = items.get(1).map(|r| r.borrow()).as_deref() {
                        *order = Some(o.clone());
                    } else if let Some(Node::Bytes(o)) = items.get(1).map(|r| r.borrow()).as_deref()
                    {
                        *order = Some(String::from_utf8_lossy(o).into());
                    }
                }
                Ok(())
            }
            Node::Object { state: slot, .. } => {
                *slot = Some(state);
                Ok(())
            }
            Node::Dict(items) => {
                // A dict subclass's BUILD with a plain dict state sets attributes; keep them.
                if let Node::Dict(extra) = &*state.borrow() {
                    items.extend(extra.iter().cloned());
                }
                Ok(())
            }
            other => self.err(format!("BUILD on a {}", kind_of(other))),
        }
    }

    fn bytes_of(&self, r: &Ref, what: &str) -> std::result::Result<Vec<u8>, PickleError> {
        match &*r.borrow() {
            Node::Bytes(b) => Ok(b.clone()),
            // Python 3 reading Python 2 data with encoding='latin1' gives str; accept it too.
            Node::Str(s) => encode_text(s, "latin1")
                .ok_or(())
                .or_else(|_| self.err(format!("{what}: text beyond Latin-1"))),
            other => self.err(format!("{what} is a {}, not bytes", kind_of(other))),
        }
    }

    fn dtype_of(&self, r: &Ref) -> std::result::Result<String, PickleError> {
        match &*r.borrow() {
            Node::Dtype { descr, order } => {
                let d = descr.trim_start_matches(['<', '>', '|', '=']);
                let o = match (descr.chars().next(), order.as_deref()) {
                    (Some(c @ ('<' | '>' | '|')), _) => c,
                    (_, Some(">")) => '>',
                    (_, Some("|")) => '|',
                    _ => '<',
                };
                // numpy reports single bytes as '|' whatever the pickle said.
                let o = if item_size(d) == Some(1) { '|' } else { o };
                Ok(format!("{o}{d}"))
            }
            other => self.err(format!("expected a numpy dtype, got a {}", kind_of(other))),
        }
    }

    fn shape_of(&self, r: &Ref) -> std::result::Result<Vec<usize>, PickleError> {
        match &*r.borrow() {
            Node::Tuple(v) | Node::List(v) => v
                .iter()
                .map(|d| match &*d.borrow() {
                    Node::Int(i) if *i >= 0 => Ok(*i as usize),
                    _ => self.err("array shape entry is not a non-negative int"),
                })
                .collect(),
            Node::Int(i) if *i >= 0 => Ok(vec![*i as usize]),
            _ => self.err("array shape is not a tuple"),
        }
    }

    fn array(
        &self,
        dtype: String,
        shape: Vec<usize>,
        fortran: bool,
        data: Vec<u8>,
    ) -> std::result::Result<NdArray, PickleError> {
        let size = match item_size(&dtype) {
            Some(s) => s,
            None => return self.err(format!("unsupported dtype {dtype}")),
        };
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        match n.and_then(|n| n.checked_mul(size)) {
            Some(need) if need == data.len() => Ok(NdArray { dtype, shape, fortran, data }),
            Some(need) => self.err(format!(
                "array of shape {shape:?} and dtype {dtype} needs {need} bytes, the pickle holds {}",
                data.len()
            )),
            None => self.err(format!("array shape {shape:?} overflows")),
        }
    }
}

fn kind_of(n: &Node) -> &'static str {
    match n {
        Node::None => "None",
        Node::Bool(_) => "bool",
        Node::Int(_) | Node::BigInt(_) => "int",
        Node::Float(_) => "float",
        Node::Str(_) => "str",
        Node::Bytes(_) => "bytes",
        Node::List(_) => "list",
        Node::Tuple(_) => "tuple",
        Node::Set(_) => "set",
        Node::Dict(_) => "dict",
        Node::Global { .. } => "global",
        Node::Dtype { .. } => "dtype",
        Node::Array(_) => "ndarray",
        Node::Object { .. } => "object",
    }
}

fn parse_int(s: &str) -> Option<Node> {
    let s = s.trim();
    match s.parse::<i64>() {
        Ok(i) => Some(Node::Int(i)),
        // Too large for i64: keep the digits' value as two's complement bytes.
        Err(_)
            if !s.is_empty()
                && s.trim_start_matches(['-', '+'])
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Some(Node::BigInt(decimal_to_twos(s)))
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

fn long_from_bytes(b: &[u8]) -> Node {
    if b.is_empty() {
        return Node::Int(0);
    }
    if b.len() <= 8 {
        let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..b.len()].copy_from_slice(b);
        Node::Int(i64::from_le_bytes(buf))
    } else {
        Node::BigInt(b.to_vec())
    }
}

fn encode_text(s: &str, enc: &str) -> Option<Vec<u8>> {
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
fn unquote_py2(l: &[u8]) -> Option<Vec<u8>> {
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
fn raw_unicode_unescape(l: &[u8]) -> Option<String> {
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

/// Converts the machine's cells to plain values, moving data out when a cell is unshared and
/// copying it when shared, within two bounds: nesting depth, and the bytes copies may add
/// (a few bytes of GET opcodes can reference a big object many times over, or a structure
/// that doubles at each level: a "billion laughs"). Iterative: the depth of the data never
/// becomes depth of the call stack.
struct Converter {
    /// What copies of shared cells may still add, in bytes (nodes count as their size).
    copy_budget: usize,
}

/// A container being converted: its shape, the children still to convert, and those done.
struct Frame {
    shape: Shape,
    pending: std::vec::IntoIter<Ref>,
    done: Vec<Value>,
}

enum Shape {
    List,
    Tuple,
    Set,
    /// Children alternate key, value.
    Dict,
    /// Children are the arguments, then the state if any.
    Object {
        module: String,
        name: String,
    },
}

/// What a cell opens to: a finished value, or a container whose children come next.
enum Opened {
    Leaf(Value),
    Frame(Frame),
}

fn frame(shape: Shape, children: Vec<Ref>) -> Opened {
    Opened::Frame(Frame {
        shape,
        done: Vec::with_capacity(children.len()),
        pending: children.into_iter(),
    })
}

impl Frame {
    fn finish(self) -> Value {
        match self.shape {
            Shape::List => Value::List(self.done),
            Shape::Tuple => Value::Tuple(self.done),
            Shape::Set => Value::Set(self.done),
            Shape::Dict => {
                let mut it = self.done.into_iter();
                let mut pairs = Vec::with_capacity(it.len() / 2);
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Value::Dict(pairs)
            }
            Shape::Object { module, name } => {
                let mut it = self.done.into_iter();
                Value::Object {
                    module,
                    name,
                    args: Box::new(it.next().unwrap_or(Value::None)),
                    state: it.next().map(Box::new),
                }
            }
        }
    }
}

impl Converter {
    /// Copies may add 16 times the pickle's size, and 64 MiB more.
    fn new(input_len: usize) -> Self {
        Converter {
            copy_budget: input_len.saturating_mul(16).saturating_add(64 << 20),
        }
    }

    /// The plain value of `root`, depth first with an explicit stack of open containers.
    fn convert(&mut self, root: Ref) -> std::result::Result<Value, String> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut next = Some(root);
        let mut finished: Option<Value> = None;
        loop {
            if let Some(r) = next.take() {
                match self.open(r, stack.len())? {
                    Opened::Leaf(v) => finished = Some(v),
                    Opened::Frame(f) => stack.push(f),
                }
            }
            let Some(top) = stack.last_mut() else {
                return finished.ok_or_else(|| "empty pickle".to_string());
            };
            if let Some(v) = finished.take() {
                top.done.push(v);
            }
            match top.pending.next() {
                Some(child) => next = Some(child),
                None => finished = stack.pop().map(Frame::finish),
            }
        }
    }

    /// Opens the cell at `depth`: moving its content out when no one else holds it.
    fn open(&mut self, r: Ref, depth: usize) -> std::result::Result<Opened, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "nesting deeper than {MAX_DEPTH} levels (or a self-referencing structure)"
            ));
        }
        match Rc::try_unwrap(r) {
            Ok(c) => self.open_node(&mut c.into_inner(), true),
            Err(shared) => self.open_node(&mut shared.borrow_mut(), false),
        }
    }

    /// A node's value or frame; its content is moved out when `owned`, else copied (and
    /// paid for from the copy budget).
    fn open_node(&mut self, n: &mut Node, owned: bool) -> std::result::Result<Opened, String> {
        if !owned {
            self.spend(payload_len(n))?;
        }
        let refs = |v: &mut Vec<Ref>| if owned { std::mem::take(v) } else { v.clone() };
        let bytes = |b: &mut Vec<u8>| if owned { std::mem::take(b) } else { b.clone() };
        let leaf = |v: Value| Ok(Opened::Leaf(v));
        match n {
            Node::None => leaf(Value::None),
            Node::Bool(b) => leaf(Value::Bool(*b)),
            Node::Int(i) => leaf(Value::Int(*i)),
            Node::Float(f) => leaf(Value::Float(*f)),
            Node::BigInt(b) => leaf(Value::BigInt(bytes(b))),
            Node::Bytes(b) => leaf(Value::Bytes(bytes(b))),
            Node::Str(s) => leaf(Value::Str(if owned {
                std::mem::take(s)
            } else {
                s.clone()
            })),
            Node::Global { module, name } => leaf(Value::Global {
                module: module.clone(),
                name: name.clone(),
            }),
            Node::Dtype { descr, order } => {
                let o = order.as_deref().unwrap_or("");
                let o = if descr.starts_with(['<', '>', '|', '=']) {
                    ""
                } else {
                    o
                };
                leaf(Value::Dtype(format!("{o}{descr}")))
            }
            Node::Array(slot) => match if owned { slot.take() } else { slot.clone() } {
                Some(a) => leaf(Value::Array(a)),
                None => Err("numpy array was never given its state (no BUILD)".into()),
            },
            Node::List(v) => Ok(frame(Shape::List, refs(v))),
            Node::Tuple(v) => Ok(frame(Shape::Tuple, refs(v))),
            Node::Set(v) => Ok(frame(Shape::Set, refs(v))),
            Node::Dict(v) => {
                let pairs = if owned { std::mem::take(v) } else { v.clone() };
                Ok(frame(
                    Shape::Dict,
                    pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                ))
            }
            Node::Object {
                module,
                name,
                args,
                state,
            } => {
                let children = if owned {
                    let mut c = vec![std::mem::replace(args, cell(Node::None))];
                    c.extend(state.take());
                    c
                } else {
                    [args.clone()].into_iter().chain(state.clone()).collect()
                };
                let shape = Shape::Object {
                    module: module.clone(),
                    name: name.clone(),
                };
                Ok(frame(shape, children))
            }
        }
    }

    fn spend(&mut self, bytes: usize) -> std::result::Result<(), String> {
        let cost = bytes + std::mem::size_of::<Value>();
        match self.copy_budget.checked_sub(cost) {
            Some(left) => {
                self.copy_budget = left;
                Ok(())
            }
            None => Err(
                "shared objects expand beyond the size limit when copied (a reference bomb)".into(),
            ),
        }
    }
}

/// Bytes a copy of the node's own content takes (its children are counted as they are copied).
fn payload_len(n: &Node) -> usize {
    match n {
        Node::BigInt(b) | Node::Bytes(b) => b.len(),
        Node::Str(s) => s.len(),
        Node::Array(Some(a)) => a.data.len(),
        _ => 0,
    }
}

/// Test helper: writes pickles the way CPython (3.x, protocols 2 and 4) and Python 2's
/// cPickle (protocol 2) lay out CIFAR batches, so readers can be tested on full-size files.
/// The small fixtures below prove it byte-identical to real CPython output.
#[cfg(test)]
pub(crate) mod writer {
    use std::collections::HashMap;

    #[derive(Clone, Copy, PartialEq, Debug)]
    pub(crate) enum Style {
        /// Python 2 cPickle, protocol 2: text and array data as byte strings (BINSTRING).
        Py2,
        /// Python 3, protocol 2: bytes as `_codecs.encode(text, 'latin1')`.
        Py3P2,
        /// Python 3, protocol 4: framed, MEMOIZE, STACK_GLOBAL, BINBYTES.
        Py3P4,
    }

    /// The shapes of data a CIFAR batch holds.
    pub(crate) enum Item {
        Int(i64),
        Text(String),
        Ints(Vec<i64>),
        Texts(Vec<String>),
        /// A uint8 numpy array in C order.
        U8Array(Vec<usize>, Vec<u8>),
        Dict(Vec<(String, Item)>),
    }

    const FRAME_TARGET: usize = 64 * 1024;

    struct W {
        style: Style,
        out: Vec<u8>,
        frame: Vec<u8>,
        memo: u32,
        shared: HashMap<&'static str, u32>,
    }

    pub(crate) fn dumps(style: Style, item: &Item) -> Vec<u8> {
        let mut w = W {
            style,
            out: Vec::new(),
            frame: Vec::new(),
            memo: 0,
            shared: HashMap::new(),
        };
        w.out
            .extend_from_slice(&[0x80, if style == Style::Py3P4 { 4 } else { 2 }]);
        w.item(item);
        w.op(b".");
        w.commit(true);
        w.out
    }

    impl W {
        fn op(&mut self, b: &[u8]) {
            if self.style == Style::Py3P4 {
                self.frame.extend_from_slice(b);
            } else {
                self.out.extend_from_slice(b);
            }
        }
        /// Python's framer: a frame is closed once it reaches 64 KiB (checked per object).
        fn commit(&mut self, force: bool) {
            if self.style != Style::Py3P4
                || self.frame.is_empty()
                || (!force && self.frame.len() < FRAME_TARGET)
            {
                return;
            }
            if self.frame.len() >= 4 {
                self.out.push(0x95);
                self.out
                    .extend_from_slice(&(self.frame.len() as u64).to_le_bytes());
            }
            self.out.append(&mut self.frame);
        }
        fn memoize(&mut self) -> u32 {
            let i = self.memo;
            self.memo += 1;
            match self.style {
                Style::Py3P4 => self.op(&[0x94]),
                _ if i < 256 => self.op(&[b'q', i as u8]),
                _ => {
                    let mut b = vec![b'r'];
                    b.extend_from_slice(&i.to_le_bytes());
                    self.op(&b);
                }
            }
            i
        }
        fn get(&mut self, i: u32) {
            if i < 256 {
                self.op(&[b'h', i as u8]);
            } else {
                let mut b = vec![b'j'];
                b.extend_from_slice(&i.to_le_bytes());
                self.op(&b);
            }
        }
        /// An object that CPython memoizes once and refers to afterwards (globals, interned
        /// strings, numpy's uint8 dtype...): written by `first` the first time, BINGET after.
        fn shared(&mut self, key: &'static str, first: impl FnOnce(&mut Self) -> u32) {
            match self.shared.get(key) {
                Some(&i) => self.get(i),
                None => {
                    let i = first(self);
                    self.shared.insert(key, i);
                }
            }
        }
        fn int(&mut self, v: i64) {
            if (0..256).contains(&v) {
                self.op(&[b'K', v as u8]);
            } else if (0..65536).contains(&v) {
                let mut b = vec![b'M'];
                b.extend_from_slice(&(v as u16).to_le_bytes());
                self.op(&b);
            } else {
                let mut b = vec![b'J'];
                b.extend_from_slice(&(v as i32).to_le_bytes());
                self.op(&b);
            }
        }
        fn text(&mut self, s: &str) -> u32 {
            let b = s.as_bytes();
            let mut o = Vec::new();
            match self.style {
                Style::Py2 if b.len() < 256 => o.extend_from_slice(&[b'U', b.len() as u8]),
                Style::Py2 => {
                    o.push(b'T');
                    o.extend_from_slice(&(b.len() as u32).to_le_bytes());
                }
                Style::Py3P4 if b.len() < 256 => o.extend_from_slice(&[0x8c, b.len() as u8]),
                _ => {
                    o.push(b'X');
                    o.extend_from_slice(&(b.len() as u32).to_le_bytes());
                }
            }
            o.extend_from_slice(b);
            self.op(&o);
            self.memoize()
        }
        fn bytes(&mut self, b: &[u8]) -> u32 {
            match self.style {
                Style::Py2 => {
                    let mut o = vec![b'T'];
                    o.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    if b.len() < 256 {
                        o = vec![b'U', b.len() as u8];
                    }
                    o.extend_from_slice(b);
                    self.op(&o);
                    self.memoize()
                }
                Style::Py3P2 => {
                    self.shared("_codecs.encode", |w| {
                        w.op(b"c_codecs\nencode\n");
                        w.memoize()
                    });
                    let latin: String = b.iter().map(|&c| c as char).collect();
                    self.text(&latin);
                    self.shared("latin1", |w| w.text("latin1"));
                    self.op(&[0x86]);
                    self.memoize();
                    self.op(b"R");
                    self.memoize()
                }
                Style::Py3P4 => {
                    if b.len() < 256 {
                        let mut o = vec![b'C', b.len() as u8];
                        o.extend_from_slice(b);
                        self.op(&o);
                    } else {
                        let mut o = vec![b'B'];
                        o.extend_from_slice(&(b.len() as u32).to_le_bytes());
                        if b.len() >= FRAME_TARGET {
                            // Large bytes go outside any frame, as CPython writes them.
                            self.commit(true);
                            self.out.extend_from_slice(&o);
                            self.out.extend_from_slice(b);
                        } else {
                            o.extend_from_slice(b);
                            self.op(&o);
                        }
                    }
                    self.memoize()
                }
            }
        }
        fn global(&mut self, key: &'static str, module: &'static str, name: &'static str) {
            self.shared(key, |w| {
                if w.style == Style::Py3P4 {
                    w.shared(module, |w| w.text(module));
                    w.text(name);
                    w.op(&[0x93]);
                } else {
                    w.op(format!("c{module}\n{name}\n").as_bytes());
                }
                w.memoize()
            });
        }
        fn tuple(&mut self, n: usize) {
            if n <= 3 {
                self.op(&[0x84 + n as u8]);
            } else {
                self.op(b"t");
            }
            self.memoize();
        }
        fn item(&mut self, item: &Item) {
            match item {
                Item::Int(v) => self.int(*v),
                Item::Text(s) => {
                    self.text(s);
                }
                Item::Ints(v) => {
                    self.op(b"]");
                    self.memoize();
                    self.batched(v.len(), b'a', b'e', |w, i| w.int(v[i]));
                }
                Item::Texts(v) => {
                    self.op(b"]");
                    self.memoize();
                    self.batched(v.len(), b'a', b'e', |w, i| {
                        w.text(&v[i]);
                    });
                }
                Item::Dict(kv) => {
                    self.op(b"}");
                    self.memoize();
                    self.batched(kv.len(), b's', b'u', |w, i| {
                        w.text(&kv[i].0);
                        w.item(&kv[i].1);
                    });
                }
                Item::U8Array(shape, data) => self.array(shape, data),
            }
            self.commit(false);
        }
        /// CPython's batching of list/dict items: MARK ... APPENDS per 1000, single APPEND.
        fn batched(&mut self, n: usize, one: u8, many: u8, mut f: impl FnMut(&mut Self, usize)) {
            let mut start = 0;
            while start < n {
                let end = (start + 1000).min(n);
                if end - start == 1 {
                    f(self, start);
                    self.op(&[one]);
                } else {
                    self.op(b"(");
                    for i in start..end {
                        f(self, i);
                    }
                    self.op(&[many]);
                }
                start = end;
            }
        }
        fn array(&mut self, shape: &[usize], data: &[u8]) {
            let core = if self.style == Style::Py2 {
                "numpy.core.multiarray"
            } else {
                "numpy._core.multiarray"
            };
            self.global("_reconstruct", core, "_reconstruct");
            self.global("ndarray", "numpy", "ndarray");
            self.int(0);
            self.tuple(1);
            self.shared("b'b'", |w| w.bytes(b"b"));
            self.tuple(3);
            self.op(b"R");
            self.memoize();
            self.op(b"(");
            self.int(1);
            if shape.len() > 3 {
                self.op(b"(");
            }
            for &d in shape {
                self.int(d as i64);
            }
            self.tuple(shape.len());
            self.shared("dtype u1", |w| {
                w.global("dtype", "numpy", "dtype");
                w.text("u1");
                if w.style == Style::Py2 {
                    w.op(&[b'K', 0, b'K', 1]);
                } else {
                    w.op(&[0x89, 0x88]);
                }
                w.tuple(3);
                w.op(b"R");
                let dtype = w.memoize();
                w.op(b"(");
                w.int(3);
                w.text("|");
                w.op(b"NNN");
                w.int(-1);
                w.int(-1);
                w.int(0);
                w.tuple(8);
                w.op(b"b");
                // BUILD leaves the dtype on the stack; later arrays refer to the REDUCE result.
                dtype
            });
            self.op(&[0x89]);
            self.bytes(data);
            self.tuple(5);
            self.op(b"b");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::writer::{dumps, Item, Style};
    use super::*;

    // Written by CPython 3.11 with numpy 2.4 (`pickle.dumps(d, protocol=P)`) for
    // d = {'labels': [3, 1, 200, 70000, -5],
    //      'data': np.array([[0, 1, 127, 128, 200, 255], [10, 92, 39, 34, 13, 9]], np.uint8),
    //      'data2': np.array([7, 8], np.uint8), 'x': np.array([1, -2], '>i4'),
    //      'f': np.array([1.5], np.float32),
    //      'fortran': np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
    //      'big': 2**70, 'name': 'ünï\\\n', 'b': b'\x00\xff\\\n', 'nested': {'t': (1, 2.5, None, True)}}
    const PY3_P0: &str = concat!(
        "286470300a566c6162656c730a70310a286c70320a49330a6149310a61493230300a614937303030300a61492d350a61",
        "7356646174610a70330a636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a70",
        "340a28636e756d70790a6e6461727261790a70350a2849300a7470360a635f636f646563730a656e636f64650a70370a",
        "2856620a70380a566c6174696e310a70390a747031300a527031310a747031320a527031330a2849310a2849320a4936",
        "0a747031340a636e756d70790a64747970650a7031350a285675310a7031360a4930300a4930310a747031370a527031",
        "380a2849330a567c0a7031390a4e4e4e492d310a492d310a49300a747032300a624930300a67370a28565c7530303030",
        "017f80c8ff5c75303030615c753030356327225c7530303064090a7032310a67390a747032320a527032330a74703234",
        "0a62735664617461320a7032350a67340a2867350a2849300a747032360a6731310a747032370a527032380a2849310a",
        "2849320a747032390a6731380a4930300a67370a285607080a7033300a67390a747033310a527033320a747033330a62",
        "7356780a7033340a67340a2867350a2849300a747033350a6731310a747033360a527033370a2849310a2849320a7470",
        "33380a6731350a285669340a7033390a4930300a4930310a747034300a527034310a2849330a563e0a7034320a4e4e4e",
        "492d310a492d310a49300a747034330a624930300a67370a28565c75303030305c75303030305c753030303001ffffff",
        "fe0a7034340a67390a747034350a527034360a747034370a627356660a7034380a67340a2867350a2849300a74703439",
        "0a6731310a747035300a527035310a2849310a2849310a747035320a6731350a285666340a7035330a4930300a493031",
        "0a747035340a527035350a2849330a563c0a7035360a4e4e4e492d310a492d310a49300a747035370a624930300a6737",
        "0a28565c75303030305c7530303030c03f0a7035380a67390a747035390a527036300a747036310a627356666f727472",
        "616e0a7036320a67340a2867350a2849300a747036330a6731310a747036340a527036350a2849310a2849320a49330a",
        "747036360a6731350a285669320a7036370a4930300a4930310a747036380a527036390a2849330a6735360a4e4e4e49",
        "2d310a492d310a49300a747037300a624930310a67370a28565c75303030305c7530303030035c7530303030015c7530",
        "303030045c7530303030025c7530303030055c75303030300a7037310a67390a747037320a527037330a747037340a62",
        "73566269670a7037350a4c313138303539313632303731373431313330333432344c0a73566e616d650a7037360a56fc",
        "6eef5c75303035635c75303030610a7037370a7356620a7037380a67370a28565c7530303030ff5c75303035635c7530",
        "3030610a7037390a67390a747038300a527038310a73566e65737465640a7038320a28647038330a56740a7038340a28",
        "49310a46322e350a4e4930310a747038350a73732e",
    );
    const PY3_P2: &str = concat!(
        "80027d71002858060000006c6162656c7371015d7102284b034b014bc84a701101004afbffffff655804000000646174",
        "617103636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7104636e756d7079",
        "0a6e6461727261790a71054b00857106635f636f646563730a656e636f64650a7107580100000062710858060000006c",
        "6174696e31710986710a52710b87710c52710d284b014b024b0686710e636e756d70790a64747970650a710f58020000",
        "00753171108988877111527112284b0358010000007c71134e4e4e4affffffff4affffffff4b0074711462896807580f",
        "00000000017fc280c388c3bf0a5c27220d09711568098671165271177471186258050000006461746132711968046805",
        "4b0085711a680b87711b52711c284b014b0285711d681289680758020000000708711e680986711f5271207471216258",
        "01000000787122680468054b00857123680b877124527125284b014b02857126680f5802000000693471278988877128",
        "527129284b0358010000003e712a4e4e4e4affffffff4affffffff4b0074712b62896807580c00000000000001c3bfc3",
        "bfc3bfc3be712c680986712d52712e74712f625801000000667130680468054b00857131680b877132527133284b014b",
        "01857134680f5802000000663471358988877136527137284b0358010000003c71384e4e4e4affffffff4affffffff4b",
        "007471396289680758050000000000c3803f713a680986713b52713c74713d625807000000666f727472616e713e6804",
        "68054b0085713f680b877140527141284b014b024b03867142680f5802000000693271438988877144527145284b0368",
        "384e4e4e4affffffff4affffffff4b0074714662886807580c0000000000030001000400020005007147680986714852",
        "714974714a625803000000626967714b8a0900000000000000004058040000006e616d65714c5807000000c3bc6ec3af",
        "5c0a714d580100000062714e6807580500000000c3bf5c0a714f680986715052715158060000006e657374656471527d",
        "71535801000000747154284b014740040000000000004e8874715573752e",
    );
    const PY3_P4: &str = concat!(
        "80049524020000000000007d94288c066c6162656c73945d94284b034b014bc84a701101004afbffffff658c04646174",
        "61948c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e75",
        "6d7079948c076e6461727261799493944b0085944301629487945294284b014b024b06869468078c0564747970659493",
        "948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b0074946289430c00017f80c8ff0a5c",
        "27220d09947494628c05646174613294680668094b008594680b87945294284b014b0285946813894302070894749462",
        "8c017894680668094b008594680b87945294284b014b02859468108c02693494898887945294284b038c013e944e4e4e",
        "4affffffff4affffffff4b0074946289430800000001fffffffe947494628c016694680668094b008594680b87945294",
        "284b014b01859468108c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b00749462894304",
        "0000c03f947494628c07666f727472616e94680668094b008594680b87945294284b014b024b03869468108c02693294",
        "898887945294284b0368334e4e4e4affffffff4affffffff4b0074946288430c00000300010004000200050094749462",
        "8c03626967948a090000000000000000408c046e616d65948c07c3bc6ec3af5c0a948c016294430400ff5c0a948c066e",
        "6573746564947d948c017494284b014740040000000000004e88749473752e",
    );
    const PY3_P5: &str = concat!(
        "800595fd010000000000007d94288c066c6162656c73945d94284b034b014bc84a701101004afbffffff658c04646174",
        "61948c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d62756666657294939428960c0000000000",
        "000000017f80c8ff0a5c27220d09948c056e756d7079948c0564747970659493948c02753194898887945294284b038c",
        "017c944e4e4e4affffffff4affffffff4b007494624b024b0686948c014394749452948c056461746132946806289602",
        "00000000000000070894680d4b0285946811749452948c01789468062896080000000000000000000001fffffffe9468",
        "0a8c02693494898887945294284b038c013e944e4e4e4affffffff4affffffff4b007494624b0285946811749452948c",
        "0166946806289604000000000000000000c03f94680a8c02663494898887945294284b038c013c944e4e4e4affffffff",
        "4affffffff4b007494624b0185946811749452948c07666f727472616e94680628960c00000000000000000003000100",
        "04000200050094680a8c02693294898887945294284b0368284e4e4e4affffffff4affffffff4b007494624b024b0386",
        "948c014694749452948c03626967948a090000000000000000408c046e616d65948c07c3bc6ec3af5c0a948c01629443",
        "0400ff5c0a948c066e6573746564947d948c017494284b014740040000000000004e88749473752e",
    );
    const SMALL_P2: &str = concat!(
        "80027d710028580b00000062617463685f6c6162656c7101581400000074657374696e672062617463682031206f6620",
        "31710258060000006c6162656c7371035d7104284b034b084b004d2c014afeffffff655804000000646174617105636e",
        "756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7106636e756d70790a6e646172",
        "7261790a71074b00857108635f636f646563730a656e636f64650a7109580100000062710a58060000006c6174696e31",
        "710b86710c52710d87710e52710f284b014b034b04867110636e756d70790a64747970650a7111580200000075317112",
        "8988877113527114284b0358010000007c71154e4e4e4affffffff4affffffff4b0074711662896809580f00000000c2",
        "80c3bf0ac388010203095c22277117680b86711852711974711a62580900000066696c656e616d6573711b5d711c2858",
        "05000000612e706e67711d5805000000622e706e67711e5805000000632e706e67711f65580500000064617461327120",
        "680668074b00857121680d877122527123284b014b028571246814896809580300000005c3ba7125680b867126527127",
        "74712862752e",
    );
    const SMALL_P4: &str = concat!(
        "80049532010000000000007d94288c0b62617463685f6c6162656c948c1474657374696e672062617463682031206f66",
        "2031948c066c6162656c73945d94284b034b084b004d2c014afeffffff658c0464617461948c166e756d70792e5f636f",
        "72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e646172726179",
        "9493944b0085944301629487945294284b014b034b04869468098c0564747970659493948c0275319489888794529428",
        "4b038c017c944e4e4e4affffffff4affffffff4b0074946289430c0080ff0ac8010203095c2227947494628c0966696c",
        "656e616d6573945d94288c05612e706e67948c05622e706e67948c05632e706e6794658c056461746132946808680b4b",
        "008594680d87945294284b014b028594681589430205fa94749462752e",
    );
    // SMALL_P2 / SMALL_P4 above: the same CPython for
    // {'batch_label': 'testing batch 1 of 1', 'labels': [3, 8, 0, 300, -2],
    //  'data': np.array([[0, 128, 255, 10], [200, 1, 2, 3], [9, 92, 34, 39]], np.uint8),
    //  'filenames': ['a.png', 'b.png', 'c.png'], 'data2': np.array([5, 250], np.uint8)}

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    fn arr(dtype: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Value {
        Value::Array(NdArray {
            dtype: dtype.into(),
            shape: shape.to_vec(),
            fortran,
            data: data.to_vec(),
        })
    }

    fn small_item() -> Item {
        Item::Dict(vec![
            (
                "batch_label".into(),
                Item::Text("testing batch 1 of 1".into()),
            ),
            ("labels".into(), Item::Ints(vec![3, 8, 0, 300, -2])),
            (
                "data".into(),
                Item::U8Array(
                    vec![3, 4],
                    vec![0, 128, 255, 10, 200, 1, 2, 3, 9, 92, 34, 39],
                ),
            ),
            (
                "filenames".into(),
                Item::Texts(vec!["a.png".into(), "b.png".into(), "c.png".into()]),
            ),
            ("data2".into(), Item::U8Array(vec![2], vec![5, 250])),
        ])
    }

    fn check_small(v: &Value) {
        assert_eq!(
            v.get("batch_label").unwrap().as_str().unwrap(),
            "testing batch 1 of 1"
        );
        assert_eq!(
            v.get("labels").unwrap().to_int_vec().unwrap(),
            vec![3, 8, 0, 300, -2]
        );
        assert_eq!(
            v.get("data"),
            Some(&arr(
                "|u1",
                &[3, 4],
                false,
                &[0, 128, 255, 10, 200, 1, 2, 3, 9, 92, 34, 39]
            ))
        );
        assert_eq!(
            v.get("filenames").unwrap().to_str_vec().unwrap(),
            vec!["a.png", "b.png", "c.png"]
        );
        assert_eq!(v.get("data2"), Some(&arr("|u1", &[2], false, &[5, 250])));
    }

    #[test]
    fn reads_cpython_protocols_0_2_4_5() {
        let mut big = vec![0u8; 8];
        big.push(0x40); // 2**70, shortest two's complement little-endian
        for (p, hex) in [(0, PY3_P0), (2, PY3_P2), (4, PY3_P4), (5, PY3_P5)] {
            let v = loads(&unhex(hex)).unwrap_or_else(|e| panic!("protocol {p}: {e}"));
            let want = Value::Dict(vec![
                (
                    s("labels"),
                    Value::List([3, 1, 200, 70000, -5].into_iter().map(Value::Int).collect()),
                ),
                (
                    s("data"),
                    arr(
                        "|u1",
                        &[2, 6],
                        false,
                        &[0, 1, 127, 128, 200, 255, 10, 92, 39, 34, 13, 9],
                    ),
                ),
                (s("data2"), arr("|u1", &[2], false, &[7, 8])),
                (
                    s("x"),
                    arr(">i4", &[2], false, &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]),
                ),
                (s("f"), arr("<f4", &[1], false, &1.5f32.to_le_bytes())),
                // Fortran order: column by column.
                (
                    s("fortran"),
                    arr("<i2", &[2, 3], true, &[0, 0, 3, 0, 1, 0, 4, 0, 2, 0, 5, 0]),
                ),
                (s("big"), Value::BigInt(big.clone())),
                (s("name"), s("ünï\\\n")),
                (s("b"), Value::Bytes(vec![0, 0xff, b'\\', b'\n'])),
                (
                    s("nested"),
                    Value::Dict(vec![(
                        s("t"),
                        Value::Tuple(vec![
                            Value::Int(1),
                            Value::Float(2.5),
                            Value::None,
                            Value::Bool(true),
                        ]),
                    )]),
                ),
            ]);
            assert_eq!(v, want, "protocol {p}");
            let Some(Value::Array(x)) = v.get("x") else {
                panic!()
            };
            assert_eq!(x.to_i64().unwrap(), vec![1, -2]);
            let Some(Value::Array(f)) = v.get("fortran") else {
                panic!()
            };
            assert_eq!(
                f.to_i64().unwrap(),
                vec![0, 1, 2, 3, 4, 5],
                "protocol {p}: C order"
            );
        }
    }

    #[test]
    fn writer_is_byte_identical_to_cpython() {
        assert_eq!(dumps(Style::Py3P2, &small_item()), unhex(SMALL_P2));
        assert_eq!(dumps(Style::Py3P4, &small_item()), unhex(SMALL_P4));
        check_small(&loads(&unhex(SMALL_P2)).unwrap());
        check_small(&loads(&unhex(SMALL_P4)).unwrap());
    }

    #[test]
    fn reads_python2_protocol2_stream() {
        let bytes = dumps(Style::Py2, &small_item());
        // Python 2 byte strings, numpy.core paths and integer dtype flags, nothing else.
        assert!(bytes.windows(22).any(|w| w == b"numpy.core.multiarray\n"));
        assert!(!bytes.windows(7).any(|w| w == b"_codecs"));
        let v = loads(&bytes).unwrap();
        check_small(&v);
        assert!(matches!(v.get("batch_label"), Some(Value::Bytes(_))));
    }

    #[test]
    fn reads_python2_protocol0_stream() {
        // What Python 2.7's pickle.dumps(d) (protocol 0) writes for
        // {'labels': [3, 1], 'data': numpy.array([0, 255, 39, 10], numpy.uint8)}.
        let p0: &[u8] = b"(dp0\nS'labels'\np1\n(lp2\nI3\naI1\nasS'data'\np3\n\
            cnumpy.core.multiarray\n_reconstruct\np4\n(cnumpy\nndarray\np5\n(I0\ntp6\nS'b'\np7\n\
            tp8\nRp9\n(I1\n(I4\ntp10\ncnumpy\ndtype\np11\n(S'u1'\np12\nI0\nI1\ntp13\nRp14\n\
            (I3\nS'|'\np15\nNNNI-1\nI-1\nI0\ntp16\nbI00\nS\"\\x00\\xff'\\n\"\np17\ntp18\nbs.";
        let v = loads(p0).unwrap();
        assert_eq!(v.get("labels").unwrap().to_int_vec().unwrap(), vec![3, 1]);
        assert_eq!(
            v.get("data"),
            Some(&arr("|u1", &[4], false, &[0, 255, 39, 10]))
        );
    }

    #[test]
    fn memo_shares_mutated_objects() {
        // A list memoized empty, filled by APPENDS, then fetched again with BINGET:
        // both references must see the items.
        let bytes = b"\x80\x02]q\x00(K\x01K\x02eh\x00\x86q\x01.";
        let v = loads(bytes).unwrap();
        let l = Value::List(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(v, Value::Tuple(vec![l.clone(), l]));
    }

    #[test]
    fn never_executes_and_rejects_bad_streams() {
        // os.system('rm -rf /') stays an inert object.
        let v = loads(b"\x80\x02cos\nsystem\nX\x08\x00\x00\x00rm -rf /\x85R.").unwrap();
        assert!(
            matches!(v, Value::Object { ref module, ref name, .. } if module == "os" && name == "system")
        );
        // Every truncation of a real pickle is an error, never a panic.
        let full = unhex(PY3_P2);
        for n in 0..full.len() - 1 {
            assert!(loads(&full[..n]).is_err(), "prefix {n} accepted");
        }
        let e = loads(b"\x80\x02\xff").unwrap_err();
        assert!(e.msg.contains("unknown opcode 0xff"), "{e}");
        assert!(loads(b"\x80\x02h\x05.")
            .unwrap_err()
            .msg
            .contains("memo key 5"));
        // Array data shorter than its shape needs.
        let mut bad = unhex(SMALL_P4);
        let pos = bad.windows(2).position(|w| w == [0x43, 0x0c]).unwrap();
        bad[pos + 1] = 0x0b;
        bad.remove(pos + 2);
        let e = loads(&bad).unwrap_err();
        assert!(e.msg.contains("needs 12 bytes, the pickle holds 11"), "{e}");
        assert!(loads(b"\x80\x06.").unwrap_err().msg.contains("protocol 6"));
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        [&b"\x80\x02"[..], body, b"."].concat()
    }

    /// Pickles nesting `n` deep in every way the opcodes allow.
    fn nestings(n: usize) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            // EMPTY_LIST x n, APPEND x (n - 1).
            ("lists", [vec![b']'; n], vec![b'a'; n - 1]].concat()),
            // MARK x n, LIST x n: [[[...]]] the protocol-0 way.
            ("marked lists", [vec![b'('; n], vec![b'l'; n]].concat()),
            // EMPTY_TUPLE, TUPLE1 x n.
            ("tuples", [vec![b')'], vec![0x85; n]].concat()),
            // EMPTY_TUPLE, (MARK, TUPLE) wrapping: MARK x n first, then TUPLE x n.
            ("marked tuples", [vec![b'('; n], vec![b't'; n]].concat()),
            // EMPTY_DICT, (BININT1 0, EMPTY_DICT) x n, SETITEM x n.
            (
                "dicts",
                [vec![b'}'], b"K\x00}".repeat(n), vec![b's'; n]].concat(),
            ),
            // EMPTY_SET, (MARK, EMPTY_SET ... ADDITEMS): sets of sets.
            (
                "sets",
                [vec![0x8f], [b'(', 0x8f].repeat(n), vec![0x90; n]].concat(),
            ),
            // Through the memo: l = [l] n times, each level stored and fetched again.
            (
                "memo",
                [
                    b"]q\x00\x30".to_vec(),
                    b"]h\x00aq\x00\x30".repeat(n),
                    b"h\x00".to_vec(),
                ]
                .concat(),
            ),
            // Opaque objects whose arguments nest, MARK GLOBAL ... OBJ: m.f(m.f(...)), two
            // levels (object, argument tuple) each.
            (
                "objects",
                [b"(cm\nf\n".repeat(n / 2), vec![b')'], vec![b'o'; n / 2]].concat(),
            ),
        ]
    }

    #[test]
    fn nesting_is_bounded_in_every_shape() {
        // On a small stack: nothing recurses on the depth of the data.
        let small = std::thread::Builder::new().stack_size(256 << 10);
        small
            .spawn(|| {
                for (shape, body) in nestings(200_000) {
                    let e = loads(&framed(&body)).unwrap_err();
                    assert!(
                        e.msg.contains("nesting deeper than 512 levels"),
                        "{shape}: {e}"
                    );
                    // Without STOP the machine fails holding the deep structure: dropped, no
                    // overflow.
                    let e = loads(&[&b"\x80\x02"[..], &body].concat()).unwrap_err();
                    assert!(e.msg.contains("truncated"), "{shape}: {e}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
        // Within the limit every shape converts.
        for (shape, body) in nestings(500) {
            let v = loads(&framed(&body)).unwrap_or_else(|e| panic!("{shape}: {e}"));
            let mut depth = 0;
            let mut cur = &v;
            loop {
                let next = match cur {
                    Value::List(x) | Value::Tuple(x) | Value::Set(x) => x.first(),
                    Value::Dict(x) => x.first().map(|(_, v)| v),
                    Value::Object { args, .. } => {
                        depth += 1;
                        args.as_seq().and_then(|a| a.first())
                    }
                    _ => None,
                };
                match next {
                    Some(n) => {
                        depth += 1;
                        cur = n;
                    }
                    None => break,
                }
            }
            assert!((499..=501).contains(&depth), "{shape}: depth {depth}");
        }
    }

    #[test]
    fn nesting_grown_after_the_fact_is_bounded_too() {
        // Lists stored empty, then each appended to the one before it through the memo:
        // the nesting is made by mutation, not by construction.
        let n = 100_000u32;
        let mut b = Vec::new();
        for i in 0..n {
            b.push(b']');
            b.push(b'r');
            b.extend(i.to_le_bytes());
            b.push(b'0');
        }
        for i in 1..n {
            for j in [i - 1, i] {
                b.push(b'j');
                b.extend(j.to_le_bytes());
            }
            b.extend(b"a0");
        }
        b.extend(b"j\x00\x00\x00\x00");
        let e = loads(&framed(&b)).unwrap_err();
        assert!(e.msg.contains("nesting deeper than 512"), "{e}");
        // A list holding itself.
        let e = loads(b"\x80\x02]q\x00h\x00a.").unwrap_err();
        assert!(e.msg.contains("nesting deeper than 512"), "{e}");
    }

    #[test]
    fn shared_references_cannot_multiply_without_bound() {
        // l = [l, l] sixty times: 2**60 leaves once copied out.
        let mut b = b"]q\x00\x30".to_vec();
        b.extend(b"(h\x00h\x00lq\x00\x30".repeat(60));
        b.extend(b"h\x00");
        let e = loads(&framed(&b)).unwrap_err();
        assert!(e.msg.contains("reference bomb"), "{e}");
        // One 1 MB byte string referenced 100,000 times from a 200 KB pickle.
        let mut b = b"B\x00\x00\x10\x00".to_vec();
        b.extend(vec![7u8; 1 << 20]);
        b.extend(b"q\x00\x30(");
        b.extend(b"h\x00".repeat(100_000));
        b.push(b'l');
        let e = loads(&framed(&b)).unwrap_err();
        assert!(e.msg.contains("reference bomb"), "{e}");
        // Modest sharing, as real pickles have, is copied.
        let mut b = b"X\x03\x00\x00\x00abcq\x00\x30(".to_vec();
        b.extend(b"h\x00".repeat(1000));
        b.push(b'l');
        let v = loads(&framed(&b)).unwrap();
        assert_eq!(v.as_seq().unwrap().len(), 1000);
        assert!(v.as_seq().unwrap().iter().all(|x| *x == s("abc")));
    }
}

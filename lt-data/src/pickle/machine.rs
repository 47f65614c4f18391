//! The unpickling machine: reads opcodes, keeps the stack, the marks and the memo, and hands
//! the finished object to the converter at STOP. Nothing is ever executed: calls are
//! interpreted in `callables.rs`.

use super::callables::pairs;
use super::cells::{Cell, Node};
use super::convert::Converter;
use super::error::PickleError;
use super::opcodes::*;
use super::text::{long_from_bytes, parse_int, raw_unicode_unescape, unquote_py2};
use super::value::{Py, Value};
use std::collections::HashMap;

type Step = Result<(), PickleError>;

pub(super) struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    pub(super) stack: Vec<Cell>,
    pub(super) marks: Vec<usize>,
    memo: HashMap<u64, Cell>,
}

impl<'a> Machine<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Machine {
            input,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    pub(super) fn err<T>(&self, msg: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            offset: self.pos,
            msg: msg.into(),
        })
    }

    /// The value of a decoded operand, or the error `msg` when it did not decode.
    fn decoded<T>(&self, v: Option<T>, msg: impl FnOnce() -> String) -> Result<T, PickleError> {
        match v {
            Some(v) => Ok(v),
            None => self.err(msg()),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
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

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn len64(&mut self) -> Result<usize, PickleError> {
        let n = self.u64()?;
        usize::try_from(n).or_else(|_| self.err(format!("length {n} too large")))
    }

    /// A protocol-0 argument: the bytes up to the next newline.
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        match self.input[self.pos..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let s = &self.input[self.pos..self.pos + i];
                self.pos += i + 1;
                Ok(s)
            }
            None => self.err("truncated: missing end of line"),
        }
    }

    fn line_str(&mut self) -> Result<String, PickleError> {
        let l = self.line()?;
        String::from_utf8(l.to_vec()).or_else(|_| self.err("non-UTF-8 text line"))
    }

    fn utf8(&self, b: &[u8]) -> Result<String, PickleError> {
        String::from_utf8(b.to_vec()).or_else(|_| self.err("invalid UTF-8 in a unicode string"))
    }

    pub(super) fn push(&mut self, n: Node) {
        self.stack.push(Cell::new(n));
    }

    pub(super) fn pop(&mut self) -> Result<Cell, PickleError> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) && !self.marks.is_empty() {
            return self.err("stack underflow (crossing a MARK)");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    pub(super) fn top(&self) -> Result<Cell, PickleError> {
        match self.stack.last() {
            Some(v) => Ok(v.clone()),
            None => self.err("stack empty"),
        }
    }

    /// Pops everything above the last MARK, and the mark itself.
    pub(super) fn pop_mark(&mut self) -> Result<Vec<Cell>, PickleError> {
        match self.marks.pop() {
            Some(m) => Ok(self.stack.split_off(m)),
            None => self.err("no MARK on the stack"),
        }
    }

    fn put(&mut self, idx: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(idx, top);
        Ok(())
    }

    fn get(&mut self, idx: u64) -> Result<(), PickleError> {
        match self.memo.get(&idx) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            None => self.err(format!("memo key {idx} was never stored")),
        }
    }

    /// Runs to STOP and converts the result.
    pub(super) fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                STOP => {
                    let v = self.pop()?;
                    let off = self.pos;
                    drop(std::mem::take(&mut self.memo));
                    drop(std::mem::take(&mut self.stack));
                    return Converter::new(self.input.len(), off).convert(v);
                }
                PROTO => {
                    let p = self.u8()?;
                    if p > 5 {
                        return self.err(format!("unsupported protocol {p}"));
                    }
                }
                // FRAME: only a read-ahead hint.
                FRAME => drop(self.u64()?),
                _ => self.step(op)?,
            }
        }
    }

    /// One opcode other than STOP, PROTO and FRAME, by family.
    fn step(&mut self, op: u8) -> Step {
        match op {
            MARK | POP | POP_MARK | DUP => self.stack_op(op),
            NONE | NEWTRUE | NEWFALSE | INT | LONG | BININT | BININT1 | BININT2 | LONG1 | LONG4
            | FLOAT | BINFLOAT => {
                let n = self.number(op)?;
                self.push(n);
                Ok(())
            }
            STRING | BINSTRING | SHORT_BINSTRING | BINBYTES | SHORT_BINBYTES | BINBYTES8
            | BYTEARRAY8 | UNICODE | BINUNICODE | SHORT_BINUNICODE | BINUNICODE8 => {
                let n = self.text(op)?;
                self.push(n);
                Ok(())
            }
            NEXT_BUFFER => self.err("out-of-band buffers (NEXT_BUFFER) are not supported"),
            READONLY_BUFFER => Ok(()), // Same data either way.
            EMPTY_TUPLE | TUPLE | TUPLE1 | TUPLE2 | TUPLE3 | EMPTY_LIST | LIST | EMPTY_DICT
            | DICT | EMPTY_SET | FROZENSET => {
                let n = self.container(op)?;
                self.push(n);
                Ok(())
            }
            APPEND | APPENDS | SETITEM | SETITEMS | ADDITEMS => self.add_items(op),
            PUT | BINPUT | LONG_BINPUT | MEMOIZE | GET | BINGET | LONG_BINGET => self.memo_op(op),
            GLOBAL | STACK_GLOBAL | REDUCE | NEWOBJ | NEWOBJ_EX | OBJ | INST | BUILD => {
                self.object_op(op)
            }
            PERSID | BINPERSID => self.err("persistent ids are not supported"),
            EXT1..=EXT4 => self.err("extension registry codes are not supported"),
            _ => self.err(format!("unknown opcode 0x{op:02x}")),
        }
    }

    /// MARK, POP, POP_MARK, DUP.
    fn stack_op(&mut self, op: u8) -> Step {
        match op {
            MARK => self.marks.push(self.stack.len()),
            // POP with nothing above the last MARK discards the mark (as CPython).
            POP if self.marks.last() == Some(&self.stack.len()) => drop(self.marks.pop()),
            POP => drop(self.pop()?),
            POP_MARK => drop(self.pop_mark()?),
            _ => {
                let t = self.top()?;
                self.stack.push(t);
            }
        }
        Ok(())
    }

    /// None, booleans, integers and floats.
    fn number(&mut self, op: u8) -> Result<Node, PickleError> {
        Ok(match op {
            NONE => Py::None,
            NEWTRUE => Py::Bool(true),
            NEWFALSE => Py::Bool(false),
            INT => {
                let l = self.line_str()?;
                match l.as_str() {
                    "00" => Py::Bool(false),
                    "01" => Py::Bool(true),
                    s => self.decoded(parse_int(s), || format!("bad INT {s:?}"))?,
                }
            }
            LONG => {
                let l = self.line_str()?;
                let s = l.strip_suffix('L').unwrap_or(&l);
                self.decoded(parse_int(s), || format!("bad LONG {l:?}"))?
            }
            BININT => Py::Int(self.u32()? as i32 as i64),
            BININT1 => Py::Int(self.u8()? as i64),
            BININT2 => Py::Int(self.u16()? as i64),
            LONG1 => {
                let n = self.u8()? as usize;
                long_from_bytes(self.take(n)?)
            }
            LONG4 => {
                let n = self.u32()? as i32;
                if n < 0 {
                    return self.err("LONG4 with negative length");
                }
                long_from_bytes(self.take(n as usize)?)
            }
            FLOAT => {
                let l = self.line_str()?;
                let f = l.trim().parse::<f64>().ok();
                Py::Float(self.decoded(f, || format!("bad FLOAT {l:?}"))?)
            }
            _ => Py::Float(f64::from_be_bytes(self.take(8)?.try_into().unwrap())),
        })
    }

    /// Byte strings (Python 2 `str`, `bytes`, `bytearray`) and text.
    fn text(&mut self, op: u8) -> Result<Node, PickleError> {
        let bytes = match op {
            STRING => {
                let b = unquote_py2(self.line()?);
                return Ok(Py::Bytes(self.decoded(b, || "bad quoted STRING".into())?));
            }
            BINSTRING => {
                let n = self.u32()? as i32;
                if n < 0 {
                    return self.err("BINSTRING with negative length");
                }
                n as usize
            }
            SHORT_BINSTRING | SHORT_BINBYTES => self.u8()? as usize,
            BINBYTES => self.u32()? as usize,
            BINBYTES8 | BYTEARRAY8 => self.len64()?,
            UNICODE => {
                let s = raw_unicode_unescape(self.line()?);
                return Ok(Py::Str(self.decoded(s, || "bad UNICODE escape".into())?));
            }
            _ => {
                let n = match op {
                    BINUNICODE => self.u32()? as usize,
                    SHORT_BINUNICODE => self.u8()? as usize,
                    _ => self.len64()?,
                };
                let b = self.take(n)?;
                return Ok(Py::Str(self.utf8(b)?));
            }
        };
        Ok(Py::Bytes(self.take(bytes)?.to_vec()))
    }

    /// Tuples, lists, dicts and sets built whole.
    fn container(&mut self, op: u8) -> Result<Node, PickleError> {
        Ok(match op {
            EMPTY_TUPLE => Py::Tuple(Vec::new()),
            TUPLE => Py::Tuple(self.pop_mark()?),
            TUPLE1 | TUPLE2 | TUPLE3 => {
                let n = (op - TUPLE1) as usize + 1;
                if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                    return self.err("stack underflow building a tuple");
                }
                Py::Tuple(self.stack.split_off(self.stack.len() - n))
            }
            EMPTY_LIST => Py::List(Vec::new()),
            LIST => Py::List(self.pop_mark()?),
            EMPTY_DICT => Py::Dict(Vec::new()),
            DICT => {
                let items = self.pop_mark()?;
                Py::Dict(pairs(self, items)?)
            }
            EMPTY_SET => Py::Set(Vec::new()),
            _ => Py::Set(self.pop_mark()?),
        })
    }

    /// APPEND(S), SETITEM(S), ADDITEMS: items added to the container on top of the stack.
    fn add_items(&mut self, op: u8) -> Step {
        match op {
            APPEND => {
                let v = self.pop()?;
                self.extend_list(vec![v])
            }
            APPENDS => {
                let items = self.pop_mark()?;
                self.extend_list(items)
            }
            SETITEM => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![(k, v)])
            }
            SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = pairs(self, items)?;
                self.set_items(pairs)
            }
            _ => {
                let items = self.pop_mark()?;
                let top = self.top()?;
                let mut t = top.borrow_mut();
                match &mut *t {
                    Py::Set(v) => {
                        v.extend(items);
                        Ok(())
                    }
                    _ => self.err("ADDITEMS on a non-set"),
                }
            }
        }
    }

    fn extend_list(&self, items: Vec<Cell>) -> Step {
        let top = self.top()?;
        let mut t = top.borrow_mut();
        match &mut *t {
            Py::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => self.err("APPEND to something that is not a list"),
        }
    }

    fn set_items(&self, pairs: Vec<(Cell, Cell)>) -> Step {
        let top = self.top()?;
        let mut t = top.borrow_mut();
        match &mut *t {
            Py::Dict(v) => {
                v.extend(pairs);
                Ok(())
            }
            _ => self.err("SETITEM on something that is not a dict"),
        }
    }

    /// PUT, BINPUT, LONG_BINPUT, MEMOIZE; GET, BINGET, LONG_BINGET.
    fn memo_op(&mut self, op: u8) -> Step {
        if op == MEMOIZE {
            return self.put(self.memo.len() as u64);
        }
        // The memo index: a decimal line, one byte or four.
        let i = match op {
            PUT | GET => {
                let l = self.line_str()?;
                let name = if op == PUT { "PUT" } else { "GET" };
                l.parse()
                    .or_else(|_| self.err(format!("bad {name} {l:?}")))?
            }
            BINPUT | BINGET => self.u8()? as u64,
            _ => self.u32()? as u64,
        };
        match op {
            PUT | BINPUT | LONG_BINPUT => self.put(i),
            _ => self.get(i),
        }
    }

    /// Globals, calls (interpreted or kept opaque, never run) and BUILD.
    fn object_op(&mut self, op: u8) -> Step {
        let n = match op {
            GLOBAL => {
                let module = self.line_str()?;
                let name = self.line_str()?;
                Py::Global { module, name }
            }
            STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (m, n) = match (&*module.borrow(), &*name.borrow()) {
                    (Py::Str(m), Py::Str(n)) => (m.clone(), n.clone()),
                    _ => return self.err("STACK_GLOBAL needs two strings"),
                };
                Py::Global { module: m, name: n }
            }
            REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.reduce(&callable, args)?
            }
            NEWOBJ => {
                let args = self.pop()?;
                let cls = self.pop()?;
                self.opaque(&cls, args)?
            }
            NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                self.opaque(&cls, Cell::new(Py::Tuple(vec![args, kwargs])))?
            }
            OBJ => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return self.err("OBJ without a class");
                }
                let cls = items.remove(0);
                self.opaque(&cls, Cell::new(Py::Tuple(items)))?
            }
            INST => {
                let module = self.line_str()?;
                let name = self.line_str()?;
                let items = self.pop_mark()?;
                Py::Object {
                    module,
                    name,
                    args: Cell::new(Py::Tuple(items)),
                    state: None,
                }
            }
            _ => {
                let state = self.pop()?;
                let target = self.top()?;
                return self.build(&target, state);
            }
        };
        self.push(n);
        Ok(())
    }
}

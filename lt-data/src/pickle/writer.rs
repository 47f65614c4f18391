//! Test helper: writes pickles the way CPython (3.x, protocols 2 and 4) and Python 2's
//! cPickle (protocol 2) lay out CIFAR batches, so readers can be tested on full-size files.
//! The fixtures in `tests.rs` prove it byte-identical to real CPython output.

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

//! The calls a pickle asks for, interpreted and never run: the handful of callables that
//! build plain data (`_codecs.encode`, `bytes`/`bytearray`, `set`/`frozenset`, and numpy's
//! `_reconstruct` + BUILD, `dtype`, `_frombuffer`, `scalar`); every other call becomes an
//! opaque object holding its arguments and state.

use super::cells::{kind_of, Cell, DtypeParts, Node};
use super::error::PickleError;
use super::machine::Machine;
use super::ndarray::{item_size, NdArray};
use super::text::encode_text;
use super::value::Py;

type Made = Result<Node, PickleError>;

/// What a BUILD does to its target.
enum Update {
    Array(NdArray),
    /// The dtype's byte order, when the state names one.
    Order(Option<String>),
    State(Cell),
    Items(Vec<(Cell, Cell)>),
}

/// The byte order a dtype's BUILD state names (its second item, text or bytes).
fn dtype_order(state: &Cell) -> Option<String> {
    let Py::Tuple(items) = &*state.borrow() else {
        return None;
    };
    let order = items.get(1)?.borrow();
    match &*order {
        Py::Str(o) => Some(o.clone()),
        Py::Bytes(o) => Some(String::from_utf8_lossy(o).into()),
        _ => None,
    }
}

/// Key/value pairs from the items above a MARK.
pub(super) fn pairs(m: &Machine, items: Vec<Cell>) -> Result<Vec<(Cell, Cell)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return m.err("odd number of items for a dict");
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// What a module name is, for the callables interpreted here.
fn is_numpy_multiarray(module: &str) -> bool {
    matches!(module, "numpy.core.multiarray" | "numpy._core.multiarray")
}
fn is_numpy_numeric(module: &str) -> bool {
    matches!(module, "numpy.core.numeric" | "numpy._core.numeric")
}
fn is_builtins(module: &str) -> bool {
    matches!(module, "builtins" | "__builtin__")
}

impl Machine<'_> {
    fn global_name(&self, callable: &Cell) -> Result<(String, String), PickleError> {
        match &*callable.borrow() {
            Py::Global { module, name } => Ok((module.clone(), name.clone())),
            other => self.err(format!("call of a non-global ({})", kind_of(other))),
        }
    }

    /// NEWOBJ, NEWOBJ_EX, OBJ: an object kept opaque.
    pub(super) fn opaque(&self, callable: &Cell, args: Cell) -> Made {
        let (module, name) = self.global_name(callable)?;
        Ok(Py::Object {
            module,
            name,
            args,
            state: None,
        })
    }

    /// REDUCE: interprets the handful of data-building callables, keeps the rest opaque.
    pub(super) fn reduce(&self, callable: &Cell, args: Cell) -> Made {
        let (module, name) = self.global_name(callable)?;
        let a = args.borrow();
        let argv: &[Cell] = match &*a {
            Py::Tuple(v) => v,
            _ => return self.err(format!("{module}.{name}: arguments are not a tuple")),
        };
        let (m, builtins) = (module.as_str(), is_builtins(&module));
        match (m, name.as_str()) {
            ("_codecs", "encode") => self.codecs_encode(argv),
            (_, "_reconstruct") if is_numpy_multiarray(m) => Ok(Py::Array(None)),
            ("numpy", "dtype") => self.numpy_dtype(argv),
            (_, "_frombuffer") if is_numpy_numeric(m) => self.frombuffer(argv),
            (_, "scalar") if is_numpy_multiarray(m) => self.numpy_scalar(argv),
            ("bytearray" | "bytes", _) | (_, "bytearray" | "bytes") if builtins => {
                self.builtin_bytes(&name, argv)
            }
            (_, "set" | "frozenset") if builtins => match argv.first() {
                None => Ok(Py::Set(Vec::new())),
                Some(r) => match &*r.borrow() {
                    Py::List(v) | Py::Tuple(v) => Ok(Py::Set(v.clone())),
                    _ => self.err(format!("{name}: argument is not a list")),
                },
            },
            _ => {
                drop(a);
                Ok(Py::Object {
                    module,
                    name,
                    args,
                    state: None,
                })
            }
        }
    }

    /// `_codecs.encode(text, encoding)`: how Python 3 pickles `bytes` at protocol 2.
    fn codecs_encode(&self, argv: &[Cell]) -> Made {
        let text = match argv.first().map(|r| r.borrow()) {
            Some(r) => match &*r {
                Py::Str(s) => s.clone(),
                _ => return self.err("_codecs.encode of a non-string"),
            },
            None => return self.err("_codecs.encode without arguments"),
        };
        let enc = match argv.get(1).map(|r| r.borrow()) {
            Some(r) => match &*r {
                Py::Str(s) => s.to_ascii_lowercase(),
                _ => return self.err("_codecs.encode: encoding is not a string"),
            },
            None => "utf-8".to_string(),
        };
        encode_text(&text, &enc)
            .map(Py::Bytes)
            .ok_or(())
            .or_else(|_| self.err(format!("_codecs.encode: cannot encode with {enc:?}")))
    }

    /// `numpy.dtype(descr, align, copy)`: the byte order comes later, with BUILD.
    fn numpy_dtype(&self, argv: &[Cell]) -> Made {
        let descr = match argv.first().map(|r| r.borrow()) {
            Some(r) => match &*r {
                Py::Str(s) => s.clone(),
                Py::Bytes(b) => String::from_utf8_lossy(b).into(),
                _ => return self.err("numpy.dtype: type is not a string"),
            },
            None => return self.err("numpy.dtype without arguments"),
        };
        Ok(Py::Dtype(DtypeParts { descr, order: None }))
    }

    /// `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5 arrays).
    fn frombuffer(&self, argv: &[Cell]) -> Made {
        if argv.len() != 4 {
            return self.err("numpy _frombuffer needs (buffer, dtype, shape, order)");
        }
        let data = self.bytes_of(&argv[0], "_frombuffer buffer")?;
        let dtype = self.dtype_of(&argv[1])?;
        let shape = self.shape_of(&argv[2])?;
        let fortran = matches!(&*argv[3].borrow(), Py::Str(s) if s == "F");
        self.array(dtype, shape, fortran, data)
            .map(|a| Py::Array(Some(a)))
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)`: a 0-d array.
    fn numpy_scalar(&self, argv: &[Cell]) -> Made {
        if argv.len() != 2 {
            return self.err("numpy scalar needs (dtype, bytes)");
        }
        let dtype = self.dtype_of(&argv[0])?;
        let data = self.bytes_of(&argv[1], "numpy scalar data")?;
        self.array(dtype, Vec::new(), false, data)
            .map(|a| Py::Array(Some(a)))
    }

    /// `bytes(...)` / `bytearray(...)` of nothing, bytes, text with an encoding, or a list.
    fn builtin_bytes(&self, name: &str, argv: &[Cell]) -> Made {
        let Some(r) = argv.first() else {
            return Ok(Py::Bytes(Vec::new()));
        };
        match &*r.borrow() {
            Py::Bytes(b) => Ok(Py::Bytes(b.clone())),
            Py::Str(s) => {
                let enc = match argv.get(1).map(|e| e.borrow()) {
                    Some(e) => match &*e {
                        Py::Str(e) => e.to_ascii_lowercase(),
                        _ => "utf-8".into(),
                    },
                    None => "utf-8".into(),
                };
                encode_text(s, &enc)
                    .map(Py::Bytes)
                    .ok_or(())
                    .or_else(|_| self.err(format!("{name}: cannot encode with {enc:?}")))
            }
            Py::List(items) => items
                .iter()
                .map(|i| match &*i.borrow() {
                    Py::Int(v) if (0..256).contains(v) => Ok(*v as u8),
                    _ => self.err(format!("{name}: list item is not a byte")),
                })
                .collect::<Result<Vec<u8>, _>>()
                .map(Py::Bytes),
            _ => self.err(format!("{name}: unsupported argument")),
        }
    }

    /// BUILD: numpy arrays and dtypes take their state; other objects keep it. What BUILD
    /// takes from the state is read before the target is borrowed for writing: the state may
    /// hold the target itself.
    pub(super) fn build(&self, target: &Cell, state: Cell) -> Result<(), PickleError> {
        let update = match &*target.borrow() {
            Py::Array(_) => Update::Array(self.array_state(&state)?),
            Py::Dtype(_) => Update::Order(dtype_order(&state)),
            Py::Object { .. } => Update::State(state),
            // A dict subclass's BUILD with a plain dict state sets attributes; keep them.
            Py::Dict(_) => match &*state.borrow() {
                Py::Dict(extra) => Update::Items(extra.clone()),
                _ => Update::Items(Vec::new()),
            },
            other => return self.err(format!("BUILD on a {}", kind_of(other))),
        };
        // Each update is applied to the kind of target it was made for, matched above.
        match (&mut *target.borrow_mut(), update) {
            (Py::Array(slot), Update::Array(a)) => *slot = Some(a),
            (Py::Dtype(d), Update::Order(Some(o))) => d.order = Some(o),
            (Py::Object { state: slot, .. }, Update::State(s)) => *slot = Some(s),
            (Py::Dict(items), Update::Items(extra)) => items.extend(extra),
            _ => {}
        }
        Ok(())
    }

    /// An ndarray from its BUILD state: (version, shape, dtype, is_fortran, data), or the old
    /// form without version.
    fn array_state(&self, state: &Cell) -> Result<NdArray, PickleError> {
        let s = state.borrow();
        let items: &[Cell] = match &*s {
            Py::Tuple(v) => v,
            _ => return self.err("ndarray state is not a tuple"),
        };
        let items = match items.len() {
            5 => &items[1..],
            4 => items,
            n => return self.err(format!("ndarray state has {n} items, expected 4 or 5")),
        };
        let shape = self.shape_of(&items[0])?;
        let dtype = self.dtype_of(&items[1])?;
        let fortran = match &*items[2].borrow() {
            Py::Bool(b) => *b,
            Py::Int(i) => *i != 0,
            _ => return self.err("ndarray state: is_fortran is not a bool"),
        };
        if dtype
            .trim_start_matches(['<', '>', '|', '='])
            .starts_with('O')
        {
            return self.err("object arrays (dtype O) are not supported");
        }
        let data = self.bytes_of(&items[3], "ndarray data")?;
        self.array(dtype, shape, fortran, data)
    }

    fn bytes_of(&self, r: &Cell, what: &str) -> Result<Vec<u8>, PickleError> {
        match &*r.borrow() {
            Py::Bytes(b) => Ok(b.clone()),
            // Python 3 reading Python 2 data with encoding='latin1' gives str; accept it too.
            Py::Str(s) => encode_text(s, "latin1")
                .ok_or(())
                .or_else(|_| self.err(format!("{what}: text beyond Latin-1"))),
            other => self.err(format!("{what} is a {}, not bytes", kind_of(other))),
        }
    }

    fn dtype_of(&self, r: &Cell) -> Result<String, PickleError> {
        match &*r.borrow() {
            Py::Dtype(DtypeParts { descr, order }) => {
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

    fn shape_of(&self, r: &Cell) -> Result<Vec<usize>, PickleError> {
        match &*r.borrow() {
            Py::Tuple(v) | Py::List(v) => v
                .iter()
                .map(|d| match &*d.borrow() {
                    Py::Int(i) if *i >= 0 => Ok(*i as usize),
                    _ => self.err("array shape entry is not a non-negative int"),
                })
                .collect(),
            Py::Int(i) if *i >= 0 => Ok(vec![*i as usize]),
            _ => self.err("array shape is not a tuple"),
        }
    }

    fn array(
        &self,
        dtype: String,
        shape: Vec<usize>,
        fortran: bool,
        data: Vec<u8>,
    ) -> Result<NdArray, PickleError> {
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

//! The one value type: a decoded Python value, [`Py`], generic over how it holds what it
//! contains ([`Repr`]). Loaded values are [`Value`] (`Py<Plain>`): plain trees. The machine
//! works on `Py<Cells>`: the same variants holding shared cells, so that a memoized container
//! mutated later is the same object everywhere (see `cells.rs`).

use super::ndarray::NdArray;

/// How a [`Py`] holds its parts.
pub trait Repr {
    /// An item of a list, tuple or set, or a key or value of a dict.
    type Item;
    /// An opaque object's arguments or state.
    type Boxed;
    /// A numpy array.
    type Array;
    /// A numpy dtype.
    type Dtype;
}

/// A decoded Python value.
pub enum Py<R: Repr> {
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
    List(Vec<R::Item>),
    Tuple(Vec<R::Item>),
    Set(Vec<R::Item>),
    /// Key/value pairs in pickle order.
    Dict(Vec<(R::Item, R::Item)>),
    /// A numpy array (0-d for numpy scalars).
    Array(R::Array),
    /// A numpy dtype: numpy's type string with its byte order, e.g. `|u1`, `<i8`.
    Dtype(R::Dtype),
    /// A reference to a module-level name that was never called.
    Global {
        module: String,
        name: String,
    },
    /// Any other object: what would have built it, never run.
    Object {
        module: String,
        name: String,
        args: R::Boxed,
        state: Option<R::Boxed>,
    },
}

/// Loaded values: plain trees owning their items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plain;

impl Repr for Plain {
    type Item = Value;
    type Boxed = Box<Value>;
    type Array = NdArray;
    type Dtype = String;
}

/// A loaded Python value.
pub type Value = Py<Plain>;

// Clone, PartialEq and Debug are written out for `Value`: derived ones would bound `Py<R>` on
// `R::Item`, which for `Plain` is `Value` itself, and the trait solver cannot close that loop.
impl Clone for Value {
    fn clone(&self) -> Self {
        match self {
            Py::None => Py::None,
            Py::Bool(b) => Py::Bool(*b),
            Py::Int(i) => Py::Int(*i),
            Py::BigInt(b) => Py::BigInt(b.clone()),
            Py::Float(f) => Py::Float(*f),
            Py::Str(s) => Py::Str(s.clone()),
            Py::Bytes(b) => Py::Bytes(b.clone()),
            Py::List(v) => Py::List(v.clone()),
            Py::Tuple(v) => Py::Tuple(v.clone()),
            Py::Set(v) => Py::Set(v.clone()),
            Py::Dict(v) => Py::Dict(v.clone()),
            Py::Array(a) => Py::Array(a.clone()),
            Py::Dtype(d) => Py::Dtype(d.clone()),
            Py::Global { module, name } => Py::Global {
                module: module.clone(),
                name: name.clone(),
            },
            Py::Object {
                module,
                name,
                args,
                state,
            } => Py::Object {
                module: module.clone(),
                name: name.clone(),
                args: args.clone(),
                state: state.clone(),
            },
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Py::None, Py::None) => true,
            (Py::Bool(a), Py::Bool(b)) => a == b,
            (Py::Int(a), Py::Int(b)) => a == b,
            (Py::BigInt(a), Py::BigInt(b)) | (Py::Bytes(a), Py::Bytes(b)) => a == b,
            (Py::Float(a), Py::Float(b)) => a == b,
            (Py::Str(a), Py::Str(b)) | (Py::Dtype(a), Py::Dtype(b)) => a == b,
            (Py::List(a), Py::List(b))
            | (Py::Tuple(a), Py::Tuple(b))
            | (Py::Set(a), Py::Set(b)) => a == b,
            (Py::Dict(a), Py::Dict(b)) => a == b,
            (Py::Array(a), Py::Array(b)) => a == b,
            (Py::Global { module, name }, Py::Global { module: m, name: n }) => {
                module == m && name == n
            }
            (
                Py::Object {
                    module,
                    name,
                    args,
                    state,
                },
                Py::Object {
                    module: m,
                    name: n,
                    args: a,
                    state: s,
                },
            ) => module == m && name == n && args == a && state == s,
            _ => false,
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Py::None => f.write_str("None"),
            Py::Bool(b) => f.debug_tuple("Bool").field(b).finish(),
            Py::Int(i) => f.debug_tuple("Int").field(i).finish(),
            Py::BigInt(b) => f.debug_tuple("BigInt").field(b).finish(),
            Py::Float(x) => f.debug_tuple("Float").field(x).finish(),
            Py::Str(s) => f.debug_tuple("Str").field(s).finish(),
            Py::Bytes(b) => f.debug_tuple("Bytes").field(b).finish(),
            Py::List(v) => f.debug_tuple("List").field(v).finish(),
            Py::Tuple(v) => f.debug_tuple("Tuple").field(v).finish(),
            Py::Set(v) => f.debug_tuple("Set").field(v).finish(),
            Py::Dict(v) => f.debug_tuple("Dict").field(v).finish(),
            Py::Array(a) => f.debug_tuple("Array").field(a).finish(),
            Py::Dtype(d) => f.debug_tuple("Dtype").field(d).finish(),
            Py::Global { module, name } => f
                .debug_struct("Global")
                .field("module", module)
                .field("name", name)
                .finish(),
            Py::Object {
                module,
                name,
                args,
                state,
            } => f
                .debug_struct("Object")
                .field("module", module)
                .field("name", name)
                .field("args", args)
                .field("state", state)
                .finish(),
        }
    }
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

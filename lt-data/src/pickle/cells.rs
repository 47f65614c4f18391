//! The machine's working form of a value: [`Node`] is a [`Py`] whose containers hold shared
//! [`Cell`]s, so that a memoized object mutated later (APPENDS, SETITEMS, BUILD) is the same
//! object everywhere. numpy arrays and dtypes may still wait for their BUILD state.

use super::ndarray::NdArray;
use super::value::{Py, Repr};
use std::cell::RefCell;
use std::rc::Rc;

/// The representation of the machine's values.
pub(super) struct Cells;

impl Repr for Cells {
    type Item = Cell;
    type Boxed = Cell;
    /// `None` until BUILD gives `_reconstruct`'s empty array its state.
    type Array = Option<NdArray>;
    type Dtype = DtypeParts;
}

/// A value on the machine's stack, in its memo or inside a container.
pub(super) type Node = Py<Cells>;

/// `numpy.dtype(descr, ...)`; its byte order comes with BUILD.
pub(super) struct DtypeParts {
    pub descr: String,
    pub order: Option<String>,
}

/// A shared, mutable node.
#[derive(Clone)]
pub(super) struct Cell(pub Rc<RefCell<Node>>);

impl Cell {
    pub fn new(n: Node) -> Self {
        Cell(Rc::new(RefCell::new(n)))
    }
    /// True when no one else holds this node: its content may be moved out.
    pub fn is_unique(&self) -> bool {
        Rc::strong_count(&self.0) == 1
    }
}

impl std::ops::Deref for Cell {
    type Target = RefCell<Node>;
    fn deref(&self) -> &RefCell<Node> {
        &self.0
    }
}

/// Tears a node down with a work list instead of recursion: a pickle can nest containers
/// far deeper than the thread's stack (a few hundred KB of `]` and `a` opcodes), and the
/// default drop of a chain of cells recurses once per level.
impl Drop for Cell {
    fn drop(&mut self) {
        // A cell still shared elsewhere is only released here; its last owner tears it down.
        if !self.is_unique() {
            return;
        }
        let mut pending = Vec::new();
        if let Ok(mut n) = self.0.try_borrow_mut() {
            take_children(&mut n, &mut pending);
        }
        while let Some(c) = pending.pop() {
            if c.is_unique() {
                if let Ok(mut n) = c.0.try_borrow_mut() {
                    take_children(&mut n, &mut pending);
                }
            }
            // `c` is childless now (or shared): dropping it does not recurse.
        }
    }
}

/// Moves the node's children into `out`, leaving it childless.
fn take_children(n: &mut Node, out: &mut Vec<Cell>) {
    match n {
        Py::List(v) | Py::Tuple(v) | Py::Set(v) => out.append(v),
        Py::Dict(v) => out.extend(v.drain(..).flat_map(|(k, v)| [k, v])),
        Py::Object { args, state, .. } => {
            out.push(std::mem::replace(args, Cell::new(Py::None)));
            out.extend(state.take());
        }
        _ => {}
    }
}

/// Python's name for the kind of a node, for error messages.
pub(super) fn kind_of(n: &Node) -> &'static str {
    match n {
        Py::None => "None",
        Py::Bool(_) => "bool",
        Py::Int(_) | Py::BigInt(_) => "int",
        Py::Float(_) => "float",
        Py::Str(_) => "str",
        Py::Bytes(_) => "bytes",
        Py::List(_) => "list",
        Py::Tuple(_) => "tuple",
        Py::Set(_) => "set",
        Py::Dict(_) => "dict",
        Py::Global { .. } => "global",
        Py::Dtype { .. } => "dtype",
        Py::Array(_) => "ndarray",
        Py::Object { .. } => "object",
    }
}

/// Bytes a copy of the node's own content takes (its children are counted as they are copied).
pub(super) fn payload_len(n: &Node) -> usize {
    match n {
        Py::BigInt(b) | Py::Bytes(b) => b.len(),
        Py::Str(s) => s.len(),
        Py::Array(Some(a)) => a.data.len(),
        _ => 0,
    }
}

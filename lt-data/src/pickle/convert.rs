//! From the machine's cells to plain [`Value`]s, at STOP.

use super::cells::{payload_len, Cell, DtypeParts, Node};
use super::error::PickleError;
use super::value::{Py, Value};

/// Nesting beyond this is refused (also stops self-referencing structures).
pub(super) const MAX_DEPTH: usize = 512;

/// Converts the machine's cells to plain values, moving data out when a cell is unshared and
/// copying it when shared, within two bounds: nesting depth, and the bytes copies may add
/// (a few bytes of GET opcodes can reference a big object many times over, or a structure
/// that doubles at each level: a "billion laughs"). Iterative: the depth of the data never
/// becomes depth of the call stack.
pub(super) struct Converter {
    /// What copies of shared cells may still add, in bytes (nodes count as their size).
    copy_budget: usize,
    /// Where the machine stopped (the offset errors report).
    offset: usize,
}

/// A container being converted: its shape, the children still to convert, and those done.
struct Frame {
    shape: Shape,
    pending: std::vec::IntoIter<Cell>,
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

fn frame(shape: Shape, children: Vec<Cell>) -> Opened {
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
    /// Copies may add 16 times the pickle's size, and 64 MiB more; errors report `offset`.
    pub(super) fn new(input_len: usize, offset: usize) -> Self {
        Converter {
            copy_budget: input_len.saturating_mul(16).saturating_add(64 << 20),
            offset,
        }
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            offset: self.offset,
            msg: msg.into(),
        })
    }

    /// The plain value of `root`, depth first with an explicit stack of open containers.
    pub(super) fn convert(&mut self, root: Cell) -> Result<Value, PickleError> {
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
                return match finished {
                    Some(v) => Ok(v),
                    None => self.err("empty pickle"),
                };
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
    fn open(&mut self, r: Cell, depth: usize) -> Result<Opened, PickleError> {
        if depth > MAX_DEPTH {
            return self.err(format!(
                "nesting deeper than {MAX_DEPTH} levels (or a self-referencing structure)"
            ));
        }
        let owned = r.is_unique();
        let mut n = r.borrow_mut();
        self.open_node(&mut n, owned)
    }

    /// A node's value or frame; its content is moved out when `owned`, else copied (and
    /// paid for from the copy budget).
    fn open_node(&mut self, n: &mut Node, owned: bool) -> Result<Opened, PickleError> {
        if !owned {
            self.spend(payload_len(n))?;
        }
        let refs = |v: &mut Vec<Cell>| if owned { std::mem::take(v) } else { v.clone() };
        let bytes = |b: &mut Vec<u8>| if owned { std::mem::take(b) } else { b.clone() };
        let leaf = |v: Value| Ok(Opened::Leaf(v));
        match n {
            Py::None => leaf(Value::None),
            Py::Bool(b) => leaf(Value::Bool(*b)),
            Py::Int(i) => leaf(Value::Int(*i)),
            Py::Float(f) => leaf(Value::Float(*f)),
            Py::BigInt(b) => leaf(Value::BigInt(bytes(b))),
            Py::Bytes(b) => leaf(Value::Bytes(bytes(b))),
            Py::Str(s) => leaf(Value::Str(if owned {
                std::mem::take(s)
            } else {
                s.clone()
            })),
            Py::Global { module, name } => leaf(Value::Global {
                module: module.clone(),
                name: name.clone(),
            }),
            Py::Dtype(DtypeParts { descr, order }) => {
                let o = order.as_deref().unwrap_or("");
                let o = if descr.starts_with(['<', '>', '|', '=']) {
                    ""
                } else {
                    o
                };
                leaf(Value::Dtype(format!("{o}{descr}")))
            }
            Py::Array(slot) => match if owned { slot.take() } else { slot.clone() } {
                Some(a) => leaf(Value::Array(a)),
                None => self.err("numpy array was never given its state (no BUILD)"),
            },
            Py::List(v) => Ok(frame(Shape::List, refs(v))),
            Py::Tuple(v) => Ok(frame(Shape::Tuple, refs(v))),
            Py::Set(v) => Ok(frame(Shape::Set, refs(v))),
            Py::Dict(v) => {
                let pairs = if owned { std::mem::take(v) } else { v.clone() };
                Ok(frame(
                    Shape::Dict,
                    pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                ))
            }
            Py::Object {
                module,
                name,
                args,
                state,
            } => {
                let children = if owned {
                    let mut c = vec![std::mem::replace(args, Cell::new(Py::None))];
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

    fn spend(&mut self, bytes: usize) -> Result<(), PickleError> {
        let cost = bytes + std::mem::size_of::<Value>();
        match self.copy_budget.checked_sub(cost) {
            Some(left) => {
                self.copy_budget = left;
                Ok(())
            }
            None => self
                .err("shared objects expand beyond the size limit when copied (a reference bomb)"),
        }
    }
}

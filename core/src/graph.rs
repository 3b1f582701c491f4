//! A fixed-capacity scalar computational graph with reverse-mode backprop.
//!
//! Every node is a gate over earlier nodes, so the order nodes are built in is
//! a topological order: [`Graph::forward`] evaluates them front to back and
//! [`Graph::backward`] walks them back to front, each gate multiplying its
//! local gradient by the upstream one and adding (`+=`) the product to its
//! inputs' gradients, so a value that fans out to several gates collects the
//! sum of their contributions.
//!
//! Storage is an inline array of `N` nodes (no heap); building a node past
//! `N` is [`GraphError::Full`]. Values are `f64`, the math is `libm`.
//!
//! The lecture's example, f(x, y, z) = (x + y)·z:
//!
//! ```
//! use microprop::{Graph, GraphError};
//!
//! let mut g = Graph::<8>::new();
//! let x = g.input(-2.0)?;
//! let y = g.input(5.0)?;
//! let z = g.input(-4.0)?;
//! let q = g.add(x, y)?;
//! let f = g.mul(q, z)?;
//! assert_eq!(g.value(f)?, -12.0);
//!
//! g.backward(f)?;
//! assert_eq!((g.grad(x)?, g.grad(y)?, g.grad(z)?), (-4.0, -4.0, 3.0));
//!
//! // Change an input, re-evaluate, backprop again.
//! g.set(x, 1.0)?;
//! g.forward()?;
//! g.backward(f)?;
//! assert_eq!(g.value(f)?, -24.0);
//! # Ok::<(), GraphError>(())
//! ```
//!
//! ## Errors and IEEE results
//!
//! A gate whose value is not finite at its inputs is an error
//! ([`GraphError::NonFinite`]), never a panic and never a silent NaN: `log`
//! of `x ≤ 0`, division by 0, `1/0`, `powf` of a negative base with a
//! non-integer exponent, `exp` overflowing. When building, the offending node
//! is not added; in [`Graph::forward`] the nodes after it keep their old
//! values. Gradients are not checked: a local derivative may overflow to ±∞
//! near a singularity (e.g. `powf(x, 0.5)` at `x = 0`), as IEEE arithmetic
//! gives.
//!
//! Ties: `max` routes the gradient to its first input when the inputs are
//! equal, `min` likewise; `relu` has gradient 0 at 0.

use crate::gradcheck::{Differentiable, Location};
use core::fmt;

/// A node of a [`Graph`]: its index in build order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeId(usize);

impl NodeId {
    /// Position of the node in build order.
    pub const fn index(self) -> usize {
        self.0
    }
}

/// What a node computes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Gate {
    /// A leaf the gradient is taken with respect to (changed by [`Graph::set`]).
    Input,
    /// A leaf that is a constant (no gradient is checked for it).
    Constant,
    /// `a + b`; backward distributes: `da += g`, `db += g`.
    Add(NodeId, NodeId),
    /// `a − b`; `da += g`, `db −= g`.
    Sub(NodeId, NodeId),
    /// `a · b`; backward swaps the inputs: `da += b·g`, `db += a·g`.
    Mul(NodeId, NodeId),
    /// `a / b`; `da += g/b`, `db −= a·g/b²`.
    Div(NodeId, NodeId),
    /// `max(a, b)`; backward routes `g` to the larger input only (the first
    /// on a tie).
    Max(NodeId, NodeId),
    /// `min(a, b)`; routes `g` to the smaller input only (the first on a tie).
    Min(NodeId, NodeId),
    /// `eˣ`; `dx += eˣ·g`.
    Exp(NodeId),
    /// `ln x`; `dx += g/x`.
    Log(NodeId),
    /// `1/x`; `dx −= g/x²`.
    Recip(NodeId),
    /// `x²`; `dx += 2x·g`.
    Square(NodeId),
    /// `xᶜ` for a constant `c`; `dx += c·xᶜ⁻¹·g`.
    Powf(NodeId, f64),
    /// `x + c`; `dx += g`.
    AddConst(NodeId, f64),
    /// `c · x`; `dx += c·g`.
    MulConst(NodeId, f64),
    /// `−x`; `dx −= g`.
    Neg(NodeId),
    /// `σ(x) = 1/(1 + e⁻ˣ)`; `dx += σ(1 − σ)·g`.
    Sigmoid(NodeId),
    /// `tanh x`; `dx += (1 − tanh² x)·g`.
    Tanh(NodeId),
    /// `max(0, x)`; `dx += g` for `x > 0`.
    Relu(NodeId),
}

impl Gate {
    /// The gate's name, for errors and printing.
    pub const fn name(&self) -> &'static str {
        match self {
            Gate::Input => "input",
            Gate::Constant => "constant",
            Gate::Add(..) => "add",
            Gate::Sub(..) => "sub",
            Gate::Mul(..) => "mul",
            Gate::Div(..) => "div",
            Gate::Max(..) => "max",
            Gate::Min(..) => "min",
            Gate::Exp(_) => "exp",
            Gate::Log(_) => "log",
            Gate::Recip(_) => "recip",
            Gate::Square(_) => "square",
            Gate::Powf(..) => "powf",
            Gate::AddConst(..) => "add_const",
            Gate::MulConst(..) => "mul_const",
            Gate::Neg(_) => "neg",
            Gate::Sigmoid(_) => "sigmoid",
            Gate::Tanh(_) => "tanh",
            Gate::Relu(_) => "relu",
        }
    }

    /// The gate's inputs (`None` where it has fewer than two).
    pub const fn operands(&self) -> [Option<NodeId>; 2] {
        match *self {
            Gate::Input | Gate::Constant => [None, None],
            Gate::Add(a, b)
            | Gate::Sub(a, b)
            | Gate::Mul(a, b)
            | Gate::Div(a, b)
            | Gate::Max(a, b)
            | Gate::Min(a, b) => [Some(a), Some(b)],
            Gate::Exp(a)
            | Gate::Log(a)
            | Gate::Recip(a)
            | Gate::Square(a)
            | Gate::Powf(a, _)
            | Gate::AddConst(a, _)
            | Gate::MulConst(a, _)
            | Gate::Neg(a)
            | Gate::Sigmoid(a)
            | Gate::Tanh(a)
            | Gate::Relu(a) => [Some(a), None],
        }
    }
}

/// Why a graph operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GraphError {
    /// All `capacity` nodes are in use.
    Full {
        /// The graph's capacity `N`.
        capacity: usize,
    },
    /// A node id that this graph has not built (from another graph, or from
    /// before [`Graph::clear`]).
    NoSuchNode {
        /// The id's index.
        index: usize,
    },
    /// [`Graph::set`] on a node that is not an input or constant leaf.
    NotALeaf {
        /// The node's index.
        index: usize,
    },
    /// A node's value is NaN or ±∞: a non-finite leaf or constant, or a gate
    /// outside its domain (log of `x ≤ 0`, division by zero, …) or
    /// overflowing.
    NonFinite {
        /// The node's index (the one that would have been built, when
        /// building).
        index: usize,
        /// Its gate's name.
        gate: &'static str,
    },
    /// The graph has no nodes (nothing to differentiate).
    Empty,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Full { capacity } => {
                write!(f, "graph is full ({capacity} nodes)")
            }
            GraphError::NoSuchNode { index } => write!(f, "no node {index} in this graph"),
            GraphError::NotALeaf { index } => write!(f, "node {index} is not a leaf"),
            GraphError::NonFinite { index, gate } => {
                write!(f, "node {index} ({gate}) is NaN or infinite")
            }
            GraphError::Empty => write!(f, "the graph is empty"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    gate: Gate,
    value: f64,
    grad: f64,
}

const EMPTY: Node = Node {
    gate: Gate::Constant,
    value: 0.0,
    grad: 0.0,
};

/// A scalar computational graph of at most `N` nodes, stored inline.
///
/// Build it with [`Graph::input`], [`Graph::constant`] and the gate methods
/// (each evaluates its node at once and returns its [`NodeId`]), then call
/// [`Graph::backward`] from an output. After [`Graph::set`] on leaves,
/// [`Graph::forward`] re-evaluates every node.
///
/// `Graph` implements [`Differentiable`] with respect to its
/// [`Gate::Input`] leaves, the loss being the value of its output (the node
/// last passed to [`Graph::backward`] or [`Graph::set_output`], else the last
/// node built), so [`crate::gradcheck::check`] checks its gradients.
#[derive(Debug, Clone)]
pub struct Graph<const N: usize> {
    nodes: [Node; N],
    len: usize,
    output: Option<NodeId>,
    /// Gradients hold `d output / d node` at the current values.
    grads_fresh: bool,
}

impl<const N: usize> Default for Graph<N> {
    fn default() -> Self {
        Self::new()
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::exp(-x))
    } else {
        let e = libm::exp(x);
        e / (1.0 + e)
    }
}

impl<const N: usize> Graph<N> {
    /// An empty graph (`const`, so it can be a `static`).
    pub const fn new() -> Self {
        Graph {
            nodes: [EMPTY; N],
            len: 0,
            output: None,
            grads_fresh: false,
        }
    }

    /// The most nodes this graph can hold.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Nodes built so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// `true` when no node has been built.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Remove every node (ids built before are invalid afterwards).
    pub fn clear(&mut self) {
        self.len = 0;
        self.output = None;
        self.grads_fresh = false;
    }

    /// The id of node `index`, if built.
    pub fn node(&self, index: usize) -> Option<NodeId> {
        (index < self.len).then_some(NodeId(index))
    }

    fn check(&self, id: NodeId) -> Result<usize, GraphError> {
        if id.0 < self.len {
            Ok(id.0)
        } else {
            Err(GraphError::NoSuchNode { index: id.0 })
        }
    }

    /// The value of `id`.
    pub fn value(&self, id: NodeId) -> Result<f64, GraphError> {
        Ok(self.nodes[self.check(id)?].value)
    }

    /// `d output / d id` from the last [`Graph::backward`] (0 before it).
    pub fn grad(&self, id: NodeId) -> Result<f64, GraphError> {
        Ok(self.nodes[self.check(id)?].grad)
    }

    /// The gate of `id`.
    pub fn gate(&self, id: NodeId) -> Result<Gate, GraphError> {
        Ok(self.nodes[self.check(id)?].gate)
    }

    /// The output used by [`Differentiable`]: the last node passed to
    /// [`Graph::backward`] or [`Graph::set_output`], else the last node built.
    pub fn output(&self) -> Option<NodeId> {
        match self.output {
            Some(o) if o.0 < self.len => Some(o),
            _ => self.len.checked_sub(1).map(NodeId),
        }
    }

    /// Choose the output used by [`Differentiable`].
    pub fn set_output(&mut self, id: NodeId) -> Result<(), GraphError> {
        self.check(id)?;
        self.output = Some(id);
        self.grads_fresh = false;
        Ok(())
    }

    /// Evaluate `gate` at the current values of its operands.
    fn eval(&self, gate: Gate) -> f64 {
        let v = |id: NodeId| self.nodes[id.0].value;
        match gate {
            Gate::Input | Gate::Constant => 0.0,
            Gate::Add(a, b) => v(a) + v(b),
            Gate::Sub(a, b) => v(a) - v(b),
            Gate::Mul(a, b) => v(a) * v(b),
            Gate::Div(a, b) => {
                if v(b) == 0.0 {
                    f64::NAN
                } else {
                    v(a) / v(b)
                }
            }
            Gate::Max(a, b) => {
                if v(a) >= v(b) {
                    v(a)
                } else {
                    v(b)
                }
            }
            Gate::Min(a, b) => {
                if v(a) <= v(b) {
                    v(a)
                } else {
                    v(b)
                }
            }
            Gate::Exp(a) => libm::exp(v(a)),
            Gate::Log(a) => {
                if v(a) > 0.0 {
                    libm::log(v(a))
                } else {
                    f64::NAN
                }
            }
            Gate::Recip(a) => {
                if v(a) == 0.0 {
                    f64::NAN
                } else {
                    1.0 / v(a)
                }
            }
            Gate::Square(a) => v(a) * v(a),
            Gate::Powf(a, c) => libm::pow(v(a), c),
            Gate::AddConst(a, c) => v(a) + c,
            Gate::MulConst(a, c) => v(a) * c,
            Gate::Neg(a) => -v(a),
            Gate::Sigmoid(a) => sigmoid(v(a)),
            Gate::Tanh(a) => libm::tanh(v(a)),
            Gate::Relu(a) => {
                if v(a) > 0.0 {
                    v(a)
                } else {
                    0.0
                }
            }
        }
    }

    fn push(&mut self, gate: Gate, leaf_value: f64) -> Result<NodeId, GraphError> {
        if self.len >= N {
            return Err(GraphError::Full { capacity: N });
        }
        for id in gate.operands().into_iter().flatten() {
            self.check(id)?;
        }
        let value = match gate {
            Gate::Input | Gate::Constant => leaf_value,
            _ => self.eval(gate),
        };
        if !value.is_finite() {
            return Err(GraphError::NonFinite {
                index: self.len,
                gate: gate.name(),
            });
        }
        self.nodes[self.len] = Node {
            gate,
            value,
            grad: 0.0,
        };
        self.len += 1;
        self.grads_fresh = false;
        Ok(NodeId(self.len - 1))
    }

    /// A leaf to differentiate with respect to.
    pub fn input(&mut self, value: f64) -> Result<NodeId, GraphError> {
        self.push(Gate::Input, value)
    }
    /// A constant leaf.
    pub fn constant(&mut self, value: f64) -> Result<NodeId, GraphError> {
        self.push(Gate::Constant, value)
    }
    /// `a + b`.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Add(a, b), 0.0)
    }
    /// `a − b`.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Sub(a, b), 0.0)
    }
    /// `a · b`.
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Mul(a, b), 0.0)
    }
    /// `a / b` (`b = 0` is [`GraphError::NonFinite`]).
    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Div(a, b), 0.0)
    }
    /// `max(a, b)`.
    pub fn max(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Max(a, b), 0.0)
    }
    /// `min(a, b)`.
    pub fn min(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Min(a, b), 0.0)
    }
    /// `eˣ`.
    pub fn exp(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Exp(x), 0.0)
    }
    /// `ln x` (`x ≤ 0` is [`GraphError::NonFinite`]).
    pub fn log(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Log(x), 0.0)
    }
    /// `1/x` (`x = 0` is [`GraphError::NonFinite`]).
    pub fn recip(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Recip(x), 0.0)
    }
    /// `x²`.
    pub fn square(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Square(x), 0.0)
    }
    /// `xᶜ` for a constant `c`.
    pub fn powf(&mut self, x: NodeId, c: f64) -> Result<NodeId, GraphError> {
        self.push(Gate::Powf(x, c), 0.0)
    }
    /// `x + c` for a constant `c`.
    pub fn add_const(&mut self, x: NodeId, c: f64) -> Result<NodeId, GraphError> {
        self.push(Gate::AddConst(x, c), 0.0)
    }
    /// `c · x` for a constant `c`.
    pub fn mul_const(&mut self, x: NodeId, c: f64) -> Result<NodeId, GraphError> {
        self.push(Gate::MulConst(x, c), 0.0)
    }
    /// `−x`.
    pub fn neg(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Neg(x), 0.0)
    }
    /// `σ(x) = 1/(1 + e⁻ˣ)`, computed stably.
    pub fn sigmoid(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Sigmoid(x), 0.0)
    }
    /// `tanh x`.
    pub fn tanh(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Tanh(x), 0.0)
    }
    /// `max(0, x)`.
    pub fn relu(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Gate::Relu(x), 0.0)
    }

    /// Change the value of a leaf ([`Gate::Input`] or [`Gate::Constant`]).
    /// Call [`Graph::forward`] to re-evaluate the nodes that depend on it.
    pub fn set(&mut self, leaf: NodeId, value: f64) -> Result<(), GraphError> {
        let i = self.check(leaf)?;
        if !matches!(self.nodes[i].gate, Gate::Input | Gate::Constant) {
            return Err(GraphError::NotALeaf { index: i });
        }
        if !value.is_finite() {
            return Err(GraphError::NonFinite {
                index: i,
                gate: self.nodes[i].gate.name(),
            });
        }
        self.nodes[i].value = value;
        self.grads_fresh = false;
        Ok(())
    }

    /// Re-evaluate every gate in build order from the leaves' values.
    pub fn forward(&mut self) -> Result<(), GraphError> {
        self.grads_fresh = false;
        for i in 0..self.len {
            let gate = self.nodes[i].gate;
            if matches!(gate, Gate::Input | Gate::Constant) {
                continue;
            }
            let value = self.eval(gate);
            if !value.is_finite() {
                return Err(GraphError::NonFinite {
                    index: i,
                    gate: gate.name(),
                });
            }
            self.nodes[i].value = value;
        }
        Ok(())
    }

    /// Reverse-mode backprop from `out`: zero every gradient, set
    /// `d out / d out = 1`, then for each node from `out` back to the first,
    /// add its local gradient times its upstream gradient into its inputs'
    /// gradients (`+=`, so fan-out sums). Uses the current values (call
    /// [`Graph::forward`] first after [`Graph::set`]). Nodes built after
    /// `out` get gradient 0.
    pub fn backward(&mut self, out: NodeId) -> Result<(), GraphError> {
        let o = self.check(out)?;
        for n in &mut self.nodes[..self.len] {
            n.grad = 0.0;
        }
        self.nodes[o].grad = 1.0;
        for i in (0..=o).rev() {
            let Node { gate, value, grad } = self.nodes[i];
            if grad == 0.0 {
                continue;
            }
            let v = |id: NodeId| self.nodes[id.0].value;
            // (operand, contribution) pairs.
            let (first, second): ((NodeId, f64), Option<(NodeId, f64)>) = match gate {
                Gate::Input | Gate::Constant => continue,
                Gate::Add(a, b) => ((a, grad), Some((b, grad))),
                Gate::Sub(a, b) => ((a, grad), Some((b, -grad))),
                Gate::Mul(a, b) => ((a, v(b) * grad), Some((b, v(a) * grad))),
                Gate::Div(a, b) => {
                    let vb = v(b);
                    ((a, grad / vb), Some((b, -v(a) * grad / (vb * vb))))
                }
                Gate::Max(a, b) => {
                    if v(a) >= v(b) {
                        ((a, grad), None)
                    } else {
                        ((b, grad), None)
                    }
                }
                Gate::Min(a, b) => {
                    if v(a) <= v(b) {
                        ((a, grad), None)
                    } else {
                        ((b, grad), None)
                    }
                }
                Gate::Exp(a) => ((a, value * grad), None),
                Gate::Log(a) => ((a, grad / v(a)), None),
                Gate::Recip(a) => ((a, -value * value * grad), None),
                Gate::Square(a) => ((a, 2.0 * v(a) * grad), None),
                Gate::Powf(a, c) => {
                    let local = if c == 0.0 {
                        0.0
                    } else {
                        c * libm::pow(v(a), c - 1.0)
                    };
                    ((a, local * grad), None)
                }
                Gate::AddConst(a, _) => ((a, grad), None),
                Gate::MulConst(a, c) => ((a, c * grad), None),
                Gate::Neg(a) => ((a, -grad), None),
                Gate::Sigmoid(a) => ((a, value * (1.0 - value) * grad), None),
                Gate::Tanh(a) => ((a, (1.0 - value * value) * grad), None),
                Gate::Relu(a) => ((a, if v(a) > 0.0 { grad } else { 0.0 }), None),
            };
            self.nodes[first.0 .0].grad += first.1;
            if let Some((b, d)) = second {
                self.nodes[b.0].grad += d;
            }
        }
        self.output = Some(out);
        self.grads_fresh = true;
        Ok(())
    }

    /// The `i`-th [`Gate::Input`] leaf in build order.
    pub fn nth_input(&self, i: usize) -> Option<NodeId> {
        self.nodes[..self.len]
            .iter()
            .enumerate()
            .filter(|(_, n)| n.gate == Gate::Input)
            .nth(i)
            .map(|(k, _)| NodeId(k))
    }

    /// Number of [`Gate::Input`] leaves.
    pub fn input_count(&self) -> usize {
        self.nodes[..self.len]
            .iter()
            .filter(|n| n.gate == Gate::Input)
            .count()
    }

    fn input_id(&self, i: usize) -> Result<NodeId, GraphError> {
        self.nth_input(i).ok_or(GraphError::NoSuchNode { index: i })
    }
}

/// Gradient checking with respect to the graph's [`Gate::Input`] leaves
/// (value `i` is the `i`-th input in build order; its [`Location`] is
/// `Location::Value { index }` with the node's index). The loss is the value
/// of [`Graph::output`].
///
/// ```
/// use microprop::gradcheck::{check, GradCheckConfig};
/// use microprop::{Graph, GraphError};
///
/// let mut g = Graph::<8>::new();
/// let x = g.input(0.7)?;
/// let y = g.input(-1.3)?;
/// let p = g.mul(x, y)?;
/// let t = g.tanh(p)?;
/// let report = check(&mut g, &GradCheckConfig::F64)?;
/// assert_eq!(report.checked, 2);
/// assert!(report.max_rel_error < 1e-8, "{report:?}");
/// # Ok::<(), GraphError>(())
/// ```
impl<const N: usize> Differentiable for Graph<N> {
    type Error = GraphError;

    fn count(&self) -> usize {
        self.input_count()
    }

    fn location(&self, i: usize) -> Location {
        Location::Value {
            index: self.nth_input(i).map_or(i, NodeId::index),
        }
    }

    fn value(&mut self, i: usize) -> Result<f64, GraphError> {
        let id = self.input_id(i)?;
        Graph::value(self, id)
    }

    fn set_value(&mut self, i: usize, v: f64) -> Result<f64, GraphError> {
        let id = self.input_id(i)?;
        self.set(id, v)?;
        Ok(v)
    }

    fn loss(&mut self) -> Result<f64, GraphError> {
        let out = self.output().ok_or(GraphError::Empty)?;
        self.forward()?;
        Graph::value(self, out)
    }

    fn analytic(&mut self, i: usize) -> Result<f64, GraphError> {
        let id = self.input_id(i)?;
        if !self.grads_fresh {
            let out = self.output().ok_or(GraphError::Empty)?;
            self.forward()?;
            self.backward(out)?;
        }
        self.grad(id)
    }
}

#[cfg(test)]
mod tests;

//! # microprop
//!
//! Train neural networks from one flat arena: on a microcontroller from a
//! `static` buffer with no heap and no `std`, or on a desktop GPU, with the
//! same model and the same API. A network is a `const` [`Spec`]; `const fn`s
//! size its arena at compile time; a [`Network`] lowers forward, backward and
//! the optimizer step into the small instruction set of a
//! [`Backend`].
//!
//! ```
//! use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
//! use microprop_cpu::{CpuBackend, CpuError};
//! use static_cell::ConstStaticCell;
//!
//! // The model is data; a spec whose widths do not chain fails to compile.
//! const NET: Spec = Spec::new(&[Layer::dense(2, 4), Layer::tanh(), Layer::dense(4, 1), Layer::sigmoid()]);
//! const CFG: Config = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9)).with_seed(1);
//! // Parameters, gradients, optimizer state, activations: one buffer, sized at compile time.
//! // Zero-filled, so it sits in .bss; the cell hands it out once (no `static mut`, no `unsafe`).
//! static ARENA: ConstStaticCell<[f32; CFG.arena_len(&NET)]> = ConstStaticCell::new([0.0; CFG.arena_len(&NET)]);
//!
//! fn train(arena: &mut [f32]) -> Result<f32, microprop::Error<CpuError>> {
//!     let mut net = Network::new(NET, CpuBackend::new(arena), CFG)?;
//!     let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//!     let y = [0.0, 1.0, 1.0, 0.0];
//!     let mut loss = f32::INFINITY;
//!     for _ in 0..2000 {
//!         loss = net.train_step(&x, Targets::Values(&y))?; // zero_grad, forward, loss, backward, step
//!     }
//!     Ok(loss) // < 0.01
//! }
//!
//! fn main() -> Result<(), microprop::Error<CpuError>> {
//!     // Once, at start-up: `&'static mut` to the arena; a second take gets `None`, not a panic.
//!     if let Some(arena) = ARENA.try_take() {
//!         let loss = train(arena)?;
//!         println!("XOR, 2000 steps: loss {loss}");
//! #       assert!(loss < 0.01);
//! #       assert!(ARENA.try_take().is_none(), "taken once only");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Cargo features: `defmt` (its public data types implement
//! `defmt::Format`, for firmware logs) and `plan` (`Network::set_plan`: a
//! training step's ops recorded once and issued again, without the
//! per-step walk over the layers; off by default, so that a firmware
//! without it pays nothing for it).
//!
//! Two more models from the same arena ideas:
//!
//! - [`perceptron`]: the classic perceptron rule, its pocket variant and the
//!   averaged perceptron, through the same [`Backend`]
//!   ops (so they run on every backend), sized by the `const fn`
//!   [`perceptron_arena_len`].
//! - [`graph`]: a fixed-capacity scalar computational graph with reverse-mode
//!   backprop (the chain rule gate by gate), checkable with [`gradcheck`].
//!
//! ```
//! use microprop::{perceptron_arena_len, Graph, Perceptron, Variant};
//! use microprop_cpu::CpuBackend;
//!
//! // OR of two inputs, labels ±1, from an arena sized at compile time.
//! let mut arena = [0.0f32; perceptron_arena_len(4, 2)];
//! let mut p = Perceptron::new(CpuBackend::new(&mut arena), 4, 2).unwrap();
//! p.load(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[-1.0, 1.0, 1.0, 1.0]).unwrap();
//! assert!(p.train(Variant::Classic, 50).unwrap().converged);
//!
//! // d/dx of x·y + tanh(x) by backprop through a 5-node graph: x fans out.
//! let mut g = Graph::<5>::new();
//! let x = g.input(0.5).unwrap();
//! let y = g.input(3.0).unwrap();
//! let xy = g.mul(x, y).unwrap();
//! let t = g.tanh(x).unwrap();
//! let f = g.add(xy, t).unwrap();
//! g.backward(f).unwrap();
//! let th = 0.5f64.tanh();
//! assert!((g.grad(x).unwrap() - (3.0 + 1.0 - th * th)).abs() < 1e-12);
//! ```
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod blob;
pub mod checkpoint;
mod config;
mod error;
pub mod gradcheck;
pub mod graph;
pub mod guard;
mod layers;
mod network;
pub mod perceptron;
pub mod replay;
mod rng;
mod spec;

pub use config::{Config, Init, Optimizer};
pub use error::{Error, ErrorKind, Operand};
pub use gradcheck::{GradCheckConfig, GradCheckReport, Location};
pub use graph::{Gate, Graph, GraphError, NodeId};
pub use guard::{Divergence, Guard, GuardConfig, StepOutcome};
#[cfg(feature = "plan")]
pub use network::plan_slot;
pub use network::{Evaluation, Network, Result, Targets};
pub use perceptron::{
    perceptron_arena_len, Perceptron, PerceptronLayout, PerceptronReport, Variant,
};
pub use rng::Rng;
pub use spec::{Layer, Layout, OptimizerKind, PoolKind, Spec, SpecError, Train};

pub use microprop_hal as hal;
pub use microprop_hal::{Activation, Backend, Element, Fixed, OpKind, OpSet, Span, Q10};

/// The losses: [`LossKind`](microprop_hal::LossKind) with `f64`
/// hyperparameters (`Loss::Mse`, `Loss::SoftmaxCrossEntropy`,
/// `Loss::Hinge { margin: 1.0 }`), converted to the network's element type
/// when the loss is lowered (so an f64 network uses the margin exactly).
pub type Loss = microprop_hal::LossKind<f64>;

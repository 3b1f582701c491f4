//! The op vocabulary: what a backend computes.
//!
//! Each op is one struct, defined once in the file of its family: its
//! operands (with their exact semantics on the fields), its name, its
//! validation ([`OpInfo::check`]), its element mapping (`map`) and, for a
//! composite op, its reference decomposition into primitives
//! ([`Composite::decompose`]). [`Op`] is the enum of all of them; its
//! dispatching methods are generated from one list, so adding an op is
//! adding its struct and one line to that list.
//!
//! Ops come in two tiers ([`Tier`]):
//!
//! - **primitives** (fill, copy, axpy, gemm, elementwise, row-wise and
//!   reduction ops, sliding windows, optimizer updates): every backend
//!   implements them;
//! - **composites** ([`BiasActivate`], [`Loss`], [`PerceptronEpoch`],
//!   [`PerceptronErrors`], [`Anchor`]): each carries a reference decomposition into
//!   primitives. [`Backend::execute`](crate::Backend::execute) runs that
//!   decomposition unless the backend overrides the op with its own kernel
//!   ([`Backend::overrides`](crate::Backend::overrides)), so a new backend
//!   that implements only the primitives runs every model.
//!
//! All matrices are row-major and dense. `rows` is the batch dimension. The
//! CPU backend's scalar reference kernels are the executable form of the
//! semantics written on each struct.

mod activation;
mod conv;
mod linalg;
mod loss;
mod maxout;
mod memory;
mod optim;
mod perceptron;
mod set;
mod softmax;

use activation::ACTIVATION_NAMES;
pub use activation::{Activate, ActivateBackward, Activation, BiasActivate};
pub use conv::{Col2im, ColLayout, Im2col, Window};
pub use linalg::{BiasAdd, BiasGrad, Gemm};
use loss::LOSS_NAMES;
pub use loss::{CountCorrect, Loss, LossKind, OneHot};
pub use maxout::{Maxout, MaxoutBackward};
pub use memory::{Anchor, Axpy, Copy, Fill, SumSquares};
pub use optim::{AdamStep, MomentumStep, SgdStep};
pub use perceptron::{PerceptronEpoch, PerceptronErrors, PERCEPTRON_SCRATCH};
pub use set::OpSet;
pub use softmax::{LogSoftmax, Softmax, SoftmaxBackward};

use crate::{Element, OpError, Span};

/// Which tier an op belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Tier {
    /// Every backend implements it.
    Primitive,
    /// It has a reference decomposition into primitives; a backend may
    /// override it with its own kernel.
    Composite,
}

/// What every op defines once: its name and its checks.
pub trait OpInfo {
    /// The op's name, for errors and traces.
    const NAME: &'static str;

    /// Check the op's spans against the arena and its dimensions, and that
    /// no output partially overlaps an input, through `c`.
    fn check(&self, c: &Check) -> Result<(), OpError>;

    /// [`OpInfo::check`] against an arena of `arena_len` elements.
    fn validate(&self, arena_len: usize) -> Result<(), OpError> {
        self.check(&Check::new(Self::NAME, arena_len))
    }
}

/// A composite op: a reference decomposition into primitive ops.
///
/// Its working space (`scratch`) is checked by
/// [`Composite::check_scratch`], apart from [`OpInfo::check`]: a backend
/// that runs the composite with its own kernel never touches the scratch,
/// so only the decomposition needs it valid (and a training step on a
/// Cortex-M does not pay for checking it).
pub trait Composite<E: Element>: OpInfo {
    /// Check that the scratch span is long enough and overlaps no operand.
    fn check_scratch(&self, c: &Check) -> Result<(), OpError> {
        let _ = c;
        Ok(())
    }

    /// [`Composite::check_scratch`] against an arena of `arena_len`
    /// elements.
    fn validate_scratch(&self, arena_len: usize) -> Result<(), OpError> {
        self.check_scratch(&Check::new(Self::NAME, arena_len))
    }

    /// Issue, in order, the primitive ops that compute this op, stopping at
    /// the first error. Only primitives are emitted. The decomposition may
    /// assume that [`OpInfo::check`] has passed.
    fn decompose<Er>(&self, emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>) -> Result<(), Er>;
}

/// The checks an op's [`OpInfo::check`] is written with: bounds against the
/// arena, lengths against the op's dimensions, and overlaps between outputs
/// and inputs. Every error names the op.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    op: &'static str,
    arena_len: usize,
}

impl Check {
    /// Checks for op `op` over an arena of `arena_len` elements.
    pub const fn new(op: &'static str, arena_len: usize) -> Self {
        Check { op, arena_len }
    }

    /// `s` lies inside the arena.
    pub fn bounds(&self, s: Span) -> Result<(), OpError> {
        if s.end() > self.arena_len || s.offset.checked_add(s.len).is_none() {
            Err(OpError::OutOfBounds {
                span: s,
                arena_len: self.arena_len,
            })
        } else {
            Ok(())
        }
    }

    /// `s` lies inside the arena and has exactly `expected` elements.
    pub fn shape(&self, operand: &'static str, s: Span, expected: usize) -> Result<(), OpError> {
        self.bounds(s)?;
        if s.len != expected {
            Err(OpError::Shape {
                op: self.op,
                operand,
                expected,
                got: s.len,
            })
        } else {
            Ok(())
        }
    }

    /// `s` lies inside the arena and has at least `min` elements (scratch).
    pub fn at_least(&self, operand: &'static str, s: Span, min: usize) -> Result<(), OpError> {
        self.bounds(s)?;
        if s.len < min {
            Err(OpError::Shape {
                op: self.op,
                operand,
                expected: min,
                got: s.len,
            })
        } else {
            Ok(())
        }
    }

    /// Output `out` shares no element with input `inp`.
    pub fn disjoint(&self, out: Span, inp: Span) -> Result<(), OpError> {
        if out.overlaps(&inp) {
            Err(OpError::Overlap { op: self.op })
        } else {
            Ok(())
        }
    }

    /// Output `out` is exactly `inp` (in place) or shares no element with it.
    pub fn disjoint_or_same(&self, out: Span, inp: Span) -> Result<(), OpError> {
        if out.overlaps(&inp) && out != inp {
            Err(OpError::Overlap { op: self.op })
        } else {
            Ok(())
        }
    }
}

/// `a · b`, saturating: a huge product fails the length checks instead of
/// wrapping. A zero dimension makes the product 0 even when the other
/// factors' product saturated: such an op is empty, and valid (the CPU
/// kernels compute their lengths the same way).
pub(crate) const fn dims(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

/// The element mapping of one variant: ops with an element parameter map it,
/// the others move as they are.
macro_rules! map_variant {
    ($o:ident, $f:ident, E) => {
        $o.map(&$f)
    };
    ($o:ident, $f:ident) => {
        $o
    };
}

/// The decomposition of one variant by its tier.
macro_rules! decompose_variant {
    (primitive, $op:ident, $o:ident, $emit:ident) => {{
        let _ = $o;
        $emit($op)
    }};
    (composite, $op:ident, $o:ident, $emit:ident) => {
        Composite::decompose($o, $emit)
    };
}

/// The scratch check of one variant by its tier.
macro_rules! scratch_variant {
    (primitive, $o:ident, $len:ident) => {{
        let _ = $o;
        Ok(())
    }};
    (composite, $o:ident, $len:ident) => {
        Composite::<E>::validate_scratch($o, $len)
    };
}

/// The name of one op struct, whatever its element type.
macro_rules! name_of {
    ($ty:ident, E) => {
        <$ty<f32> as OpInfo>::NAME
    };
    ($ty:ident) => {
        <$ty as OpInfo>::NAME
    };
}

/// The tier value of a tier keyword.
macro_rules! tier_of {
    (primitive) => {
        Tier::Primitive
    };
    (composite) => {
        Tier::Composite
    };
}

/// The one list of ops: generates [`Op`], its dispatching methods and the
/// `From` conversions.
macro_rules! ops {
    ($( $(#[$doc:meta])* $tier:ident $variant:ident($ty:ident $(<$e:ident>)?) ),* $(,)?) => {
        /// One instruction for a backend: one variant per op struct.
        ///
        /// Output spans must not partially overlap their inputs; where an op
        /// says so, an output may be *exactly* an input (in place).
        #[derive(Debug, Clone, Copy, PartialEq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum Op<E> {
            $( $(#[$doc])* $variant($ty $(<$e>)?), )*
        }

        /// Which op an [`Op`] is, without its operands: one bit of an
        /// [`OpSet`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[repr(u8)]
        pub enum OpKind {
            $( $(#[$doc])* $variant, )*
        }

        impl OpKind {
            /// Every kind, in the order of [`Op`]'s variants.
            pub const ALL: &'static [OpKind] = &[$( OpKind::$variant, )*];

            /// The op's name ([`OpInfo::NAME`]).
            pub const fn name(self) -> &'static str {
                match self { $( OpKind::$variant => name_of!($ty $(, $e)?), )* }
            }
        }

        impl<E> Op<E> {
            /// Which op this is.
            #[inline]
            pub const fn kind(&self) -> OpKind {
                match self { $( Op::$variant(_) => OpKind::$variant, )* }
            }
        }

        impl<E: Element> Op<E> {
            /// The op's name, for errors and traces.
            pub fn name(&self) -> &'static str {
                match self { $( Op::$variant(_) => <$ty $(<$e>)? as OpInfo>::NAME, )* }
            }

            /// The op's [`Tier`].
            pub fn tier(&self) -> Tier {
                match self { $( Op::$variant(_) => tier_of!($tier), )* }
            }

            /// `true` for a [`Tier::Primitive`] op.
            pub fn is_primitive(&self) -> bool {
                self.tier() == Tier::Primitive
            }

            /// Check every span against an arena of `arena_len` elements and
            /// against the op's dimensions, and that no output partially
            /// overlaps an input. A backend that calls this before executing
            /// can index without panics.
            pub fn validate(&self, arena_len: usize) -> Result<(), OpError> {
                match self { $( Op::$variant(o) => o.validate(arena_len), )* }
            }

            /// The same op with its element parameters (learning rate, scale,
            /// activation slope, ...) converted by `f`: for example from the
            /// `f64` of a test to a backend's element type.
            pub fn map<F>(self, f: impl Fn(E) -> F) -> Op<F> {
                match self { $( Op::$variant(o) => Op::$variant(map_variant!(o, f $(, $e)?)), )* }
            }

            /// [`Op::validate`] and, for a composite, its scratch
            /// ([`Composite::check_scratch`]): everything its decomposition
            /// needs, checked before any of it runs.
            pub fn validate_decomposition(&self, arena_len: usize) -> Result<(), OpError> {
                self.validate(arena_len)?;
                match self { $( Op::$variant(o) => scratch_variant!($tier, o, arena_len), )* }
            }

            /// Issue the primitives that compute this op: a primitive issues
            /// itself, a composite its reference decomposition (see
            /// [`Composite`]).
            pub fn decompose<Er>(
                &self,
                emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>,
            ) -> Result<(), Er> {
                match self { $( Op::$variant(o) => decompose_variant!($tier, self, o, emit), )* }
            }
        }

        $(
            impl<E> From<$ty $(<$e>)?> for Op<E> {
                fn from(o: $ty $(<$e>)?) -> Self {
                    Op::$variant(o)
                }
            }
        )*
    };
}

ops! {
    /// See [`Fill`].
    primitive Fill(Fill<E>),
    /// See [`struct@Copy`].
    primitive Copy(Copy),
    /// See [`Axpy`].
    primitive Axpy(Axpy<E>),
    /// See [`SumSquares`].
    primitive SumSquares(SumSquares<E>),
    /// See [`Anchor`].
    composite Anchor(Anchor<E>),
    /// See [`Gemm`].
    primitive Gemm(Gemm<E>),
    /// See [`BiasAdd`].
    primitive BiasAdd(BiasAdd),
    /// See [`BiasGrad`].
    primitive BiasGrad(BiasGrad),
    /// See [`Activate`].
    primitive Activate(Activate<E>),
    /// See [`BiasActivate`].
    composite BiasActivate(BiasActivate<E>),
    /// See [`ActivateBackward`].
    primitive ActivateBackward(ActivateBackward<E>),
    /// See [`Softmax`].
    primitive Softmax(Softmax),
    /// See [`SoftmaxBackward`].
    primitive SoftmaxBackward(SoftmaxBackward),
    /// See [`LogSoftmax`].
    primitive LogSoftmax(LogSoftmax),
    /// See [`Maxout`].
    primitive Maxout(Maxout),
    /// See [`MaxoutBackward`].
    primitive MaxoutBackward(MaxoutBackward),
    /// See [`Im2col`].
    primitive Im2col(Im2col),
    /// See [`Col2im`].
    primitive Col2im(Col2im),
    /// See [`OneHot`].
    primitive OneHot(OneHot<E>),
    /// See [`Loss`].
    composite Loss(Loss<E>),
    /// See [`CountCorrect`].
    primitive CountCorrect(CountCorrect),
    /// See [`SgdStep`].
    primitive SgdStep(SgdStep<E>),
    /// See [`MomentumStep`].
    primitive MomentumStep(MomentumStep<E>),
    /// See [`AdamStep`].
    primitive AdamStep(AdamStep<E>),
    /// See [`PerceptronEpoch`].
    composite PerceptronEpoch(PerceptronEpoch),
    /// See [`PerceptronErrors`].
    composite PerceptronErrors(PerceptronErrors),
}

#[cfg(test)]
mod tests;

//! A backend that runs only primitive ops: every composite op
//! ([`Tier::Composite`](microprop::hal::Tier)) goes through its reference
//! decomposition. Stamped with the whole suite, it shows that a new backend
//! implementing only the primitives runs every model and passes every test.

use microprop::hal::{Op, OpError};
use microprop::Backend;

/// Wraps a backend and hides its composite kernels: [`Backend::overrides`]
/// is `false` for every op, so composites are decomposed into primitives,
/// and a composite that reaches [`Backend::dispatch`] anyway is
/// [`OpError::Unsupported`].
#[derive(Debug)]
pub struct PrimitivesOnly<B>(pub B);

impl<B: Backend> Backend for PrimitivesOnly<B> {
    type Elem = B::Elem;
    type Error = B::Error;

    fn arena_len(&self) -> usize {
        self.0.arena_len()
    }
    fn upload(&mut self, offset: usize, src: &[Self::Elem]) -> Result<(), Self::Error> {
        self.0.upload(offset, src)
    }
    fn download(&mut self, offset: usize, dst: &mut [Self::Elem]) -> Result<(), Self::Error> {
        self.0.download(offset, dst)
    }
    fn dispatch(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error> {
        if op.is_primitive() {
            self.0.dispatch(op)
        } else {
            Err(OpError::Unsupported { op: op.name() }.into())
        }
    }
    fn submit(&mut self) -> Result<(), Self::Error> {
        self.0.submit()
    }
}

/// The suite's harness for [`PrimitivesOnly`] over the CPU reference
/// kernels: composites run as their decompositions, primitives on the
/// ground-truth kernels.
pub struct CpuPrimitives<E>(core::marker::PhantomData<E>);

macro_rules! primitives_harness {
    ($e:ty, $name:literal, $tol:expr) => {
        impl crate::Harness for CpuPrimitives<$e> {
            type E = $e;
            type B = PrimitivesOnly<microprop_cpu::CpuBackend<'static, $e>>;
            const NAME: &'static str = $name;
            fn backend(len: usize) -> Option<Self::B> {
                Some(PrimitivesOnly(microprop_cpu::CpuBackend::reference(
                    Vec::leak(vec![0.0; len]),
                )))
            }
            fn tolerances() -> crate::Tolerances {
                $tol
            }
        }
    };
}

primitives_harness!(f32, "cpu-primitives-f32", crate::F32_TOLERANCES);
primitives_harness!(f64, "cpu-primitives-f64", crate::F64_TOLERANCES);

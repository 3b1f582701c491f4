//! A [`Network`] that owns what it borrows.
//!
//! `Network<'s, CpuBackend<'a, E>>` borrows its layers, their trainability
//! and its L2-SP anchor for `'s` and its arena for `'a`: on a
//! microcontroller these are `static`s. A Python object has no such
//! lifetime, so [`Owned`] allocates them, lends them to the network for as
//! long as it lives, and frees them after it.
// The one place in the bindings with `unsafe`: turning the boxes into
// references the network can hold, and back into boxes once it is gone.
#![allow(unsafe_code)]

use microprop::{Config, Error, Layer, Network, Spec, Train};
use microprop_cpu::{CpuBackend, CpuError, Float, Kernels};

/// The network type the bindings run: the CPU backend's fast kernels, as
/// on the device.
pub type Net<E> = Network<'static, CpuBackend<'static, E>>;

/// A network together with the allocations it borrows.
pub struct Owned<E: Float + 'static> {
    /// Always `Some` until `drop`, which takes it first.
    net: Option<Net<E>>,
    layers: *mut [Layer],
    train: *mut [Train],
    arena: *mut [E],
    /// The L2-SP anchor's blob, while one is set.
    anchor: Option<*mut [u8]>,
}

// SAFETY: the raw pointers are the `Owned`'s own allocations (like the
// `Box`es they came from), shared with nothing but the network it owns;
// `Network` over the CPU backend is itself `Send` and `Sync` for these
// element types, and every mutation goes through `&mut self`.
unsafe impl<E: Float + 'static> Send for Owned<E> where Net<E>: Send {}
// SAFETY: as above; `&Owned` only lends `&Net`.
unsafe impl<E: Float + 'static> Sync for Owned<E> where Net<E>: Sync {}

impl<E: Float + 'static> Owned<E> {
    /// Build `layers` (with `train`, empty for all trained) under `config`
    /// in `arena` (of [`Config::arena_len`] elements), run by `kernels`.
    pub fn new(
        layers: Vec<Layer>,
        train: Vec<Train>,
        config: Config,
        arena: Vec<E>,
        kernels: Kernels,
    ) -> Result<Self, Error<CpuError>> {
        let layers = Box::into_raw(layers.into_boxed_slice());
        let train = Box::into_raw(train.into_boxed_slice());
        let arena = Box::into_raw(arena.into_boxed_slice());
        let mut owned = Owned {
            net: None,
            layers,
            train,
            arena,
            anchor: None,
        };
        // SAFETY: the three pointers come from `Box::into_raw` just above
        // and are freed only in `drop`, after the network holding these
        // references is dropped; the arena is lent mutably to the backend
        // alone.
        let (layers, train, arena) = unsafe { (&*owned.layers, &*owned.train, &mut *owned.arena) };
        let spec = Spec::try_new(layers)
            .and_then(|s| s.try_with_training(train))
            .map_err(Error::Spec)?;
        let net = Network::new(spec, CpuBackend::with_kernels(arena, kernels), config)?;
        owned.net = Some(net);
        Ok(owned)
    }

    /// Run `f` on the network. Its lifetime is the borrow of `self`, not
    /// `'static`: nothing `f` gets from the network (its spec's layers, the
    /// anchor's blob) can outlive this call, and two networks cannot be
    /// swapped (their lifetimes differ), so no reference escapes past the
    /// allocation it points into.
    pub fn with_net<R>(
        &mut self,
        f: impl for<'x> FnOnce(&'x mut Network<'x, CpuBackend<'x, E>>) -> R,
    ) -> R {
        // `None` only inside `drop`; `with_net` cannot run there.
        let Some(net) = self.net.as_mut() else {
            unreachable!("the network lives as long as its owner")
        };
        let net: *mut Net<E> = net;
        // SAFETY: shortening the network's lifetimes to the borrow of
        // `self`: everything it refers to lives at least that long (it is
        // freed only in `drop` or, for an old anchor, after the network let
        // go of it), and the higher-ranked `f` cannot keep anything past
        // the borrow.
        f(unsafe { &mut *net.cast::<Network<'_, CpuBackend<'_, E>>>() })
    }

    /// Set the L2-SP anchor to a copy of `blob` (see
    /// [`Network::set_anchor`]); on error the previous anchor stays.
    pub fn set_anchor(&mut self, blob: &[u8], lambda: f64) -> Result<(), Error<CpuError>> {
        let copy = Box::into_raw(blob.to_vec().into_boxed_slice());
        // SAFETY: `copy` is freed below if the network refuses it, else
        // when the anchor is replaced or cleared or in `drop`, each time
        // after the network has stopped referring to it.
        let Some(net) = self.net.as_mut() else {
            unreachable!("the network lives as long as its owner")
        };
        let r = net.set_anchor(unsafe { &*copy }, lambda);
        match r {
            Ok(()) => {
                if let Some(old) = self.anchor.replace(copy) {
                    // SAFETY: the network now holds `copy`, not `old`.
                    drop(unsafe { Box::from_raw(old) });
                }
                Ok(())
            }
            Err(e) => {
                // SAFETY: the network refused `copy` and kept the old one.
                drop(unsafe { Box::from_raw(copy) });
                Err(e)
            }
        }
    }

    /// Remove the L2-SP anchor.
    pub fn clear_anchor(&mut self) {
        if let Some(net) = self.net.as_mut() {
            net.clear_anchor();
        }
        if let Some(old) = self.anchor.take() {
            // SAFETY: the network no longer refers to it.
            drop(unsafe { Box::from_raw(old) });
        }
    }
}

impl<E: Float + 'static> Drop for Owned<E> {
    fn drop(&mut self) {
        // The network, and with it every reference into the allocations,
        // goes first.
        self.net = None;
        // SAFETY: each pointer came from `Box::into_raw` in `new` or
        // `set_anchor` and is freed exactly once, here, with nothing left
        // referring to it.
        unsafe {
            drop(Box::from_raw(self.layers));
            drop(Box::from_raw(self.train));
            drop(Box::from_raw(self.arena));
            if let Some(a) = self.anchor.take() {
                drop(Box::from_raw(a));
            }
        }
    }
}

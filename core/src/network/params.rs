//! Parameter and scalar I/O between the host and the arena.

use microprop_hal::{Backend, Element, Span};

use super::{Network, Result, Targets};
use crate::{Error, Operand};

impl<'s, B: Backend> Network<'s, B> {
    /// Copy every parameter (layer after layer, weights `[out, in]` row-major
    /// then biases) into `out`, of length [`Spec::param_count`](crate::Spec::param_count). Saving a
    /// model is this copy.
    pub fn parameters(&mut self, out: &mut [B::Elem]) -> Result<(), B> {
        self.read_span(self.layout.params, out, Operand::Parameters)
    }

    /// Copy the accumulated gradients into `out` (same layout as
    /// [`Network::parameters`]). A parameter training does not update
    /// (a frozen layer's, a bias-only layer's weights: see
    /// [`Train`](crate::Train)) has no gradient and reads as zero.
    pub fn gradients(&mut self, out: &mut [B::Elem]) -> Result<(), B> {
        self.check_trains("gradients")?;
        self.check_unfused("gradients")?;
        if self.trained == self.layout.params.len {
            return self.read_span(self.layout.grads, out, Operand::Gradients);
        }
        if out.len() != self.layout.params.len {
            return Err(Error::Length {
                what: Operand::Gradients,
                expected: self.layout.params.len,
                got: out.len(),
            });
        }
        out.fill(B::Elem::ZERO);
        let mut c = self.first();
        while c.i < self.spec.layers().len() {
            let s = self.spans_at(c, 0);
            c = self.next(c);
            let t = s.dweights.len + s.dbias.len;
            let end = s.bias.end();
            if let Some(dst) = out.get_mut(end - t..end) {
                self.backend
                    .download(s.dweights.offset, dst)
                    .map_err(Error::Backend)?;
            }
        }
        Ok(())
    }

    /// Replace every parameter with `params` (same layout as
    /// [`Network::parameters`]). Rejected, with the model unchanged, when
    /// the length is wrong or a value is not finite.
    pub fn load_parameters(&mut self, params: &[B::Elem]) -> Result<(), B> {
        let p = self.layout.params;
        if params.len() != p.len {
            return Err(Error::Length {
                what: Operand::Parameters,
                expected: p.len,
                got: params.len(),
            });
        }
        if let Some(index) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Parameters,
                index,
            });
        }
        self.params_changed();
        self.backend
            .upload(p.offset, params)
            .map_err(Error::Backend)
    }

    /// Download `span` into `out`, whose wrong length is reported as `what`.
    pub(crate) fn read_span(
        &mut self,
        span: Span,
        out: &mut [B::Elem],
        what: Operand,
    ) -> Result<(), B> {
        if out.len() != span.len {
            return Err(Error::Length {
                what,
                expected: span.len,
                got: out.len(),
            });
        }
        self.backend
            .download(span.offset, out)
            .map_err(Error::Backend)
    }

    pub(crate) fn read_scalar(&mut self, span: Span) -> Result<B::Elem, B> {
        let mut v = [B::Elem::ZERO];
        self.backend
            .download(span.offset, &mut v)
            .map_err(Error::Backend)?;
        Ok(v[0])
    }

    pub(crate) fn upload_targets(&mut self, t: &Targets<'_, B::Elem>) -> Result<(), B> {
        let off = self.layout.target.offset;
        match *t {
            Targets::Values(v) => self.backend.upload(off, v).map_err(Error::Backend),
            Targets::Labels(labels) => {
                // A label travels as its index's bits (Element::from_index),
                // exact for every u32; check_targets has refused a label
                // that is not below the class count or does not fit a u32.
                let mut chunk = [B::Elem::ZERO; 64];
                for (c, part) in labels.chunks(chunk.len()).enumerate() {
                    for (dst, &l) in chunk.iter_mut().zip(part) {
                        *dst = B::Elem::from_index(u32::try_from(l).unwrap_or(u32::MAX));
                    }
                    self.backend
                        .upload(off + c * 64, &chunk[..part.len()])
                        .map_err(Error::Backend)?;
                }
                Ok(())
            }
        }
    }
}

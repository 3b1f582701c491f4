//! The network's blob I/O: load a device blob into the parameters, save
//! them as one, and stream them out chunk by chunk (which checkpoints use
//! too). The format itself is [`crate::blob`].

use microprop_hal::{Backend, Element};

use super::{Network, Result};
use crate::blob::{validate, Writer, CHUNK, HEADER_LEN};
use crate::Error;

impl<'s, B: Backend> Network<'s, B> {
    /// Replace the parameters with those of a device blob (f32 or fixed
    /// point, see [`Payload`](crate::blob::Payload)). The blob is
    /// validated completely (see [`validate`](crate::blob::validate)) before anything is written,
    /// so on error the model is unchanged. Optimizer state is kept.
    pub fn load_blob(&mut self, bytes: &[u8]) -> Result<(), B> {
        let payload = validate(self.spec(), bytes).map_err(Error::Blob)?.payload;
        self.params_changed();
        let offset = self.layout().params.offset;
        let mut buf = [B::Elem::ZERO; CHUNK];
        let mut done = 0;
        // 4 or 2; `max(1)` lets the compiler see that no chunk size is 0
        // (no panic path).
        let size = payload.bytes().max(1);
        // `validate` checked the length; `get` keeps a blob that lives in
        // RAM (not a constant) free of a panic path too.
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        for piece in body.chunks(size * CHUNK) {
            let n = (piece.len() / size).min(CHUNK);
            for (o, c) in buf.iter_mut().zip(piece.chunks_exact(size)) {
                *o = payload.element(c);
            }
            self.backend_mut()
                .upload(offset + done, &buf[..n])
                .map_err(Error::Backend)?;
            done += n;
        }
        Ok(())
    }

    /// Write the parameters as a device blob into the front of `out`
    /// (at least [`blob_len`](crate::blob::blob_len)`(spec.param_count())` bytes); returns the bytes
    /// written.
    pub fn save_blob(&mut self, out: &mut [u8]) -> Result<usize, B> {
        let spec = *self.spec();
        let mut w = Writer::new(&spec, out).map_err(Error::Blob)?;
        self.stream_params(Error::Backend, |_, piece| {
            w.push(piece).map_err(Error::Blob)
        })?;
        w.finish().map_err(Error::Blob)
    }

    /// Stream the parameters out of the backend in order, [`CHUNK`]
    /// elements at a time through the stack: `f(index of the first, piece)`.
    /// Backend errors become `X` through `on_backend`.
    pub(crate) fn stream_params<X>(
        &mut self,
        on_backend: impl Fn(B::Error) -> X,
        mut f: impl FnMut(usize, &[B::Elem]) -> core::result::Result<(), X>,
    ) -> core::result::Result<(), X> {
        let params = self.layout().params;
        let mut buf = [B::Elem::ZERO; CHUNK];
        let mut done = 0;
        while done < params.len {
            let n = CHUNK.min(params.len - done);
            let piece = buf.get_mut(..n).unwrap_or(&mut []);
            self.backend_mut()
                .download(params.offset + done, piece)
                .map_err(&on_backend)?;
            f(done, piece)?;
            done += n;
        }
        Ok(())
    }
}

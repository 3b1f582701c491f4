//! # microprop-vulkan: the Vulkan backend
//!
//! Every [`Op`] of the HAL as a GLSL compute shader (compiled to SPIR-V by
//! `glslc` at build time) on [`vulkano`], over one device buffer that is the
//! arena. Elements are `f32`.
//!
//! ## One submission per training step
//!
//! [`Backend::execute`] does not run an op: it validates it, lowers it to one
//! compute dispatch and appends it to the pending sequence. [`Backend::submit`]
//! (or a [`Backend::download`] that needs pending results) runs the whole
//! sequence as **one** queue submission and waits for it.
//!
//! Command buffers are cached by the sequence's *structure*: the kernel and
//! workgroup counts of every dispatch, and the ranges of recorded copies. A
//! dispatch's spans, dimensions and scalars (learning rate, Adam's bias
//! corrections, gemm's `beta`, ...) are not in the command buffer: they are
//! written before every submission into a host-visible *params buffer*, one
//! 16-word slot per dispatch, and each dispatch finds its slot through a push
//! constant. A repeated training step therefore replays its command buffer
//! without re-recording, and [`VulkanBackend::submissions`] /
//! [`VulkanBackend::recordings`] count what happened. Barriers between
//! dispatches are inserted by vulkano's automatic synchronisation: every
//! dispatch reads and writes the one arena buffer, so each is separated from
//! the next by a compute→compute memory barrier.
//!
//! An op that [`Backend::execute`] rejects (malformed, or too large for the
//! device) drops every dispatch recorded since the last submission: a unit of
//! work that failed runs not at all rather than in part, so a `train_step`
//! that returns `Err` leaves the model bit-identical. Uploads recorded in it
//! returned `Ok` and are kept: the arena becomes what it was after the last
//! submission, with those uploads applied.
//!
//! ## Host copies
//!
//! When the arena's memory is host-visible (lavapipe, integrated GPUs,
//! resizable-BAR discrete GPUs), an upload or download with nothing pending
//! maps the arena directly and costs no submission. Otherwise (or with
//! pending work) the copy is recorded into the pending sequence through a
//! staging buffer, so it still rides in the step's single submission.
//!
//! ## Devices
//!
//! [`VulkanBackend::new`] prefers a discrete GPU, then integrated, virtual and
//! CPU implementations; [`VulkanBackend::with_device`] or the environment
//! variable `MICROPROP_VULKAN_DEVICE` picks one by (part of its) name. With no
//! Vulkan loader, no driver or no matching device the constructors return
//! [`Error::NoDevice`], never panic. Devices and compiled pipelines are
//! shared process-wide by every backend that asked for the same device.
#![deny(missing_docs)]

mod context;
mod error;
mod kernels;

use std::collections::HashMap;
use std::sync::Arc;

use microprop_hal::{op, Backend, Op, Span};
use vulkano::buffer::{Buffer, BufferCreateInfo, BufferUsage, Subbuffer};
use vulkano::command_buffer::{
    AutoCommandBufferBuilder, CommandBufferUsage, CopyBufferInfoTyped, PrimaryAutoCommandBuffer,
};
use vulkano::descriptor_set::{DescriptorSet, WriteDescriptorSet};
use vulkano::memory::allocator::{AllocationCreateInfo, MemoryTypeFilter};
use vulkano::memory::MemoryPropertyFlags;
use vulkano::pipeline::PipelineBindPoint;
use vulkano::sync::GpuFuture;

pub use context::{devices, DeviceInfo, DeviceKind, DEVICE_ENV};
pub use error::Error;
pub use kernels::GemmKernel;
pub use kernels::GEMM_ENV;

use context::Context;
use kernels::{Kernel, SLOT_WORDS};

/// Command buffers kept per backend before the cache is emptied.
const CACHE_LIMIT: usize = 64;

/// How to build a [`VulkanBackend`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Pick the first device whose name contains this (case-insensitive).
    /// `None` reads `MICROPROP_VULKAN_DEVICE`, and if that is unset picks
    /// the preferred device (discrete > integrated > virtual > CPU).
    pub device: Option<String>,
    /// Which gemm kernel to dispatch.
    pub gemm: GemmKernel,
    /// Never map the arena, even when its memory is host-visible: route
    /// every upload and download through staging buffers and recorded copies,
    /// as on a discrete GPU without resizable BAR. For testing that path.
    pub force_staging: bool,
}

/// One recorded command of the pending sequence; a cached command buffer is
/// keyed by the list of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cmd {
    /// A dispatch; its slot is its index among the dispatches.
    Dispatch { kernel: Kernel, groups: [u32; 3] },
    /// Copy `len` elements from the upload staging buffer at `staging` to the
    /// arena at `dst`.
    Upload { staging: u32, dst: u32, len: u32 },
    /// Copy `len` arena elements from `src` to the readback buffer at `staging`.
    Download { src: u32, staging: u32, len: u32 },
}

/// The Vulkan backend: an `f32` arena in one device buffer and a recorder of
/// ops that runs a training step as one queue submission.
pub struct VulkanBackend {
    ctx: Arc<Context>,
    arena: Subbuffer<[f32]>,
    arena_len: usize,
    mapped: bool,
    gemm: GemmKernel,
    params: Subbuffer<[u32]>,
    set: Arc<DescriptorSet>,
    upload_staging: Option<Subbuffer<[f32]>>,
    readback: Option<Subbuffer<[f32]>>,
    cmds: Vec<Cmd>,
    slots: Vec<[u32; SLOT_WORDS]>,
    upload_data: Vec<f32>,
    readback_len: usize,
    cache: HashMap<Vec<Cmd>, Arc<PrimaryAutoCommandBuffer>>,
    submissions: u64,
    recordings: u64,
}

impl std::fmt::Debug for VulkanBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulkanBackend")
            .field("device", &self.ctx.info)
            .field("arena_len", &self.arena_len)
            .field("mapped", &self.mapped)
            .field("gemm", &self.gemm)
            .field("submissions", &self.submissions)
            .field("recordings", &self.recordings)
            .finish()
    }
}

/// The environment variable that makes [`VulkanBackend::new`] route every
/// host copy through staging buffers (`1`), as on a discrete GPU without
/// resizable BAR: lets CI run the shared suite on that path with lavapipe.
pub const FORCE_STAGING_ENV: &str = "MICROPROP_VULKAN_FORCE_STAGING";

fn staging_from_env() -> bool {
    std::env::var(FORCE_STAGING_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn storage_usage() -> BufferUsage {
    BufferUsage::STORAGE_BUFFER | BufferUsage::TRANSFER_SRC | BufferUsage::TRANSFER_DST
}

fn host_buffer<T: vulkano::buffer::BufferContents>(
    ctx: &Context,
    usage: BufferUsage,
    len: usize,
) -> Result<Subbuffer<[T]>, Error> {
    Buffer::new_slice::<T>(
        ctx.memory.clone(),
        BufferCreateInfo {
            usage,
            ..Default::default()
        },
        AllocationCreateInfo {
            memory_type_filter: MemoryTypeFilter::PREFER_HOST
                | MemoryTypeFilter::HOST_RANDOM_ACCESS,
            ..Default::default()
        },
        len.max(1) as u64,
    )
    .map_err(|e| Error::vk("allocating a host-visible buffer", e))
}

impl VulkanBackend {
    /// A backend with an arena of `arena_len` zeroed elements on the preferred
    /// device (or the one `MICROPROP_VULKAN_DEVICE` names), with the gemm
    /// kernel `MICROPROP_VULKAN_GEMM` names (`tiled`, the default, or
    /// `blocked`), and staging copies forced when
    /// `MICROPROP_VULKAN_FORCE_STAGING=1`.
    pub fn new(arena_len: usize) -> Result<Self, Error> {
        Self::with_options(
            arena_len,
            Options {
                gemm: GemmKernel::from_env(),
                force_staging: staging_from_env(),
                device: None,
            },
        )
    }

    /// A backend on the first device whose name contains `name`
    /// (case-insensitive), e.g. `"llvmpipe"` or `"NVIDIA"`; the gemm kernel
    /// as in [`VulkanBackend::new`].
    pub fn with_device(arena_len: usize, name: &str) -> Result<Self, Error> {
        Self::with_options(
            arena_len,
            Options {
                device: Some(name.to_string()),
                gemm: GemmKernel::from_env(),
                force_staging: staging_from_env(),
            },
        )
    }

    /// A backend built with explicit [`Options`].
    pub fn with_options(arena_len: usize, options: Options) -> Result<Self, Error> {
        let wanted = context::wanted_name(options.device.as_deref());
        let ctx = Context::get(wanted.as_deref())?;
        let limit = (ctx.info.max_storage_buffer_bytes / 4).min(i32::MAX as u64) as usize;
        if arena_len > limit {
            return Err(Error::TooLarge {
                what: "arena length in f32 elements",
                value: arena_len,
                limit,
            });
        }
        // Prefer device-local memory the host can map; fall back to plain
        // device-local memory with staging copies.
        let mappable = MemoryTypeFilter {
            required_flags: MemoryPropertyFlags::DEVICE_LOCAL | MemoryPropertyFlags::HOST_VISIBLE,
            preferred_flags: MemoryPropertyFlags::HOST_COHERENT,
            not_preferred_flags: MemoryPropertyFlags::empty(),
        };
        let make = |filter| {
            Buffer::new_slice::<f32>(
                ctx.memory.clone(),
                BufferCreateInfo {
                    usage: storage_usage(),
                    ..Default::default()
                },
                AllocationCreateInfo {
                    memory_type_filter: filter,
                    ..Default::default()
                },
                arena_len.max(1) as u64,
            )
        };
        let (arena, mapped) = match (options.force_staging, make(mappable)) {
            (false, Ok(b)) => (b, true),
            _ => (
                make(MemoryTypeFilter::PREFER_DEVICE)
                    .map_err(|e| Error::vk("allocating the arena", e))?,
                false,
            ),
        };
        let params = host_buffer::<u32>(&ctx, BufferUsage::STORAGE_BUFFER, 256 * SLOT_WORDS)?;
        let set = Self::descriptor_set(&ctx, &arena, &params)?;
        let mut backend = VulkanBackend {
            ctx,
            arena,
            arena_len,
            mapped,
            gemm: options.gemm,
            params,
            set,
            upload_staging: None,
            readback: None,
            cmds: Vec::new(),
            slots: Vec::new(),
            upload_data: Vec::new(),
            readback_len: 0,
            cache: HashMap::new(),
            submissions: 0,
            recordings: 0,
        };
        backend.zero()?;
        Ok(backend)
    }

    fn descriptor_set(
        ctx: &Context,
        arena: &Subbuffer<[f32]>,
        params: &Subbuffer<[u32]>,
    ) -> Result<Arc<DescriptorSet>, Error> {
        DescriptorSet::new(
            ctx.descriptors.clone(),
            ctx.set_layout.clone(),
            [
                WriteDescriptorSet::buffer(0, arena.clone()),
                WriteDescriptorSet::buffer(1, params.clone()),
            ],
            [],
        )
        .map_err(|e| Error::vk("creating the descriptor set", e))
    }

    /// Zero the arena (device memory starts with arbitrary contents).
    fn zero(&mut self) -> Result<(), Error> {
        if self.mapped {
            let mut w = self
                .arena
                .write()
                .map_err(|e| Error::vk("mapping the arena", e))?;
            w.fill(0.0);
            Ok(())
        } else {
            self.execute(&Op::Fill(op::Fill {
                dst: Span::new(0, self.arena_len),
                value: 0.0,
            }))?;
            self.submit()
        }
    }

    /// The device this backend runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.ctx.info
    }

    /// The gemm kernel in use.
    pub fn gemm_kernel(&self) -> GemmKernel {
        self.gemm
    }

    /// Switch the gemm kernel (takes effect for ops executed from now on).
    pub fn set_gemm_kernel(&mut self, gemm: GemmKernel) {
        self.gemm = gemm;
    }

    /// `true` when uploads and downloads map the arena directly.
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// Queue submissions made so far (a training step is one).
    pub fn submissions(&self) -> u64 {
        self.submissions
    }

    /// Command buffers recorded so far (the rest were cache hits, replays).
    pub fn recordings(&self) -> u64 {
        self.recordings
    }

    /// Ops (dispatches and copies) recorded and not yet submitted.
    pub fn pending(&self) -> usize {
        self.cmds.len()
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<(), Error> {
        match offset.checked_add(len) {
            Some(end) if end <= self.arena_len => Ok(()),
            _ => Err(Error::OutOfBounds {
                offset,
                len,
                arena_len: self.arena_len,
            }),
        }
    }

    fn discard_pending(&mut self) {
        self.cmds.clear();
        self.slots.clear();
        self.upload_data.clear();
        self.readback_len = 0;
    }

    /// An op was rejected: drop the dispatches recorded since the last
    /// submission (the failed unit of work never runs in part) and keep the
    /// uploads, which returned `Ok` and carry the caller's data. No download
    /// is ever pending here (`download` records its copy and submits at once).
    fn drop_dispatches(&mut self) {
        self.cmds.retain(|c| matches!(c, Cmd::Upload { .. }));
        self.slots.clear();
    }

    /// Validate and lower one op into the pending sequence.
    fn record_op(&mut self, op: &Op<f32>) -> Result<(), Error> {
        op.validate(self.arena_len)?;
        if let Some(d) = kernels::lower(op, self.gemm)? {
            self.cmds.push(Cmd::Dispatch {
                kernel: d.kernel,
                groups: d.groups,
            });
            self.slots.push(d.params);
        }
        Ok(())
    }

    /// Make sure the host-visible buffers can hold what is pending; growing
    /// one invalidates every cached command buffer that referenced it.
    fn reserve(&mut self) -> Result<(), Error> {
        let words = self.slots.len() * SLOT_WORDS;
        if words as u64 > self.params.len() {
            let cap = words.next_power_of_two();
            self.params = host_buffer::<u32>(&self.ctx, BufferUsage::STORAGE_BUFFER, cap)?;
            self.set = Self::descriptor_set(&self.ctx, &self.arena, &self.params)?;
            self.cache.clear();
        }
        let up = self.upload_data.len();
        if up > 0
            && self
                .upload_staging
                .as_ref()
                .is_none_or(|b| (b.len() as usize) < up)
        {
            let cap = up.next_power_of_two();
            self.upload_staging = Some(host_buffer::<f32>(
                &self.ctx,
                BufferUsage::TRANSFER_SRC,
                cap,
            )?);
            self.cache.clear();
        }
        let down = self.readback_len;
        if down > 0
            && self
                .readback
                .as_ref()
                .is_none_or(|b| (b.len() as usize) < down)
        {
            let cap = down.next_power_of_two();
            self.readback = Some(host_buffer::<f32>(
                &self.ctx,
                BufferUsage::TRANSFER_DST,
                cap,
            )?);
            self.cache.clear();
        }
        Ok(())
    }

    // `dispatch` is unsafe in vulkano; see the SAFETY note at the call.
    #[allow(unsafe_code)]
    fn record(&self) -> Result<Arc<PrimaryAutoCommandBuffer>, Error> {
        let ctx = &self.ctx;
        let vk = |e| Error::vk("recording the command buffer", e);
        let mut b = AutoCommandBufferBuilder::primary(
            ctx.commands.clone(),
            ctx.queue.queue_family_index(),
            CommandBufferUsage::MultipleSubmit,
        )
        .map_err(|e| Error::vk("allocating a command buffer", e))?;
        let mut bound: Option<Kernel> = None;
        let mut slot = 0u32;
        let mut set_bound = false;
        for cmd in &self.cmds {
            match *cmd {
                Cmd::Dispatch { kernel, groups } => {
                    if bound != Some(kernel) {
                        b.bind_pipeline_compute(ctx.pipeline(kernel)?).map_err(vk)?;
                        bound = Some(kernel);
                    }
                    if !set_bound {
                        b.bind_descriptor_sets(
                            PipelineBindPoint::Compute,
                            ctx.layout.clone(),
                            0,
                            self.set.clone(),
                        )
                        .map_err(vk)?;
                        set_bound = true;
                    }
                    b.push_constants(ctx.layout.clone(), 0, slot).map_err(vk)?;
                    // SAFETY: the kernel indexes only spans that Op::validate
                    // checked against the arena; its parameters are in the
                    // slot written before every submission.
                    unsafe { b.dispatch(groups) }.map_err(vk)?;
                    slot += 1;
                }
                Cmd::Upload { staging, dst, len } => {
                    let src = self.upload_staging.clone().ok_or_else(|| Error::Vulkan {
                        during: "recording the command buffer",
                        message: "no upload staging buffer".into(),
                    })?;
                    let (s, d, l) = (staging as u64, dst as u64, len as u64);
                    b.copy_buffer(CopyBufferInfoTyped::buffers(
                        src.slice(s..s + l),
                        self.arena.clone().slice(d..d + l),
                    ))
                    .map_err(vk)?;
                }
                Cmd::Download { src, staging, len } => {
                    let dst = self.readback.clone().ok_or_else(|| Error::Vulkan {
                        during: "recording the command buffer",
                        message: "no readback buffer".into(),
                    })?;
                    let (s, d, l) = (src as u64, staging as u64, len as u64);
                    b.copy_buffer(CopyBufferInfoTyped::buffers(
                        self.arena.clone().slice(s..s + l),
                        dst.slice(d..d + l),
                    ))
                    .map_err(vk)?;
                }
            }
        }
        b.build()
            .map_err(|e| Error::vk("building the command buffer", e))
    }

    /// Run everything pending as one queue submission and wait for it.
    fn flush(&mut self) -> Result<(), Error> {
        if self.cmds.is_empty() {
            return Ok(());
        }
        let result = self.flush_inner();
        self.discard_pending();
        result
    }

    fn flush_inner(&mut self) -> Result<(), Error> {
        self.reserve()?;
        if !self.slots.is_empty() {
            let n = (self.slots.len() * SLOT_WORDS) as u64;
            let dst = self.params.clone().slice(0..n);
            let mut w = dst
                .write()
                .map_err(|e| Error::vk("writing the params buffer", e))?;
            for (dst, src) in w.chunks_exact_mut(SLOT_WORDS).zip(&self.slots) {
                dst.copy_from_slice(src);
            }
        }
        if let Some(staging) = &self.upload_staging {
            if !self.upload_data.is_empty() {
                let n = self.upload_data.len() as u64;
                let dst = staging.clone().slice(0..n);
                let mut w = dst
                    .write()
                    .map_err(|e| Error::vk("writing the upload staging buffer", e))?;
                w.copy_from_slice(&self.upload_data);
            }
        }
        let cb = match self.cache.get(&self.cmds) {
            Some(cb) => cb.clone(),
            None => {
                let cb = self.record()?;
                self.recordings += 1;
                if self.cache.len() >= CACHE_LIMIT {
                    self.cache.clear();
                }
                self.cache.insert(self.cmds.clone(), cb.clone());
                cb
            }
        };
        let ctx = &self.ctx;
        self.submissions += 1;
        vulkano::sync::now(ctx.device.clone())
            .then_execute(ctx.queue.clone(), cb)
            .map_err(|e| Error::vk("submitting", e))?
            .then_signal_fence_and_flush()
            .map_err(|e| Error::vk("submitting", e))?
            .wait(None)
            .map_err(|e| Error::vk("waiting for the device", e))
    }
}

fn u32_of(what: &'static str, v: usize) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what,
        value: v,
        limit: u32::MAX as usize,
    })
}

impl Backend for VulkanBackend {
    type Elem = f32;
    type Error = Error;

    fn arena_len(&self) -> usize {
        self.arena_len
    }

    fn upload(&mut self, offset: usize, src: &[f32]) -> Result<(), Error> {
        self.check_range(offset, src.len())?;
        if src.is_empty() {
            return Ok(());
        }
        if self.mapped && self.cmds.is_empty() {
            let (s, e) = (offset as u64, (offset + src.len()) as u64);
            let dst = self.arena.clone().slice(s..e);
            let mut w = dst.write().map_err(|e| Error::vk("mapping the arena", e))?;
            w.copy_from_slice(src);
            return Ok(());
        }
        let staging = u32_of("pending upload elements", self.upload_data.len())?;
        self.cmds.push(Cmd::Upload {
            staging,
            dst: u32_of("offset", offset)?,
            len: u32_of("len", src.len())?,
        });
        self.upload_data.extend_from_slice(src);
        Ok(())
    }

    fn download(&mut self, offset: usize, dst: &mut [f32]) -> Result<(), Error> {
        self.check_range(offset, dst.len())?;
        if self.mapped || dst.is_empty() {
            self.flush()?;
            if dst.is_empty() {
                return Ok(());
            }
            let (s, e) = (offset as u64, (offset + dst.len()) as u64);
            let src = self.arena.clone().slice(s..e);
            let r = src.read().map_err(|e| Error::vk("mapping the arena", e))?;
            dst.copy_from_slice(&r);
            return Ok(());
        }
        let staging = u32_of("pending download elements", self.readback_len)?;
        self.cmds.push(Cmd::Download {
            src: u32_of("offset", offset)?,
            staging,
            len: u32_of("len", dst.len())?,
        });
        self.readback_len += dst.len();
        self.flush()?;
        let rb = self.readback.clone().ok_or_else(|| Error::Vulkan {
            during: "downloading",
            message: "no readback buffer".into(),
        })?;
        let (s, e) = (staging as u64, staging as u64 + dst.len() as u64);
        let src = rb.slice(s..e);
        let r = src
            .read()
            .map_err(|e| Error::vk("reading the readback buffer", e))?;
        dst.copy_from_slice(&r);
        Ok(())
    }

    /// The composites with a shader of their own (one dispatch instead of
    /// their decomposition's many); any other composite is decomposed.
    fn overrides(&self, op: &Op<f32>) -> bool {
        matches!(
            op,
            Op::BiasActivate(_) | Op::Loss(_) | Op::PerceptronEpoch(_) | Op::PerceptronErrors(_)
        )
    }

    /// Records the op; a rejected op (malformed, or too large for this
    /// device) also drops every dispatch recorded since the last submission,
    /// so the failed unit of work changes nothing (uploads are kept).
    fn dispatch(&mut self, op: &Op<f32>) -> Result<(), Error> {
        let result = self.record_op(op);
        if result.is_err() {
            self.drop_dispatches();
        }
        result
    }

    /// As the trait's `execute`, and a composite rejected as a whole also
    /// drops the dispatches recorded since the last submission.
    fn execute(&mut self, op: &Op<f32>) -> Result<(), Error> {
        if op.is_primitive() || self.overrides(op) {
            return self.dispatch(op);
        }
        if let Err(e) = op.validate_decomposition(self.arena_len) {
            self.drop_dispatches();
            return Err(e.into());
        }
        op.decompose(&mut |p| self.dispatch(p))
    }

    fn submit(&mut self) -> Result<(), Error> {
        self.flush()
    }
}

#[cfg(test)]
mod tests;

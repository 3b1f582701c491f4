//! Lowering of a HAL [`Op`] to one compute dispatch: which kernel, its
//! parameter slot (16 words), and its workgroup counts.
//!
//! The slot layouts are written at the top of each `shaders/*.comp` file.

use microprop_hal::{op, Activation, LossKind, Op};

use crate::Error;

/// Words per parameter slot (one slot per recorded dispatch).
pub(crate) const SLOT_WORDS: usize = 16;

/// Largest workgroup count used in one dimension (the Vulkan minimum for
/// `maxComputeWorkGroupCount`); 1-D kernels loop over the rest.
const MAX_GROUPS: usize = 65_535;

/// Which gemm kernel the backend dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GemmKernel {
    /// Operand tiles staged through workgroup shared memory (32×16 of A and
    /// 16×32 of B per step of k), each invocation accumulating a 4×4 block of
    /// a 32×32 output tile. What real GPUs want; the default.
    #[default]
    Tiled,
    /// 4×4 outputs per invocation from global loads, no shared memory.
    /// Faster on lavapipe (a CPU implementation), slower on real GPUs.
    Blocked,
}

/// The environment variable [`crate::VulkanBackend::new`] reads to pick the
/// gemm kernel: `tiled` (default) or `blocked`.
pub const GEMM_ENV: &str = "MICROPROP_VULKAN_GEMM";

impl GemmKernel {
    /// The kernel `MICROPROP_VULKAN_GEMM` names; [`GemmKernel::Tiled`] when
    /// it is unset or names neither.
    pub fn from_env() -> Self {
        match std::env::var(GEMM_ENV) {
            Ok(v) if v.eq_ignore_ascii_case("blocked") => GemmKernel::Blocked,
            _ => GemmKernel::Tiled,
        }
    }
}

macro_rules! kernels {
    ($($name:ident => $file:literal,)*) => {
        /// One compiled compute shader.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub(crate) enum Kernel { $($name,)* }

        impl Kernel {
            pub(crate) const ALL: &'static [Kernel] = &[$(Kernel::$name,)*];
            pub(crate) const COUNT: usize = Self::ALL.len();

            /// The SPIR-V words' bytes, compiled by build.rs.
            pub(crate) fn spirv(self) -> &'static [u8] {
                match self {
                    $(Kernel::$name => include_bytes!(concat!(env!("OUT_DIR"), "/", $file, ".spv")),)*
                }
            }

            /// The shader's file stem, for errors.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Kernel::$name => $file,)* }
            }
        }
    };
}

kernels! {
    Fill => "fill",
    Copy => "copy",
    Axpy => "axpy",
    SumSquares => "sum_squares",
    GemmTiled => "gemm_tiled",
    GemmBlocked => "gemm_blocked",
    BiasAdd => "bias_add",
    BiasGrad => "bias_grad",
    Activate => "activate",
    BiasActivate => "bias_activate",
    ActivateBackward => "activate_backward",
    Softmax => "softmax",
    LogSoftmax => "log_softmax",
    SoftmaxBackward => "softmax_backward",
    Maxout => "maxout",
    MaxoutBackward => "maxout_backward",
    Im2col => "im2col",
    Col2im => "col2im",
    OneHot => "one_hot",
    Loss => "loss",
    CountCorrect => "count_correct",
    Sgd => "sgd",
    Momentum => "momentum",
    Adam => "adam",
    PerceptronEpoch => "perceptron_epoch",
    PerceptronErrors => "perceptron_errors",
}

/// One lowered op.
pub(crate) struct Dispatch {
    pub kernel: Kernel,
    pub groups: [u32; 3],
    pub params: [u32; SLOT_WORDS],
}

fn u(what: &'static str, v: usize) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what,
        value: v,
        limit: u32::MAX as usize,
    })
}

fn f(v: f32) -> u32 {
    v.to_bits()
}

fn b(v: bool) -> u32 {
    v as u32
}

/// Workgroups for a grid-stride loop over `n` items, 256 per workgroup.
fn g1(n: usize) -> [u32; 3] {
    [n.div_ceil(256).clamp(1, MAX_GROUPS) as u32, 1, 1]
}

const ONE: [u32; 3] = [1, 1, 1];

fn act_code(a: &Activation<f32>) -> (u32, f32) {
    match *a {
        Activation::Identity => (0, 0.0),
        Activation::Sigmoid => (1, 0.0),
        Activation::Tanh => (2, 0.0),
        Activation::Relu => (3, 0.0),
        Activation::LeakyRelu { slope } => (4, slope),
        Activation::Elu { alpha } => (5, alpha),
        Activation::Softplus => (6, 0.0),
    }
}

/// Build a slot from its leading words; the rest are zero.
fn slot(words: &[u32]) -> [u32; SLOT_WORDS] {
    let mut s = [0u32; SLOT_WORDS];
    s[..words.len()].copy_from_slice(words);
    s
}

/// The slot words 2..=13 of im2col and col2im: rows and the window's
/// geometry, then its output positions.
fn window_words(rows: usize, w: &op::Window, layout: op::ColLayout) -> Result<[u32; 12], Error> {
    Ok([
        u("rows", rows)?,
        u("channels", w.channels)?,
        u("height", w.height)?,
        u("width", w.width)?,
        u("kh", w.kh)?,
        u("kw", w.kw)?,
        u("stride", w.stride)?,
        u("pad", w.pad_h)?,
        u("pad", w.pad_w)?,
        b(layout == op::ColLayout::Pool),
        u("out_h", w.out_h())?,
        u("out_w", w.out_w())?,
    ])
}

/// Lower a validated op. Returns `None` for an op with nothing to do.
pub(crate) fn lower(op: &Op<f32>, gemm: GemmKernel) -> Result<Option<Dispatch>, Error> {
    let d = |kernel, groups, words: &[u32]| {
        Ok(Some(Dispatch {
            kernel,
            groups,
            params: slot(words),
        }))
    };
    match op {
        Op::Fill(op::Fill { dst, value }) => {
            if dst.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Fill,
                g1(dst.len),
                &[u("offset", dst.offset)?, u("len", dst.len)?, f(*value)],
            )
        }
        Op::Copy(op::Copy { src, dst }) => {
            if dst.len == 0 || src == dst {
                return Ok(None);
            }
            d(
                Kernel::Copy,
                g1(dst.len),
                &[
                    u("offset", src.offset)?,
                    u("offset", dst.offset)?,
                    u("len", dst.len)?,
                ],
            )
        }
        Op::Axpy(op::Axpy { x, y, alpha }) => {
            if y.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Axpy,
                g1(y.len),
                &[
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("len", y.len)?,
                    f(*alpha),
                ],
            )
        }
        Op::SumSquares(op::SumSquares {
            x,
            out,
            scale,
            accumulate,
        }) => d(
            Kernel::SumSquares,
            ONE,
            &[
                u("offset", x.offset)?,
                u("offset", out.offset)?,
                u("len", x.len)?,
                f(*scale),
                b(*accumulate),
            ],
        ),
        Op::Gemm(op::Gemm {
            m,
            n,
            k,
            a,
            trans_a,
            b: bs,
            trans_b,
            c,
            alpha,
            beta,
        }) => {
            if *m == 0 || *n == 0 {
                return Ok(None);
            }
            let (kernel, tile) = match gemm {
                GemmKernel::Tiled => (Kernel::GemmTiled, 32),
                GemmKernel::Blocked => (Kernel::GemmBlocked, 32),
            };
            let gx = n.div_ceil(tile);
            let gy = m.div_ceil(tile);
            for g in [gx, gy] {
                if g > MAX_GROUPS {
                    return Err(Error::TooLarge {
                        what: "gemm workgroups in one dimension",
                        value: g,
                        limit: MAX_GROUPS,
                    });
                }
            }
            d(
                kernel,
                [gx as u32, gy as u32, 1],
                &[
                    u("gemm m", *m)?,
                    u("gemm n", *n)?,
                    u("gemm k", *k)?,
                    u("offset", a.offset)?,
                    u("offset", bs.offset)?,
                    u("offset", c.offset)?,
                    b(*trans_a),
                    b(*trans_b),
                    f(*alpha),
                    f(*beta),
                ],
            )
        }
        Op::BiasAdd(op::BiasAdd {
            bias,
            out,
            rows,
            cols,
        }) => {
            if out.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::BiasAdd,
                g1(out.len),
                &[
                    u("offset", bias.offset)?,
                    u("offset", out.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                ],
            )
        }
        Op::BiasGrad(op::BiasGrad {
            dout,
            dbias,
            rows,
            cols,
        }) => {
            if *cols == 0 {
                return Ok(None);
            }
            d(
                Kernel::BiasGrad,
                g1(*cols),
                &[
                    u("offset", dout.offset)?,
                    u("offset", dbias.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                ],
            )
        }
        Op::Activate(op::Activate { act, x, y }) => {
            if y.len == 0 {
                return Ok(None);
            }
            let (code, p) = act_code(act);
            d(
                Kernel::Activate,
                g1(y.len),
                &[
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("len", y.len)?,
                    code,
                    f(p),
                ],
            )
        }
        Op::BiasActivate(op::BiasActivate {
            act,
            bias,
            x,
            y,
            rows,
            cols,
        }) => {
            if y.len == 0 {
                return Ok(None);
            }
            let (code, p) = act_code(act);
            d(
                Kernel::BiasActivate,
                g1(y.len),
                &[
                    u("offset", bias.offset)?,
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                    code,
                    f(p),
                ],
            )
        }
        Op::ActivateBackward(op::ActivateBackward { act, x, y, dy, dx }) => {
            if dx.len == 0 {
                return Ok(None);
            }
            let (code, p) = act_code(act);
            d(
                Kernel::ActivateBackward,
                g1(dx.len),
                &[
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("offset", dy.offset)?,
                    u("offset", dx.offset)?,
                    u("len", dx.len)?,
                    code,
                    f(p),
                ],
            )
        }
        Op::Softmax(op::Softmax { x, y, rows, cols }) => {
            if y.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Softmax,
                g1(*rows),
                &[
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                ],
            )
        }
        Op::LogSoftmax(op::LogSoftmax { x, y, rows, cols }) => {
            if y.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::LogSoftmax,
                g1(*rows),
                &[
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                ],
            )
        }
        Op::OneHot(op::OneHot {
            labels,
            y,
            rows,
            cols,
            value,
        }) => {
            if y.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::OneHot,
                g1(y.len),
                &[
                    u("offset", labels.offset)?,
                    u("offset", y.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                    f(*value),
                ],
            )
        }
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y,
            dy,
            dx,
            rows,
            cols,
        }) => {
            if dx.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::SoftmaxBackward,
                g1(*rows),
                &[
                    u("offset", y.offset)?,
                    u("offset", dy.offset)?,
                    u("offset", dx.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                ],
            )
        }
        Op::Maxout(op::Maxout {
            x,
            y,
            rows,
            units,
            k,
        }) => {
            if y.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Maxout,
                g1(y.len),
                &[
                    u("offset", x.offset)?,
                    u("offset", y.offset)?,
                    u("rows", *rows)?,
                    u("units", *units)?,
                    u("k", *k)?,
                ],
            )
        }
        Op::Im2col(op::Im2col {
            x,
            cols,
            rows,
            window,
            layout,
        }) => {
            if cols.len == 0 {
                return Ok(None);
            }
            let mut words = [0u32; 14];
            words[0] = u("offset", x.offset)?;
            words[1] = u("offset", cols.offset)?;
            words[2..].copy_from_slice(&window_words(*rows, window, *layout)?);
            // Each index must fit the shader's u32 arithmetic.
            u("len", cols.len)?;
            d(Kernel::Im2col, g1(cols.len), &words)
        }
        Op::Col2im(op::Col2im {
            cols,
            x,
            rows,
            window,
            layout,
        }) => {
            if x.len == 0 {
                return Ok(None);
            }
            let mut words = [0u32; 14];
            words[0] = u("offset", cols.offset)?;
            words[1] = u("offset", x.offset)?;
            words[2..].copy_from_slice(&window_words(*rows, window, *layout)?);
            u("len", cols.len)?;
            d(Kernel::Col2im, g1(x.len), &words)
        }
        Op::MaxoutBackward(op::MaxoutBackward {
            x,
            dy,
            dx,
            rows,
            units,
            k,
        }) => {
            if dx.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::MaxoutBackward,
                g1(dy.len),
                &[
                    u("offset", x.offset)?,
                    u("offset", dy.offset)?,
                    u("offset", dx.offset)?,
                    u("rows", *rows)?,
                    u("units", *units)?,
                    u("k", *k)?,
                ],
            )
        }
        Op::Loss(op::Loss {
            kind,
            pred,
            target,
            rows,
            cols,
            out,
            grad,
            scratch: _,
        }) => {
            let (code, margin) = match kind {
                LossKind::Mse => (0, 0.0),
                LossKind::SoftmaxCrossEntropy => (1, 0.0),
                LossKind::Hinge { margin } => (2, *margin),
            };
            let g = grad.unwrap_or_default();
            d(
                Kernel::Loss,
                ONE,
                &[
                    code,
                    u("offset", pred.offset)?,
                    u("offset", target.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                    u("offset", out.offset)?,
                    u("offset", g.offset)?,
                    b(grad.is_some()),
                    f(margin),
                ],
            )
        }
        Op::CountCorrect(op::CountCorrect {
            pred,
            target,
            rows,
            cols,
            out,
        }) => d(
            Kernel::CountCorrect,
            ONE,
            &[
                u("offset", pred.offset)?,
                u("offset", target.offset)?,
                u("rows", *rows)?,
                u("cols", *cols)?,
                u("offset", out.offset)?,
            ],
        ),
        Op::SgdStep(op::SgdStep { param, grad, lr }) => {
            if param.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Sgd,
                g1(param.len),
                &[
                    u("offset", param.offset)?,
                    u("offset", grad.offset)?,
                    u("len", param.len)?,
                    f(*lr),
                ],
            )
        }
        Op::MomentumStep(op::MomentumStep {
            param,
            grad,
            velocity,
            lr,
            momentum,
        }) => {
            if param.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Momentum,
                g1(param.len),
                &[
                    u("offset", param.offset)?,
                    u("offset", grad.offset)?,
                    u("offset", velocity.offset)?,
                    u("len", param.len)?,
                    f(*lr),
                    f(*momentum),
                ],
            )
        }
        Op::AdamStep(op::AdamStep {
            param,
            grad,
            m,
            v,
            lr,
            beta1,
            beta2,
            eps,
            bias1,
            bias2,
        }) => {
            if param.len == 0 {
                return Ok(None);
            }
            d(
                Kernel::Adam,
                g1(param.len),
                &[
                    u("offset", param.offset)?,
                    u("offset", grad.offset)?,
                    u("offset", m.offset)?,
                    u("offset", v.offset)?,
                    u("len", param.len)?,
                    f(*lr),
                    f(*beta1),
                    f(*beta2),
                    f(*eps),
                    f(*bias1),
                    f(*bias2),
                ],
            )
        }
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights,
            samples,
            labels,
            rows,
            cols,
            average,
            stats,
            scratch: _,
        }) => {
            if *rows == 0 {
                return Ok(None);
            }
            let avg = average.unwrap_or_default();
            d(
                Kernel::PerceptronEpoch,
                ONE,
                &[
                    u("offset", weights.offset)?,
                    u("offset", samples.offset)?,
                    u("offset", labels.offset)?,
                    u("rows", *rows)?,
                    u("cols", *cols)?,
                    u("offset", avg.offset)?,
                    b(average.is_some()),
                    u("offset", stats.offset)?,
                ],
            )
        }
        Op::PerceptronErrors(op::PerceptronErrors {
            weights,
            samples,
            labels,
            rows,
            cols,
            out,
            scratch: _,
        }) => d(
            Kernel::PerceptronErrors,
            ONE,
            &[
                u("offset", weights.offset)?,
                u("offset", samples.offset)?,
                u("offset", labels.offset)?,
                u("rows", *rows)?,
                u("cols", *cols)?,
                u("offset", out.offset)?,
            ],
        ),
        // A composite without a shader: `overrides` is false for it, so
        // `execute` decomposes it and never gets here.
        #[allow(unreachable_patterns)]
        _ => Err(microprop_hal::OpError::Unsupported { op: op.name() }.into()),
    }
}

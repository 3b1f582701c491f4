//! On-target unit tests (`defmt-test`) of the core invariants, run on the
//! device itself: under QEMU on the M4F (mps2-an386) and the M0 (micro:bit)
//! through the crate's semihosting runner,
//!
//! ```sh
//! cargo test --release --test invariants                            # M4F
//! cargo test --release --test invariants --target thumbv6m-none-eabi # M0
//! ```
//!
//! (exit code 0 when every test passes; a failed assertion logs and exits 1
//! through the library's panic handler). Each test builds its network in a
//! `static` arena taken once; the two element types the firmware trains in,
//! `f32` and `Q10`, are both covered.
#![no_std]
#![no_main]

use microprop_firmware as _; // logger, panic and exit handlers

use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Spec};

const NET: Spec = Spec::new(&[Layer::dense(4, 6), Layer::tanh(), Layer::dense(6, 3)]);
const CFG: Config =
    Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::momentum(0.1, 0.9)).with_seed(3);
const LEN: usize = CFG.arena_len(&NET);
/// The ops the network issues: the backend links only their kernels, as
/// every example's does (the full set no longer fits the micro:bit's
/// flash beside these tests).
const OPS: u64 = CFG.ops(&NET).bits();
const P: usize = NET.param_count();
const X: [f32; 8] = [0.5, -1.0, 0.25, 2.0, -0.75, 0.5, 1.5, -0.25];

fn params<B: microprop::Backend>(net: &mut Network<'_, B>) -> [B::Elem; P] {
    let mut p = [B::Elem::ZERO; P];
    defmt::unwrap!(net.parameters(&mut p).ok());
    p
}

fn same<E: Element>(a: &[E], b: &[E]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits())
}

#[defmt_test::tests]
mod tests {
    use super::{params, same, CFG, LEN, NET, OPS, P, X};
    use microprop::checkpoint::{self, Checkpoints};
    use microprop::{blob, Element, Error, Network, Targets, Q10};
    use microprop_cpu::CpuBackend;
    use microprop_firmware::flash::{RamFlash, ERASE_SIZE};

    /// A call rejected for bad input (a label past the classes, a wrong
    /// batch length) changes no parameter, in `f32` and in `Q10`.
    #[test]
    fn a_rejected_call_leaves_the_model_unchanged() {
        let mut arena = [0.0f32; LEN];
        let mut net =
            defmt::unwrap!(Network::new(NET, CpuBackend::with_ops::<OPS>(&mut arena), CFG).ok());
        defmt::unwrap!(net.train_step(&X, Targets::Labels(&[0, 2])).ok());
        let before = params(&mut net);
        let r = net.train_step(&X, Targets::Labels(&[0, 3]));
        defmt::assert!(matches!(r, Err(Error::LabelOutOfRange { label: 3, .. })));
        defmt::assert!(net.train_step(&X[..7], Targets::Labels(&[0, 1])).is_err());
        defmt::assert!(same(&before, &params(&mut net)));

        let xq = X.map(Q10::from_f32);
        let mut arena = [Q10::ZERO; LEN];
        let mut net =
            defmt::unwrap!(Network::new(NET, CpuBackend::with_ops::<OPS>(&mut arena), CFG).ok());
        defmt::unwrap!(net.train_step(&xq, Targets::Labels(&[1, 2])).ok());
        let before = params(&mut net);
        defmt::assert!(net.train_step(&xq, Targets::Labels(&[7, 0])).is_err());
        defmt::assert!(same(&before, &params(&mut net)));
    }

    /// save_blob then load_blob into a differently seeded network gives the
    /// same parameters; a blob with one flipped bit is refused and changes
    /// nothing; a fixed-point blob loads into `Q10` exactly.
    #[test]
    fn a_blob_round_trips_and_a_corrupt_one_is_refused() {
        let mut a1 = [0.0f32; LEN];
        let mut a2 = [0.0f32; LEN];
        let mut net =
            defmt::unwrap!(Network::new(NET, CpuBackend::with_ops::<OPS>(&mut a1), CFG).ok());
        let mut other = defmt::unwrap!(Network::new(
            NET,
            CpuBackend::with_ops::<OPS>(&mut a2),
            CFG.with_seed(4)
        )
        .ok());
        defmt::unwrap!(net.train_step(&X, Targets::Labels(&[2, 1])).ok());
        let mut bytes = [0u8; blob::blob_len(P)];
        defmt::assert_eq!(defmt::unwrap!(net.save_blob(&mut bytes).ok()), bytes.len());
        let before = params(&mut other);
        bytes[blob::HEADER_LEN + 5] ^= 0x10;
        defmt::assert!(matches!(
            other.load_blob(&bytes),
            Err(Error::Blob(blob::BlobError::Crc { .. }))
        ));
        defmt::assert!(same(&before, &params(&mut other)));
        bytes[blob::HEADER_LEN + 5] ^= 0x10;
        defmt::unwrap!(other.load_blob(&bytes).ok());
        defmt::assert!(same(&params(&mut net), &params(&mut other)));

        let p = params(&mut net);
        let mut fixed = [0u8; blob::fixed_blob_len(P)];
        defmt::unwrap!(blob::encode_fixed(&NET, &p, 10, &mut fixed).ok());
        let mut aq = [Q10::ZERO; LEN];
        let mut q =
            defmt::unwrap!(Network::new(NET, CpuBackend::with_ops::<OPS>(&mut aq), CFG).ok());
        defmt::unwrap!(q.load_blob(&fixed).ok());
        for (w, f) in params(&mut q).iter().zip(&p) {
            defmt::assert_eq!(*w, Q10::from_f32(*f));
        }
    }

    /// A checkpoint saved to (RAM-backed) NOR flash restores parameters,
    /// and momentum into a fresh network; training on from
    /// either gives the same bits.
    #[test]
    fn a_checkpoint_restores_the_model_and_its_state() {
        const SLOT: usize =
            checkpoint::slot_len_for::<RamFlash<'static>>(&NET, CFG.optimizer.kind());
        let mut mem = [0xFFu8; 4 * ERASE_SIZE];
        let mut ckpt =
            defmt::unwrap!(Checkpoints::new(RamFlash::new(&mut mem), 0, SLOT as u32).ok());
        let mut a1 = [0.0f32; LEN];
        let mut a2 = [0.0f32; LEN];
        let mut net =
            defmt::unwrap!(Network::new(NET, CpuBackend::with_ops::<OPS>(&mut a1), CFG).ok());
        for _ in 0..3 {
            defmt::unwrap!(net.train_step(&X, Targets::Labels(&[0, 1])).ok());
        }
        defmt::unwrap!(ckpt.save(&mut net).ok());
        let mut other = defmt::unwrap!(Network::new(
            NET,
            CpuBackend::with_ops::<OPS>(&mut a2),
            CFG.with_seed(9)
        )
        .ok());
        let r = defmt::unwrap!(ckpt.restore(&mut other).ok());
        defmt::assert!(r.state);
        defmt::assert_eq!(other.steps(), net.steps());
        defmt::assert!(same(&params(&mut net), &params(&mut other)));
        let l1 = defmt::unwrap!(net.train_step(&X, Targets::Labels(&[2, 2])).ok());
        let l2 = defmt::unwrap!(other.train_step(&X, Targets::Labels(&[2, 2])).ok());
        defmt::assert_eq!(l1.to_bits(), l2.to_bits());
        defmt::assert!(same(&params(&mut net), &params(&mut other)));
    }

    /// The backend's `f32` square roots (the FPU's `VSQRT.F32` on the
    /// hard-float cores) give `libm::sqrtf`'s bits: on 200,000 inputs
    /// spread over the positive floats, on zeros, subnormals, the largest finite
    /// value and infinity; both give NaN below zero. `sqrt_fast` is exact
    /// where the FPU computes it, within one ulp elsewhere.
    #[test]
    fn sqrt_is_libms_on_the_device() {
        use microprop_cpu::Float;
        const HW: bool = cfg!(all(target_arch = "arm", target_abi = "eabihf"));
        let specials = [
            0u32,
            0x8000_0000,
            1,
            0x007f_ffff,
            0x0080_0000,
            0x7f7f_ffff,
            0x7f80_0000,
        ];
        let sweep = (0..200_000u32).map(|i| i * 10_457 + 3);
        for bits in specials.into_iter().chain(sweep) {
            let x = f32::from_bits(bits);
            let want = libm::sqrtf(x).to_bits();
            defmt::assert_eq!(Float::sqrt(x).to_bits(), want, "sqrt of {=u32:#x}", bits);
            let fast = Float::sqrt_fast(x).to_bits();
            if HW {
                defmt::assert_eq!(fast, want, "sqrt_fast of {=u32:#x}", bits);
            } else {
                defmt::assert!(fast.abs_diff(want) <= 1, "sqrt_fast of {=u32:#x}", bits);
            }
        }
        defmt::assert!(Float::sqrt(-1.0f32).is_nan() && libm::sqrtf(-1.0f32).is_nan());
        defmt::assert!(Float::sqrt_fast(-1.0f32).is_nan());
    }

    /// `f32` `+`, `−` and `·` round as IEEE 754 requires, on the FPU and
    /// through the M0's soft-float routines (`microprop-softfloat`):
    /// hand-derived ties to even, a gradual underflow, overflow to
    /// infinity, exact cancellation to +0.
    #[test]
    fn f32_arithmetic_rounds_like_ieee() {
        use core::hint::black_box as b;
        let f = f32::from_bits;
        let cases: [(u32, u32); 9] = [
            // 1 + 2⁻²⁴: a tie, to the even 1.
            ((b(1.0f32) + b(f(0x3380_0000))).to_bits(), 0x3f80_0000),
            // (1 + 2⁻²³) + 2⁻²⁴: a tie, to the even 1 + 2⁻²².
            (
                (b(f(0x3f80_0001)) + b(f(0x3380_0000))).to_bits(),
                0x3f80_0002,
            ),
            // 1 − 2⁻²⁵ lies halfway between 1 − 2⁻²⁴ and 1: a tie, to the even 1.
            ((b(1.0f32) - b(f(0x3300_0000))).to_bits(), 0x3f80_0000),
            // 2⁻¹²⁶ · ½ = 2⁻¹²⁷, a subnormal.
            ((b(f(0x0080_0000)) * b(0.5f32)).to_bits(), 0x0040_0000),
            // 3 · fl(1/3) = 1 + 2⁻²⁵, nearer 1.
            ((b(3.0f32) * b(f(0x3eaa_aaab))).to_bits(), 0x3f80_0000),
            // 1.5 · 1.5 = 2.25, exact.
            ((b(1.5f32) * b(1.5f32)).to_bits(), 0x4010_0000),
            ((b(f32::MAX) + b(f32::MAX)).to_bits(), 0x7f80_0000),
            ((b(f32::MAX) * b(-2.0f32)).to_bits(), 0xff80_0000),
            ((b(0.1f32) - b(0.1f32)).to_bits(), 0),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            defmt::assert_eq!(got, want, "case {}", i);
        }
    }
}

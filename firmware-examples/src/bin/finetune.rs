//! Desktop to device: start from a model pretrained on the host, keep
//! learning on the device on data the host never saw, without forgetting
//! what it knew (issue 14).
//!
//! - The model was pretrained on the host (`cargo run --release --example
//!   pretrain [-- --hidden 32]`, `examples/pretrain.rs`) on the *unshifted*
//!   training images of the digits split (image `i` is held out when
//!   `i % 5 == 4`), and is embedded here as a device blob
//!   (`microprop::blob`): on the micro:bit (16 KiB of RAM) 64-16-10 ReLU,
//!   1,210 parameters (`models/digits-pretrained.mpb`, 4,860 bytes); on the
//!   boards with more RAM (M4F, M33) 64-32-10, 2,410 parameters
//!   (`models/digits32-pretrained.mpb`, 9,660 bytes); build.rs picks the
//!   width ([`HIDDEN`]) and the blob by the board's RAM.
//!   `MICROPROP_PRETRAINED_BLOB=path` at build time embeds another blob, e.g.
//!   the JAX-trained model CI converts with `microprop to-blob`.
//!   `Network::load_blob` checks its magic, version, spec hash, length and
//!   CRC-32 before touching the arena; a bad blob is a logged typed error
//!   and exit code 1.
//! - The device sees the digits shifted by [`SHIFT`] (1 pixel right, 1 down,
//!   zero fill), computed at run time from the unshifted pixels in flash
//!   (no extra flash). The held-out images split in two: the even-numbered
//!   180 are fine-tuned on, the odd-numbered 179 test.
//! - Each of the [`VARIANTS`] restarts from the blob, fine-tunes with
//!   batch-1 SGD ([`LR`]) for [`EPOCHS`] epochs over the shifted
//!   fine-tuning images and prints one `VARIANT` line: shifted test
//!   accuracy, unshifted held-out accuracy (forgetting), arena bytes of its
//!   spec, static RAM and instructions per fine-tuning step
//!   (`finetune-table.sh` turns the lines into `docs/finetuning.md`'s table).
//!   The variants: full update, last layer only and bias-only
//!   (`Spec::with_training`, each with its own smaller arena inside the one
//!   static arena, sized for the largest, the full update's), replay,
//!   L2-SP (`Network::set_anchor`, w₀ read from the blob in flash), and
//!   replay + L2-SP, the default.
//! - Replay: the device keeps [`STORED`] of the unshifted *training* images
//!   (the pretraining split, in flash) by reservoir sampling
//!   (`microprop::replay`, Algorithm R, seed [`REPLAY_SEED`]); only their
//!   indices are kept in RAM (about 1 KiB on the stack: a `Replay` of
//!   zero-length samples whose label is the image's index), the pixels stay
//!   in flash. After each shifted step it trains on [`MIXED`](microprop_firmware::finetune::MIXED) distinct
//!   stored images, each as its own batch-1 step (same arena, same cost per
//!   step).
//! - Exit 0 only if the default variant (replay + L2-SP) reaches
//!   [`PASS_SHIFTED`] shifted and [`PASS_UNSHIFTED`] unshifted: issue 14's
//!   M0 thresholds (0.80 / 0.88) for the 64-16-10 model on the micro:bit,
//!   its M4F thresholds (0.85 / 0.90) for the 64-32-10 model on the M4F and
//!   M33 (which run the same model and print the same accuracies). The
//!   other variants are reported, not gated.
//!
//! The recipe per width ([`LR`], [`EPOCHS`], [`STORED`], λ) is the one
//! `host-tests/tests/replay_digits.rs` runs on the host in f32, over replay
//! seeds, with both the microprop- and the JAX-pretrained blob (the
//! firmware prints the host's accuracies for seed 14). Batch 1 SGD is what
//! fits the micro:bit (10.7 KB of arena in 16 KiB of RAM).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, OpKind, Optimizer, Spec, Train};
use microprop_cpu::CpuBackend;
use microprop_firmware::finetune::{
    measure, pool, run_variant, Outcome, Variant, N_HELD, N_TEST, N_TUNE, SHIFT,
};
use microprop_firmware::{
    board, check, hello, take, Aligned, ConstStaticCell, Memory, Meter, Report,
};

/// Hidden width: 16 on the micro:bit, 32 on boards with more RAM (build.rs
/// decides and embeds the matching blob).
const HIDDEN: usize = board::FINETUNE_HIDDEN;
/// The 64-32-10 model (boards with more RAM) rather than 64-16-10.
const WIDE: bool = HIDDEN >= 32;
/// The pretrained model's shape (the blob's spec hash must match it).
const NET: Spec = Spec::new(&[
    Layer::dense(64, HIDDEN),
    Layer::relu(),
    Layer::dense(HIDDEN, 10),
]);
/// Training images kept for replay (their indices; the pixels stay in
/// flash): 256 on the micro:bit, 512 where RAM allows.
const STORED: usize = if WIDE { 512 } else { 256 };
/// Seed of the reservoir and of the draws.
const REPLAY_SEED: u64 = 14;
/// Learning rate of the fine-tuning SGD (the host's sweep:
/// docs/finetuning.md).
const LR: f64 = 0.03;
/// Fine-tuning: batch 1 SGD. The seed's initial weights are replaced by
/// the blob's.
const CFG: Config = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(LR));
/// The ops of every variant (freezing changes no op) and the L2-SP
/// anchor's: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).with(OpKind::Anchor).bits();
/// Epochs over the 180 shifted fine-tuning images, every variant.
const EPOCHS: usize = if WIDE { 24 } else { 32 };
/// L2-SP strength alone: the largest tried on the host (0.001..0.1) that
/// keeps shifted accuracy above 0.80 (64-16-10).
const LAMBDA_ALONE: f64 = 0.01;
/// L2-SP strength with replay (the host's sweep over 0..0.001).
const LAMBDA_WITH_REPLAY: f64 = if WIDE { 0.0005 } else { 0.001 };

const LAST_ONLY: Spec = NET.with_training(&[Train::Frozen, Train::Frozen, Train::Full]);
const BIAS_ONLY: Spec = NET.with_training(&[Train::BiasOnly, Train::Frozen, Train::BiasOnly]);

/// Every variant, measured in this order; the last is the default, the one
/// the exit verdict gates.
const VARIANTS: [Variant; 6] = [
    Variant {
        name: "full",
        spec: NET,
        replay: false,
        lambda: 0.0,
    },
    Variant {
        name: "last-layer",
        spec: LAST_ONLY,
        replay: false,
        lambda: 0.0,
    },
    Variant {
        name: "bias-only",
        spec: BIAS_ONLY,
        replay: false,
        lambda: 0.0,
    },
    Variant {
        name: "replay",
        spec: NET,
        replay: true,
        lambda: 0.0,
    },
    Variant {
        name: "l2-sp",
        spec: NET,
        replay: false,
        lambda: LAMBDA_ALONE,
    },
    Variant {
        name: "replay+l2-sp",
        spec: NET,
        replay: true,
        lambda: LAMBDA_WITH_REPLAY,
    },
];

/// The default variant's name (the last one).
const DEFAULT_NAME: &str = VARIANTS[VARIANTS.len() - 1].name;

/// The one static arena, sized for the largest variant (the full update;
/// the partial updates take a prefix of it).
const ARENA_LEN: usize = max_arena_len(0, 0);
const fn max_arena_len(i: usize, len: usize) -> usize {
    if i == VARIANTS.len() {
        return len;
    }
    let this = CFG.arena_len(&VARIANTS[i].spec);
    max_arena_len(i + 1, if this > len { this } else { len })
}
/// The default variant's required shifted test accuracy (issue 14: 0.80 on
/// the M0's 64-16-10, 0.85 on the M4F's 64-32-10).
const PASS_SHIFTED: f32 = if WIDE { 0.85 } else { 0.80 };
/// The default variant's required unshifted held-out accuracy (issue 14:
/// 0.88 on the M0, 0.90 on the M4F).
const PASS_UNSHIFTED: f32 = if WIDE { 0.90 } else { 0.88 };

/// The pretrained parameters: `models/digits{,32}-pretrained.mpb` as the
/// host's `save_blob` wrote it, or the blob `MICROPROP_PRETRAINED_BLOB`
/// named at build time (`build.rs` copies it into `OUT_DIR`). Aligned to 4
/// bytes, so its f32 payload (after the 20-byte header) is word-aligned:
/// L2-SP reads it every step, and an aligned copy out of it costs a quarter
/// of a byte-wise one (M4F, 64-32-10: 139,241 → 114,630 instructions per
/// step).
static BLOB: &[u8] = &ALIGNED_BLOB.0;
static ALIGNED_BLOB: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/pretrained.mpb")));

/// RAM beside the arena: stack (peak ~2.5 KiB) and other statics.
const RAM_RESERVE: usize = 4 * 1024;
const _: () = assert!(
    ARENA_LEN * 4 + RAM_RESERVE <= board::RAM_BYTES,
    "the fine-tuning arena does not fit this board's RAM"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("finetune", &meter);
    defmt::info!(
        "model 64-{=usize}-10 relu, {=usize} params from a {=usize} B blob; fine-tune batch {=usize} {}, {=usize} epochs; static arena {=usize} B (largest variant); shift ({=usize},{=usize}); {=usize} tune / {=usize} shifted test / {=usize} unshifted test images",
        HIDDEN,
        NET.param_count(),
        BLOB.len(),
        CFG.batch,
        CFG.optimizer,
        EPOCHS,
        ARENA_LEN * 4,
        SHIFT.0,
        SHIFT.1,
        N_TUNE,
        N_TEST,
        N_HELD
    );
    let arena = take(&ARENA, "ARENA");
    let (shifted_before, plain_before) = {
        let mut net = check(
            Network::new(NET, CpuBackend::with_ops::<OPS>(&mut arena[..]), CFG),
            "Network::new",
        );
        let (loaded, load_instr) = meter.measure(|| net.load_blob(BLOB));
        check(loaded, "load_blob");
        defmt::info!(
            "blob loaded and verified (spec hash, length, CRC-32) in {=u64} instructions",
            load_instr
        );
        let (before, eval_instr) = meter.measure(|| measure(&mut net));
        defmt::info!(
            "before: shifted test accuracy {=f32}, unshifted held-out accuracy {=f32} ({=u64} instructions to evaluate)",
            before.0,
            before.1,
            eval_instr
        );
        before
    };

    let pool = pool::<STORED>(REPLAY_SEED);

    let static_ram = Memory::measure().static_ram;
    let mut default = Outcome {
        shifted: 0.0,
        unshifted: 0.0,
        steps: 0,
        instr_per_step: 0,
    };
    for v in &VARIANTS {
        let len = CFG.arena_len(&v.spec);
        let mine = check(
            arena.get_mut(..len).ok_or("longer than the static arena"),
            "variant arena",
        );
        let o = run_variant::<f32, OPS, STORED>(
            v,
            CFG,
            BLOB,
            EPOCHS,
            mine,
            &pool,
            REPLAY_SEED,
            &mut meter,
        );
        defmt::info!(
            "VARIANT finetune board={=str} cpu={=str} variant={=str} trained_params={=usize} replay={=bool} lambda={=f64} shifted={=f32} unshifted={=f32} arena={=usize} static_ram={=u32} instr_per_step={=u64} steps={=u64}",
            board::NAME,
            board::CPU,
            v.name,
            v.spec.trained_count(),
            v.replay,
            v.lambda,
            o.shifted,
            o.unshifted,
            len * 4,
            static_ram,
            o.instr_per_step,
            o.steps
        );
        default = o;
    }
    let passed = default.shifted >= PASS_SHIFTED && default.unshifted >= PASS_UNSHIFTED;
    defmt::info!(
        "after ({=str}):  shifted test accuracy {=f32}, unshifted held-out accuracy {=f32}",
        DEFAULT_NAME,
        default.shifted,
        default.unshifted
    );
    defmt::info!(
        "FINETUNE board={=str} variant={=str} shifted_before={=f32} shifted_after={=f32} unshifted_before={=f32} unshifted_after={=f32} steps={=u64} instr_per_step={=u64} (pass: shifted >= {=f32} and unshifted >= {=f32})",
        board::NAME,
        DEFAULT_NAME,
        shifted_before,
        default.shifted,
        plain_before,
        default.unshifted,
        default.steps,
        default.instr_per_step,
        PASS_SHIFTED,
        PASS_UNSHIFTED
    );
    Report {
        example: "finetune",
        passed,
        check: "shifted_accuracy",
        value: default.shifted,
        arena_bytes: ARENA_LEN * 4,
        batch: CFG.batch,
        instructions_per_step: default.instr_per_step,
        steps: default.steps,
    }
    .finish()
}

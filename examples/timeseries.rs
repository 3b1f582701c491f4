//! Train a small 1-D CNN on a vendored time-series set (issue 15):
//! BasicMotions (6 channels, 3-axis accelerometer and gyroscope, × 100
//! steps, 4 activities, 40 train / 40 test) or GunPoint (1 channel × 150
//! steps, 2 classes, 50 train / 150 test), with a progress bar per epoch,
//! one line per epoch, and the loss and accuracy curves as a PNG next to a
//! CSV of the numbers.
//!
//! ```text
//! cargo run --release --example timeseries -- --help
//! cargo run --release --example timeseries                       # BasicMotions, seed 1
//! cargo run --release --example timeseries -- --seeds 5          # seeds 1..=5, per-seed and mean test accuracy
//! cargo run --release --example timeseries -- --set gun-point --seeds 5 --out runs/gp
//! ```
//!
//! Each channel is standardised with the training split's mean and standard
//! deviation (the test split never informs the scaling). Rows are
//! channels-first, PyTorch's `[C, L]`: value `t` of channel `c` is
//! `x[c * L + t]`. `--seed N` seeds both the weight initialisation and the
//! shuffling; `--seeds N` trains N seeds, counting up from `--seed`
//! (`--seed 1 --seeds 5`: seeds 1 to 5), and prints each one's test
//! accuracy and their mean.
//!
//! Every file goes into the output folder (`--out DIR`, default
//! `target/microprop-examples/`): `basic-motions-curves.png` and
//! `basic-motions-curves.csv` (or `gun-point-...`), every seed's curves in
//! one plot and one CSV (a `seed` column). A folder that cannot be created
//! or written is refused before training starts. The PNG's text uses a
//! TrueType font found at run time (`--font`, else DejaVu Sans or Liberation
//! Sans in the usual system places); without one the curves are drawn
//! without text and a line says so.
//!
//! # The recipes
//!
//! Both train with softmax cross-entropy and Adam at batch 8, f32, on the
//! CPU backend. The first convolution reads non-overlapping patches
//! (kernel = stride), which keeps its im2col windows, and with them the
//! arena, as small as they can be for a convolution that reads every value.
//!
//! | set | model | parameters | arena (batch 8, Adam) | Adam lr | epochs |
//! |---|---|---|---|---|---|
//! | BasicMotions | `conv1d(6,8,100,4,4,0) relu conv1d(8,8,25,3,1,1) relu global_avg_pool1d(8,25) dense(8,4)` | 436 | 93,276 B | 0.005 | 60 |
//! | GunPoint | `conv1d(1,8,150,5,5,0) relu conv1d(8,8,30,5,1,2) relu avg_pool1d(8,30,5,5) flatten dense(48,2)` | 474 | 66,640 B | 0.01 | 100 |
//!
//! GunPoint's two classes differ in the shape of particular moments of the
//! motion (a gun drawn from and put back into a holster, or not), so its
//! model keeps the time axis (average pooling, then flatten) where
//! BasicMotions' pools it away: the global-average-pooling models tried on
//! GunPoint reached only 0.64–0.89 mean test accuracy over 5 seeds.
//!
//! Measured (release build, x86-64), test accuracy per seed:
//!
//! | set | seed 1 | seed 2 | seed 3 | seed 4 | seed 5 | mean |
//! |---|---|---|---|---|---|---|
//! | BasicMotions (40 test series) | 0.9750 | 1.0000 | 1.0000 | 1.0000 | 1.0000 | **0.9950** |
//! | GunPoint (150 test series) | 0.9467 | 0.9533 | 0.9600 | 0.9600 | 0.9733 | **0.9587** |
//!
//! ```text
//! cargo run --release --example timeseries -- --set basic-motions --seeds 5
//! cargo run --release --example timeseries -- --set gun-point --seeds 5
//! ```
//!
//! Issue 15 asks for a BasicMotions mean of at least 0.975 over 5 seeds (a
//! JAX run of a 1,900-parameter model reached 1.000/1.000/1.000/1.000/0.975).
//! The arena is everything a training step needs. Of BasicMotions'
//! 93,276 B, 57,600 B are the 8 input rows (8 × 600 values) and the two
//! backprop scratch buffers as wide as a row, for any model no wider than
//! its input; the activations kept for backward take 25,984 B and the
//! parameters with their gradients and Adam state 6,976 B. A smaller model
//! barely shrinks it: `dense(600,4)` alone needs 96,408 B. The
//! 612-parameter model of the `motions` firmware (kernel 5, padding 2, max
//! pooling) needs 182,792 B.

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use microprop::{Config, Layer, Loss, Network, Optimizer, Rng, Spec, Targets};
use microprop_cpu::CpuBackend;
use microprop_data::{DataError, TimeSeries};
use microprop_examples::OutDirError;
use std::fmt;
use std::path::PathBuf;

#[path = "curves.rs"]
mod curves;
use curves::{plot, register_font, write_csv, Epoch};

/// Rows per training step (both recipes).
const BATCH: usize = 8;

/// BasicMotions: 6 × 100 in, 4 classes out.
const BASIC_MOTIONS: Spec = Spec::new(&[
    Layer::conv1d(6, 8, 100, 4, 4, 0),
    Layer::relu(),
    Layer::conv1d(8, 8, 25, 3, 1, 1),
    Layer::relu(),
    Layer::global_avg_pool1d(8, 25),
    Layer::dense(8, 4),
]);

/// GunPoint: 1 × 150 in, 2 classes out.
const GUN_POINT: Spec = Spec::new(&[
    Layer::conv1d(1, 8, 150, 5, 5, 0),
    Layer::relu(),
    Layer::conv1d(8, 8, 30, 5, 1, 2),
    Layer::relu(),
    Layer::avg_pool1d(8, 30, 5, 5),
    Layer::flatten(),
    Layer::dense(48, 2),
]);

/// Train a small 1-D CNN (softmax cross-entropy, Adam, batch 8) on
/// BasicMotions or GunPoint, show a progress bar per epoch, print the test
/// accuracy per seed and their mean, and write the loss/accuracy curves
/// (<set>-curves.png + .csv) into the --out folder.
#[derive(Parser)]
#[command(name = "timeseries")]
struct Args {
    /// The data set.
    #[arg(long, value_enum, default_value_t = Set::BasicMotions)]
    set: Set,
    /// Seed of the weight initialisation and the shuffling (the first one
    /// with --seeds).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Train this many seeds (--seed, --seed + 1, ...) and print each one's
    /// test accuracy and their mean.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    seeds: u64,
    /// Epochs over the training set [default: the set's recipe, 60 for
    /// basic-motions, 100 for gun-point].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    epochs: Option<u64>,
    /// Folder for every file this writes (created if missing; checked before
    /// training) [default: target/microprop-examples]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A TrueType font for the PNG's text.
    #[arg(long)]
    font: Option<PathBuf>,
}

/// The vendored time-series sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Set {
    /// BasicMotions: 6 channels x 100 steps, 4 classes, 40 train / 40 test.
    BasicMotions,
    /// GunPoint: 1 channel x 150 steps, 2 classes, 50 train / 150 test.
    GunPoint,
}

/// One set's model and training recipe.
struct Recipe {
    spec: Spec<'static>,
    lr: f64,
    epochs: u64,
}

impl Set {
    /// The name on the command line and in file names.
    fn name(self) -> &'static str {
        match self {
            Set::BasicMotions => "basic-motions",
            Set::GunPoint => "gun-point",
        }
    }

    fn recipe(self) -> Recipe {
        match self {
            Set::BasicMotions => Recipe {
                spec: BASIC_MOTIONS,
                lr: 0.005,
                epochs: 60,
            },
            Set::GunPoint => Recipe {
                spec: GUN_POINT,
                lr: 0.01,
                epochs: 100,
            },
        }
    }

    /// The training and test splits, each channel standardised with the
    /// training split's statistics.
    fn load(self) -> Result<(TimeSeries, TimeSeries), Error> {
        let (train, test) = match self {
            Set::BasicMotions => (
                TimeSeries::basic_motions_train(),
                TimeSeries::basic_motions_test(),
            ),
            Set::GunPoint => (TimeSeries::gun_point_train(), TimeSeries::gun_point_test()),
        };
        let data = |e| Error::Data {
            set: self,
            source: e,
        };
        let (mut train, mut test) = (train.map_err(data)?, test.map_err(data)?);
        let stats = train.channel_stats();
        train.standardize(&stats).map_err(data)?;
        test.standardize(&stats).map_err(data)?;
        Ok((train, test))
    }
}

/// Why a run failed.
#[derive(Debug)]
enum Error {
    /// The output folder cannot be used.
    OutDir(OutDirError),
    /// `--font` names a file that cannot be read or is not a usable font.
    Font(String),
    /// `--seed` + `--seeds` - 1 overflows a u64.
    Seeds { seed: u64, seeds: u64 },
    /// A vendored file did not load (a broken checkout).
    Data { set: Set, source: DataError },
    /// The network refused its configuration or a step.
    Train(String),
    /// Writing the CSV or drawing the PNG failed.
    Write { path: PathBuf, reason: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OutDir(e) => e.fmt(f),
            Error::Font(why) => write!(f, "--font: {why}"),
            Error::Seeds { seed, seeds } => write!(
                f,
                "--seed {seed} --seeds {seeds} runs past the largest seed, {}",
                u64::MAX
            ),
            Error::Data { set, source } => write!(f, "loading {}: {source}", set.name()),
            Error::Train(why) => write!(f, "training: {why}"),
            Error::Write { path, reason } => write!(f, "writing {}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// The training configuration of `recipe` for `seed`.
fn config(recipe: &Recipe, seed: u64) -> Config {
    Config::new(BATCH, Loss::SoftmaxCrossEntropy, Optimizer::adam(recipe.lr)).with_seed(seed)
}

/// Rows `order` of `set`: their values, `[rows, C, L]`, and labels.
fn batch(set: &TimeSeries, order: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let x = order.iter().flat_map(|&i| set.series(i)).copied().collect();
    let y = order.iter().map(|&i| set.labels[i]).collect();
    (x, y)
}

/// Train one seed; returns its epochs (the last one's test accuracy is the
/// result).
fn train_seed(
    recipe: &Recipe,
    epochs: u64,
    seed: u64,
    train: &TimeSeries,
    test: &TimeSeries,
) -> Result<Vec<Epoch>, Error> {
    let t = |e: &dyn fmt::Display| Error::Train(e.to_string());
    let cfg = config(recipe, seed);
    let mut arena = vec![0.0f32; cfg.arena_len(&recipe.spec)];
    let mut net = Network::new(recipe.spec, CpuBackend::new(&mut arena), cfg).map_err(|e| t(&e))?;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = Rng::new(seed);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:28.cyan/blue}] {pos:>3}/{len} batches, loss {msg}",
    )
    .map_err(|e| t(&e))?
    .progress_chars("=> ");
    let mut log = Vec::new();
    for epoch in 1..=epochs {
        rng.shuffle(&mut order);
        // Drawn on stderr only when it is a terminal (indicatif hides it
        // otherwise), so logs and CI output keep just the epoch lines.
        let bar = ProgressBar::new(train.len().div_ceil(BATCH) as u64)
            .with_style(style.clone())
            .with_prefix(format!("seed {seed} epoch {epoch:3}/{epochs}"));
        for chunk in order.chunks(BATCH) {
            let (x, y) = batch(train, chunk);
            let loss = net.train_step(&x, Targets::Labels(&y)).map_err(|e| t(&e))?;
            bar.set_message(format!("{loss:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let tr = net
            .evaluate(&train.x, Targets::Labels(&train.labels))
            .map_err(|e| t(&e))?;
        let te = net
            .evaluate(&test.x, Targets::Labels(&test.labels))
            .map_err(|e| t(&e))?;
        let e = Epoch {
            seed,
            // At most 100,000 (--epochs' range).
            epoch: epoch as usize,
            train_loss: tr.loss,
            train_acc: tr.accuracy.unwrap_or(0.0),
            test_loss: te.loss,
            test_acc: te.accuracy.unwrap_or(0.0),
        };
        println!(
            "seed {seed} epoch {epoch:3}  train loss {:.4}  train acc {:.4}  test loss {:.4}  test acc {:.4}",
            e.train_loss, e.train_acc, e.test_loss, e.test_acc
        );
        log.push(e);
    }
    Ok(log)
}

fn run(args: Args) -> Result<(), Error> {
    // Everything that can be refused is checked before training starts.
    let last = args.seed.checked_add(args.seeds - 1).ok_or(Error::Seeds {
        seed: args.seed,
        seeds: args.seeds,
    })?;
    let dir = microprop_examples::out_dir(args.out.as_deref());
    let dir = microprop_examples::prepare_out_dir(&dir).map_err(Error::OutDir)?;
    let (csv, png) = (
        dir.join(format!("{}-curves.csv", args.set.name())),
        dir.join(format!("{}-curves.png", args.set.name())),
    );
    let with_text = register_font(args.font.as_deref()).map_err(Error::Font)?;
    let recipe = args.set.recipe();
    let epochs = args.epochs.unwrap_or(recipe.epochs);
    let (train, test) = args.set.load()?;
    let model = microprop_cli::spec_text::format(recipe.spec.layers());
    println!(
        "{}: {} train / {} test series, {} channel(s) x {} steps, classes {}",
        args.set.name(),
        train.len(),
        test.len(),
        train.channels,
        train.length,
        train.classes.join(" ")
    );
    println!(
        "model {model} ({} parameters), arena {} bytes (f32, batch {BATCH}, Adam lr {}), {epochs} epochs",
        recipe.spec.param_count(),
        config(&recipe, args.seed).arena_len(&recipe.spec) * 4,
        recipe.lr
    );
    let start = std::time::Instant::now();
    let mut log = Vec::new();
    let mut results = Vec::new();
    for seed in args.seed..=last {
        let seed_log = train_seed(&recipe, epochs, seed, &train, &test)?;
        if let Some(e) = seed_log.last() {
            println!(
                "seed {seed}: test accuracy {:.4} ({} of {} series)",
                e.test_acc,
                (e.test_acc * test.len() as f64).round(),
                test.len()
            );
            results.push((seed, e.test_acc));
        }
        log.extend(seed_log);
    }
    let mean = results.iter().map(|r| r.1).sum::<f64>() / results.len().max(1) as f64;
    println!(
        "test accuracy per seed: {}; mean {mean:.4} over {} seed{} ({:.2} s)",
        results
            .iter()
            .map(|(s, a)| format!("{s}: {a:.4}"))
            .collect::<Vec<_>>()
            .join(", "),
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        start.elapsed().as_secs_f64()
    );
    write_csv(&csv, &log, true).map_err(|e| Error::Write {
        path: csv.clone(),
        reason: e.to_string(),
    })?;
    let seeds = if args.seed == last {
        format!("seed {}", args.seed)
    } else {
        format!("seeds {}..={last}", args.seed)
    };
    let title = format!(
        "{}: {}-parameter 1-D CNN, Adam {}, batch {BATCH}, {seeds}",
        args.set.name(),
        recipe.spec.param_count(),
        recipe.lr
    );
    plot(&png, &log, &title, with_text).map_err(|reason| Error::Write {
        path: png.clone(),
        reason,
    })?;
    println!(
        "wrote {} and {}{}",
        csv.display(),
        png.display(),
        if with_text {
            ""
        } else {
            " (no TrueType font found: curves without text; pass --font FILE.ttf)"
        }
    );
    Ok(())
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

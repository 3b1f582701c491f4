//! Shared measurement loop of the peer harness: every implementation runs
//! the same training steps (forward + softmax cross-entropy + backward +
//! SGD, f32), three MLP shapes and the BasicMotions 1-D CNN at two batch
//! sizes, and is timed the same way.

use std::time::{Duration, Instant};

/// The three step shapes of the table: (label, widths, batch).
pub const SHAPES: [(&str, [usize; 3], usize); 3] = [
    ("64-32-10 batch 32", [64, 32, 10], 32),
    ("64-32-10 batch 1", [64, 32, 10], 1),
    ("784-128-10 batch 32", [784, 128, 10], 32),
];

/// The BasicMotions 1-D CNN step at two batch sizes: (label, batch). Input
/// `batch × CNN_CHANNELS × CNN_STEPS` channels-first, then conv1d(6→8, k 5,
/// stride 1, pad 2), ReLU, MaxPool1d(2, 2), conv1d(8→8, k 5, pad 2), ReLU,
/// global average pool over the 50 steps, Linear(8→4), softmax
/// cross-entropy.
pub const CNN_SHAPES: [(&str, usize); 2] = [
    ("BasicMotions CNN batch 8", 8),
    ("BasicMotions CNN batch 32", 32),
];
/// Input channels of the CNN (3-axis accelerometer and gyroscope).
pub const CNN_CHANNELS: usize = 6;
/// Time steps of the CNN's input window.
pub const CNN_STEPS: usize = 100;
/// Channels of both convolutions.
pub const CNN_HIDDEN: usize = 8;
/// Kernel size of both convolutions (stride 1, zero padding 2 each side).
pub const CNN_KERNEL: usize = 5;
/// Zero padding of both convolutions, each side.
pub const CNN_PAD: usize = 2;
/// Classes of the CNN.
pub const CNN_CLASSES: usize = 4;

/// Learning rate of every implementation.
pub const LR: f32 = 0.01;

/// A deterministic batch: `rows × inputs` values in [0, 1) and labels.
pub fn batch(rows: usize, inputs: usize, classes: usize) -> (Vec<f32>, Vec<usize>) {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let x = (0..rows * inputs)
        .map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32)
        .collect();
    let y = (0..rows)
        .map(|_| (next() % classes as u64) as usize)
        .collect();
    (x, y)
}

/// Steps per second of `step`: warm up for 0.3 s, then time 7 rounds of
/// about 0.3 s each and report the median round.
pub fn steps_per_sec(mut step: impl FnMut() -> f32) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    let mut sink = 0.0f32;
    while t.elapsed() < Duration::from_millis(300) {
        sink += step();
        n += 1;
    }
    let per_round = (n.max(1)).max(10);
    let mut rates = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..per_round {
            sink += step();
        }
        rates.push(per_round as f64 / t.elapsed().as_secs_f64());
    }
    assert!(sink.is_finite(), "loss diverged");
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rates[3]
}

/// Print one result line: `impl<TAB>shape<TAB>steps/s`.
pub fn report(implementation: &str, shape: &str, rate: f64) {
    println!("{implementation}\t{shape}\t{rate:.0}");
}

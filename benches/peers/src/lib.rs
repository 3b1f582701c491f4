//! Shared measurement loop of the peer harness: every implementation runs
//! the same three training steps (forward + softmax cross-entropy + backward
//! + SGD, f32) and is timed the same way.

use std::time::{Duration, Instant};

/// The three step shapes of the table: (label, widths, batch).
pub const SHAPES: [(&str, [usize; 3], usize); 3] = [
    ("64-32-10 batch 32", [64, 32, 10], 32),
    ("64-32-10 batch 1", [64, 32, 10], 1),
    ("784-128-10 batch 32", [784, 128, 10], 32),
];

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

//! The `timeseries` example (issue 15): run the built binary (`cargo test`
//! builds the examples before it runs the tests) with its default recipes
//! and check the accuracies the issue asks for, the files it writes, and
//! that bad arguments are refused before any training.
//!
//! The workspace's dev profile is optimised, so BasicMotions' five seeds
//! (60 epochs of 5 batches each) take about 2 s here and run whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

/// The example binary.
fn example() -> PathBuf {
    common::example("timeseries")
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("timeseries-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(example())
        .args(args)
        .output()
        .expect("run the example")
}

/// A successful run's stdout.
fn stdout_of(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `(seed, accuracy, correct, total)` from each `seed S: test accuracy A (K
/// of N series)` line.
fn seed_lines(stdout: &str) -> Vec<(u64, f64, usize, usize)> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("seed ")?;
            let (seed, rest) = rest.split_once(": test accuracy ")?;
            let (acc, rest) = rest.split_once(" (")?;
            let (k, rest) = rest.split_once(" of ")?;
            let n = rest.strip_suffix(" series)")?;
            Some((
                seed.parse().unwrap(),
                acc.parse().unwrap(),
                k.parse().unwrap(),
                n.parse().unwrap(),
            ))
        })
        .collect()
}

/// The CSV's rows: `(seed, epoch, train_loss, train_acc, test_loss,
/// test_acc)`.
fn csv_rows(path: &Path) -> Vec<(u64, u64, f64, f64, f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("seed,epoch,train_loss,train_accuracy,test_loss,test_accuracy")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 6, "{l}");
            let v = |i: usize| f[i].parse::<f64>().unwrap();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                v(2),
                v(3),
                v(4),
                v(5),
            )
        })
        .collect()
}

/// Train `set` with its default recipe for seeds 1..=5 and check what the
/// run printed and wrote; returns the per-seed test accuracies.
fn five_seeds(set: &str, epochs: u64, test_series: usize, classes: usize) -> Vec<f64> {
    let dir = scratch(set);
    let out = run(&["--set", set, "--seeds", "5", "--out", dir.to_str().unwrap()]);
    let stdout = stdout_of(&out);
    assert!(
        stdout.contains(&format!("{epochs} epochs")),
        "the recipe's epochs: {stdout}"
    );
    let seeds = seed_lines(&stdout);
    assert_eq!(
        seeds.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "{stdout}"
    );
    for &(seed, acc, k, n) in &seeds {
        assert_eq!(n, test_series, "seed {seed}");
        assert!(
            (acc - k as f64 / n as f64).abs() < 1e-4,
            "seed {seed}: {acc} is not {k}/{n}"
        );
    }
    // The CSV: one row per seed and epoch, its last row per seed is the
    // accuracy printed for that seed.
    let rows = csv_rows(&dir.join(format!("{set}-curves.csv")));
    assert_eq!(rows.len() as u64, 5 * epochs);
    for &(seed, acc, _, _) in &seeds {
        let last = rows.iter().rfind(|r| r.0 == seed).unwrap();
        assert_eq!(last.1, epochs);
        assert!((last.5 - acc).abs() < 1e-4, "seed {seed}: csv {last:?}");
        // Trained: the training loss ends far below chance, ln(classes).
        assert!(
            last.2 < 0.25 * (classes as f64).ln(),
            "seed {seed}: final train loss {}",
            last.2
        );
    }
    for r in &rows {
        for v in [r.3, r.5] {
            assert!((0.0..=1.0).contains(&v), "{r:?}");
        }
    }
    // A PNG was drawn.
    let png = std::fs::read(dir.join(format!("{set}-curves.png"))).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    seeds.iter().map(|s| s.1).collect()
}

/// Issue 15: BasicMotions' mean test accuracy over 5 seeds is at least
/// 0.975 (at most one of its 40 test series wrong per seed on average).
#[test]
fn basic_motions_reaches_the_issues_bar_over_five_seeds() {
    let accs = five_seeds("basic-motions", 60, 40, 4);
    let mean = accs.iter().sum::<f64>() / 5.0;
    assert!(mean >= 0.975, "mean {mean} over {accs:?}");
}

/// GunPoint's accuracy is only reported by the issue; check that each seed
/// is far above the majority class of its 150 test series (76 of one class,
/// about 0.507) and the mean above 0.9.
#[test]
fn gun_point_is_learned_on_every_seed() {
    let test = microprop_data::TimeSeries::gun_point_test().unwrap();
    let majority = *test.class_counts().iter().max().unwrap() as f64 / test.len() as f64;
    assert!(majority < 0.51, "{majority}");
    let accs = five_seeds("gun-point", 100, 150, 2);
    for a in &accs {
        assert!(*a >= majority + 0.3, "{accs:?}");
    }
    let mean = accs.iter().sum::<f64>() / 5.0;
    assert!(mean >= 0.9, "mean {mean} over {accs:?}");
}

/// A refused run: exit code `code`, `what` on stderr, no epoch trained and
/// nothing written into `dir` (when given).
fn assert_refused(out: &Output, code: i32, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains(what), "stderr: {stderr}");
    assert!(
        !stdout.contains("epoch"),
        "trained before refusing: {stdout}"
    );
}

#[test]
fn bad_arguments_are_refused_before_training() {
    let dir = scratch("refused");
    let d = dir.to_str().unwrap();
    // Argument values clap checks (exit code 2, with the flag's name).
    assert_refused(&run(&["--seeds", "0", "--out", d]), 2, "--seeds");
    assert_refused(&run(&["--epochs", "0", "--out", d]), 2, "--epochs");
    assert_refused(&run(&["--seed=-1", "--out", d]), 2, "--seed <SEED>");
    let out = run(&["--set", "digits", "--out", d]);
    assert_refused(&out, 2, "basic-motions");
    assert!(String::from_utf8_lossy(&out.stderr).contains("gun-point"));
    // Seeds past u64::MAX.
    assert_refused(
        &run(&["--seed", "18446744073709551615", "--seeds", "2", "--out", d]),
        1,
        "error: --seed 18446744073709551615 --seeds 2 runs past the largest seed",
    );
    // A font that is not there.
    let missing = dir.join("no-such-font.ttf");
    assert_refused(
        &run(&["--font", missing.to_str().unwrap(), "--out", d]),
        1,
        "error: --font: reading",
    );
    // Nothing was written by any of them.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // An output folder under a plain file.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let bad = blocker.join("sub");
    let out = run(&["--out", bad.to_str().unwrap()]);
    assert_refused(&out, 1, "error: cannot create the output folder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("blocker/sub") && stderr.contains("--out DIR"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&blocker).unwrap(), b"not a folder");
}

#[test]
fn help_names_the_sets_and_the_seed_flags() {
    let help = stdout_of(&run(&["--help"]));
    for flag in [
        "--set",
        "basic-motions",
        "gun-point",
        "--seed ",
        "--seeds",
        "--epochs",
        "--out",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

//! `digits --cnn` (issue 15): the 2-D CNN on the digits as 1×8×8 images
//! reaches the issue's target, test accuracy ≥ 0.985 on the 80/20 split
//! (the MLP gets 0.9805). Runs the built example binary with its default
//! recipe (40 epochs, 20-30 s in the dev profile), then checks what it
//! printed and wrote against numbers derived here: the parameter count by
//! hand, the held-out set's size from the data, and the saved model's
//! accuracy evaluated again here on the same split.

use microprop_data::Dataset;
use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::example;

fn run(args: &[&str]) -> Output {
    Command::new(example("digits"))
        .args(args)
        .output()
        .expect("run the example")
}

/// The number after `prefix` in `line`, up to the next space.
fn number_after(line: &str, prefix: &str) -> f64 {
    let rest = &line[line
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in {line:?}"))
        + prefix.len()..];
    let word = rest.split(' ').next().unwrap();
    word.parse()
        .unwrap_or_else(|e| panic!("{word:?} in {line:?}: {e}"))
}

#[test]
fn the_cnn_reaches_the_issue_target_on_the_80_20_split() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("digits-cnn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(&[
        "--cnn",
        "--out",
        dir.to_str().unwrap(),
        "--save",
        "cnn.safetensors",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");

    // The same split the MLP uses: 20 % of the 1797 images held out.
    let all = Dataset::<f32>::digits().unwrap();
    let (_, test) = all.split(0.2, microprop_examples::DIGITS_SPLIT_SEED);
    assert_eq!((all.len(), test.len()), (1797, 359));

    // conv 1→16 3×3: 16·9 + 16; conv 16→32 3×3: 32·16·9 + 32; dense 32·2·2 → 10.
    let params = (16 * 9 + 16) + (32 * 16 * 9 + 32) + (128 * 10 + 10);
    assert_eq!(params, 6090);
    let header = stdout.lines().next().unwrap();
    assert!(
        header.starts_with(
            "digits: 1438 train / 359 test samples, model conv2d(1,16,8,8,3,3,1,1) relu"
        ) && header.contains(&format!("({params} parameters)"))
            && header.contains("batch 16, Adam 0.002, seed 1"),
        "{header}"
    );
    let arena = number_after(header, "arena ");
    // At least parameters, gradients and Adam's two moments, in f32 bytes.
    assert!(arena >= (4 * params * 4) as f64, "{header}");

    // One line per epoch, and the final held-out accuracy.
    let epochs = stdout.lines().filter(|l| l.starts_with("epoch ")).count();
    assert_eq!(epochs, 40, "{stdout}");
    let last = stdout
        .lines()
        .find(|l| l.starts_with("test accuracy "))
        .unwrap_or_else(|| panic!("no final line: {stdout}"));
    assert!(last.contains(" on 359 held-out samples"), "{last}");
    let accuracy = number_after(last, "test accuracy ");
    assert!(
        accuracy >= 0.985,
        "issue 15's target is 0.985 (the MLP gets 0.9805): {last}"
    );

    // The CSV holds the 40 epochs, the last one at the printed accuracy.
    let csv = std::fs::read_to_string(dir.join("digits-cnn-curves.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "epoch,train_loss,train_accuracy,test_loss,test_accuracy"
    );
    assert_eq!(rows.len(), 41);
    let final_row: Vec<f64> = rows[40].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(final_row[0], 40.0);
    assert!(
        (final_row[4] - accuracy).abs() < 5e-5,
        "{} vs {last}",
        rows[40]
    );
    let png = std::fs::read(dir.join("digits-cnn-curves.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");

    // The saved model is the trained one: its spec is the CNN, and on the
    // held-out images it classifies as many correctly as the run printed.
    let bytes = std::fs::read(dir.join("cnn.safetensors")).unwrap();
    let parsed = microprop_cli::tensors::spec_of(&bytes).unwrap();
    let spec = parsed.spec();
    assert_eq!(spec.param_count(), params);
    let weights = microprop_cli::import(&spec, &bytes).unwrap();
    let eval = microprop_cli::evaluate(&spec, &weights, &test.x, &test.y).unwrap();
    let correct = (eval.accuracy.unwrap() * 359.0).round();
    assert_eq!(correct, (accuracy * 359.0).round(), "{last}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cnn_and_hidden_are_refused_together_before_training() {
    let out = run(&["--cnn", "--hidden", "16", "--out", "/proc/nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("'--cnn' cannot be used with '--hidden"),
        "stderr: {stderr}"
    );
    assert!(!stdout.contains("epoch"), "trained: {stdout}");
}

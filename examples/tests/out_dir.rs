//! The examples refuse an output folder they cannot write, before any
//! training: run the built example binaries (`cargo test` builds the
//! examples before it runs the tests) with such a folder and check the
//! error, the exit code, that no epoch was trained and that nothing was
//! written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::example;

/// A fresh folder for one test, with a plain file `blocker` in it.
fn scratch(name: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("out-dir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, b"not a folder").unwrap();
    (dir, blocker)
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .output()
        .expect("run the example")
}

/// The example failed with exit code 1, said which folder and why on
/// stderr, and trained nothing (no epoch line, no model summary).
fn assert_refused(out: &Output, folder: &str, training_marker: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("error: cannot create the output folder") && stderr.contains(folder),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("--out DIR"),
        "the error says how to fix it: {stderr}"
    );
    assert!(
        !stdout.contains("epoch"),
        "trained before refusing: {stdout}"
    );
    assert!(
        !stdout.contains(training_marker),
        "started training: {stdout}"
    );
}

#[test]
fn digits_refuses_a_folder_under_a_file_before_training() {
    let (dir, blocker) = scratch("digits");
    let bad = blocker.join("sub");
    let out = run(
        "digits",
        &["--out", bad.to_str().unwrap(), "--save", "m.safetensors"],
    );
    assert_refused(&out, "blocker/sub", "train /");
    // Nothing was written: the folder holds only the blocker, unchanged.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["blocker"]);
    assert_eq!(std::fs::read(&blocker).unwrap(), b"not a folder");
}

#[cfg(target_os = "linux")]
#[test]
fn digits_refuses_a_folder_in_proc_before_training() {
    let out = run("digits", &["--out", "/proc/nope"]);
    assert_refused(&out, "/proc/nope", "train /");
}

#[test]
fn pretrain_refuses_a_folder_under_a_file_before_pretraining() {
    let (_dir, blocker) = scratch("pretrain");
    let bad = blocker.join("models");
    let out = run(
        "pretrain",
        &[
            "--check",
            "--out",
            bad.to_str().unwrap(),
            "--safetensors",
            "d.safetensors",
        ],
    );
    assert_refused(&out, "blocker/models", "pretrain:");
    assert_eq!(std::fs::read(&blocker).unwrap(), b"not a folder");
}

#[test]
fn a_save_name_with_a_folder_is_refused_before_training() {
    let (dir, _) = scratch("save-name");
    let out_dir = dir.join("out");
    let out = run(
        "digits",
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "--save",
            "../escape.safetensors",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("--save takes a file name"),
        "stderr: {stderr}"
    );
    assert!(
        !stdout.contains("epoch"),
        "trained before refusing: {stdout}"
    );
    assert!(!dir.join("escape.safetensors").exists());
}

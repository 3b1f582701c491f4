//! The `microprop` binary, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

const MLP: &str = "dense(64,32) relu dense(32,10)";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../host-tests/fixtures")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("microprop-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_microprop"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_everywhere() {
    for args in [
        &["--help"][..],
        &["summary", "--help"],
        &["to-blob", "--help"],
        &["to-safetensors", "--help"],
        &["quantize", "--help"],
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}");
        assert!(
            stdout(&o).contains("Usage: microprop"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
    let o = run(&[]);
    assert!(!o.status.success());
}

#[test]
fn summary_of_the_jax_mlp() {
    let f = fixture("jax_mlp.safetensors");
    let o = run(&["summary", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("spec: {MLP}")), "{out}");
    assert!(out.contains("0.weight [32, 64], 0.bias [32]"), "{out}");
    assert!(out.contains("2.weight [10, 32], 2.bias [10]"), "{out}");
    // 64·32 + 32 + 32·10 + 10 = 2410 parameters; blob 20 + 4·2410 = 9660.
    assert!(
        out.contains("parameters: 2410 (9640 bytes as f32)"),
        "{out}"
    );
    assert!(out.contains("device blob: 9660 bytes"), "{out}");
    // Arena for batch 32, Adam, by hand: params 2410 + grads 2410 + m,v 4820
    // + input 32·64 = 2048 + activations 32·(32+32+10) = 2368 + scratch
    // 2·32·64 = 4096 + loss scratch 4·10 + 2 = 42 + targets 32·10 = 320
    // + 4 scalars = 18518 f32.
    assert!(out.contains("18518 f32 = 74072 bytes"), "{out}");
    // Batch 1, SGD: 2410·2 + 64 + 74 + 128 + 42 + 10 + 4 = 5142 f32.
    let o = run(&[
        "summary",
        f.to_str().unwrap(),
        "--batch",
        "1",
        "--optimizer",
        "sgd",
    ]);
    assert!(
        stdout(&o).contains("5142 f32 = 20568 bytes"),
        "{}",
        stdout(&o)
    );
    // A batch whose arena overflows usize (64 · batch inputs alone) is
    // reported as too large; it used to overflow-panic (debug) or print a
    // wrapped, small arena (release).
    let o = run(&[
        "summary",
        f.to_str().unwrap(),
        "--batch",
        &(usize::MAX / 64 + 1).to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Adam: too large (TooLarge: its length overflows usize)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn safetensors_to_blob_and_back_is_the_same_file() {
    let src = fixture("jax_mlp.safetensors");
    let blob = tmp("mlp.mpb");
    let back = tmp("mlp.safetensors");
    let o = run(&[
        "to-blob",
        src.to_str().unwrap(),
        "-o",
        blob.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&blob).unwrap();
    assert_eq!(bytes.len(), 9660);
    assert_eq!(&bytes[..4], b"MPB\x01");

    // A blob needs --spec for its layers; with one, it is verified.
    let o = run(&["summary", blob.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("2410 parameters"), "{}", stdout(&o));
    let o = run(&["summary", blob.to_str().unwrap(), "--spec", MLP]);
    assert!(stdout(&o).contains("blob verified"), "{}", stdout(&o));

    let o = run(&[
        "to-safetensors",
        blob.to_str().unwrap(),
        "--spec",
        MLP,
        "-o",
        back.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&src).unwrap());
}

#[test]
fn a_pytorch_style_file_needs_spec() {
    let src = fixture("jax_mlp_tanh.safetensors");
    let blob = tmp("tanh.mpb");
    let o = run(&[
        "to-blob",
        src.to_str().unwrap(),
        "-o",
        blob.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--spec"), "{}", stderr(&o));
    let o = run(&[
        "to-blob",
        src.to_str().unwrap(),
        "-o",
        blob.to_str().unwrap(),
        "--spec",
        "dense(64,16) tanh dense(16,12) sigmoid dense(12,10)",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // 64·16+16 + 16·12+12 + 12·10+10 = 1374 parameters → 20 + 5496 bytes.
    assert_eq!(std::fs::read(&blob).unwrap().len(), 5516);
}

#[test]
fn errors_exit_nonzero_with_a_message() {
    let src = fixture("jax_mlp.safetensors");
    let blob = tmp("err.mpb");
    let out = tmp("err.safetensors");
    assert!(run(&[
        "to-blob",
        src.to_str().unwrap(),
        "-o",
        blob.to_str().unwrap()
    ])
    .status
    .success());
    // Wrong spec for a blob: the hash says so.
    let o = run(&[
        "to-safetensors",
        blob.to_str().unwrap(),
        "--spec",
        "dense(64,32) tanh dense(32,10)",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another network"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing written on error");
    // --spec contradicting a file's metadata.
    let o = run(&[
        "summary",
        src.to_str().unwrap(),
        "--spec",
        "dense(64,32) tanh dense(32,10)",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("saved for"), "{}", stderr(&o));
    // Bad spec text, missing file, bad optimizer.
    let o = run(&["summary", src.to_str().unwrap(), "--spec", "dense(64,32"]);
    assert!(!o.status.success() && stderr(&o).contains("--spec"));
    let o = run(&["summary", "/nonexistent/model.safetensors"]);
    assert!(!o.status.success() && stderr(&o).contains("reading"));
    let o = run(&["summary", src.to_str().unwrap(), "--optimizer", "lbfgs"]);
    assert!(!o.status.success());
}

#[test]
fn eval_matches_what_jax_measured() {
    // The finetune firmware's JAX-pretrained model (tools/pretrain_digits_jax.py)
    // and the accuracy JAX measured on the held-out images (digits-jax.json).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../firmware-examples/models");
    let json = std::fs::read_to_string(root.join("digits-jax.json")).unwrap();
    let field = |k: &str| -> u64 {
        let at = json.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
        json[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let want = format!(
        "({}/{})",
        field("unshifted_heldout_right"),
        field("unshifted_heldout_images")
    );
    let f = root.join("digits-jax.safetensors");
    let o = run(&[
        "eval",
        f.to_str().unwrap(),
        "--spec",
        "dense(64,16) relu dense(16,10)",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with("digits held out"))
        .unwrap();
    assert!(line.contains(&want), "JAX measured {want}; {line}");
    assert!(out.contains("/1797)"), "{out}");
}

/// A few-hundred-byte safetensors file whose metadata declares `spec`, with
/// one 1×1 tensor: `summary`, `to-blob` and `eval` refuse it with a typed
/// error (exit 1), in memory bounded by the file, never aborting on a huge
/// allocation nor panicking on a capacity overflow.
#[test]
fn hostile_spec_metadata_is_refused_not_allocated() {
    use std::collections::HashMap;
    let one = 1.0f32.to_le_bytes();
    for (name, spec) in [
        ("dense-1e5.safetensors", "dense(100000,100000)"),
        ("dense-u32max.safetensors", "dense(4294967295,4294967295)"),
        (
            "two-dense-u32max.safetensors",
            "dense(4294967295,4294967295) dense(4294967295,4294967295)",
        ),
    ] {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 1], &one)
            .unwrap();
        let meta = HashMap::from([(
            microprop_cli::tensors::SPEC_KEY.to_string(),
            spec.to_string(),
        )]);
        let bytes =
            safetensors::serialize(vec![("0.weight".to_string(), view)], Some(meta)).unwrap();
        assert!(bytes.len() < 300, "{}", bytes.len());
        let f = tmp(name);
        std::fs::write(&f, &bytes).unwrap();
        let out = tmp(&format!("{name}.mpb"));
        for args in [
            vec!["summary", f.to_str().unwrap()],
            vec!["to-blob", f.to_str().unwrap(), "-o", out.to_str().unwrap()],
            vec!["eval", f.to_str().unwrap()],
        ] {
            let o = run(&args);
            // Exit 1 with a message: not a signal (abort) nor 101 (panic).
            assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
            assert!(!stderr(&o).is_empty(), "{args:?}");
        }
        assert!(!out.exists(), "{name}: no blob may be written");
    }
}

/// `quantize`: an f32 model to a fixed-point blob half the size, whose
/// values are the f32 ones rounded to 2^-10 (the rounding error it reports
/// is at most half a step); the new blob describes, evaluates and converts
/// back like any other; a fixed-point blob is not quantized twice.
#[test]
fn quantize_writes_a_fixed_point_blob_and_reports_the_error() {
    let f = fixture("jax_mlp.safetensors");
    let q = tmp("mlp-q10.mpb");
    let o = run(&["quantize", f.to_str().unwrap(), "-o", q.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("10 fractional bits"), "{out}");
    assert!(out.contains("quantization error: max |w - q(w)|"), "{out}");
    assert!(out.contains("0 saturated"), "{out}");
    let bytes = std::fs::read(&q).unwrap();
    let spec_text = microprop_cli::spec_text::parse_spec(MLP).unwrap();
    let spec = spec_text.spec();
    assert_eq!(bytes.len(), 20 + 2 * spec.param_count());
    assert_eq!((bytes[6], bytes[7]), (2, 10));
    let f32s = microprop_cli::import(&spec, &std::fs::read(&f).unwrap()).unwrap();
    let back = microprop_cli::from_blob(&spec, &bytes).unwrap();
    for (a, b) in f32s.iter().zip(&back) {
        assert_eq!(*b, (a * 1024.0).round() / 1024.0);
        assert!((a - b).abs() <= 0.5 / 1024.0);
    }
    let o = run(&["summary", q.to_str().unwrap(), "--spec", MLP]);
    assert!(
        stdout(&o).contains("16-bit fixed point, 10 fractional bits"),
        "{}",
        stdout(&o)
    );
    let o = run(&[
        "quantize",
        q.to_str().unwrap(),
        "--spec",
        MLP,
        "-o",
        "/dev/null",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already a fixed-point blob"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "quantize",
        f.to_str().unwrap(),
        "--frac",
        "15",
        "-o",
        "/dev/null",
    ]);
    assert!(!o.status.success());
}

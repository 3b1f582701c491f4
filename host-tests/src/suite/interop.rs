//! Cross-framework interchange: MLPs built in JAX with PyTorch's
//! `nn.Sequential` names and `nn.Linear` initialisation, saved as
//! safetensors by the Python `safetensors` package
//! (`tools/safetensors_reference.py`, output committed under `fixtures/`),
//! load through `microprop_cli::import` into a `Network` on this backend and
//! give JAX's logits, loss and gradients; exporting the loaded network gives
//! back the same tensors, bit for bit.
//!
//! The reference is JAX in float64 on the float32 weights and inputs (the
//! digits pixels / 16, exact in f32), so it has no rounding of its own.
//! Tolerance (`crate::close`, relative with an absolute floor of 1): the
//! harness's elementwise tolerance, 1e-5 for f32 and 1e-12 for f64, for
//! logits, loss and every gradient.

use crate::{close, Harness};
use microprop::{Config, Element, Loss, Network, Optimizer, Targets};
use microprop_cli::{spec_text, tensors, ImportError};
use safetensors::SafeTensors;

const FIXTURE: &str = include_str!("../../fixtures/jax_mlp.json");

fn file(name: &str) -> &'static [u8] {
    match name {
        "jax_mlp.safetensors" => include_bytes!("../../fixtures/jax_mlp.safetensors"),
        "jax_mlp_tanh.safetensors" => include_bytes!("../../fixtures/jax_mlp_tanh.safetensors"),
        other => panic!("fixture names an unknown file {other}"),
    }
}

fn nums(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Largest `|got - want| / max(1, |got|, |want|)`, asserting it is within
/// `tol` (names the first element outside).
#[track_caller]
fn check(what: &str, got: &[f64], want: &[f64], tol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(g, w, tol),
            "{what}[{i}]: got {g}, JAX {w} (tol {tol})"
        );
        worst = worst.max((g - w).abs() / 1f64.max(g.abs()).max(w.abs()));
    }
    worst
}

pub fn jax_safetensors_same_logits_and_gradients<H: Harness>() {
    let fx: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    let rows = fx["rows"].as_u64().expect("rows") as usize;
    let x: Vec<H::E> = nums(&fx["x"]).iter().map(|&v| H::E::from_f64(v)).collect();
    let labels: Vec<usize> = nums(&fx["labels"]).iter().map(|&v| v as usize).collect();
    let tol = H::tolerances().elementwise;
    for m in fx["models"].as_array().expect("models") {
        let name = m["file"].as_str().expect("file");
        let bytes = file(name);
        let spec_text = m["spec"].as_str().expect("spec");
        // A file with microprop's metadata describes itself; one without
        // (as PyTorch writes them) needs the spec from the caller.
        let parsed = if m["metadata"].as_bool() == Some(true) {
            tensors::spec_of(bytes).expect("spec from metadata")
        } else {
            assert!(matches!(tensors::spec_of(bytes), Err(ImportError::NoSpec)));
            spec_text::parse_spec(spec_text).expect("spec text")
        };
        let spec = parsed.spec();
        assert_eq!(spec_text::format(spec.layers()), spec_text);
        let params = microprop_cli::import(&spec, bytes).expect("import");

        let cfg = Config::new(rows, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1));
        let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut net = Network::new(spec, backend, cfg).expect("network");
        let p: Vec<H::E> = params.iter().map(|&v| H::E::from_f32(v)).collect();
        net.load_parameters(&p).expect("load");

        let mut logits = vec![H::E::ZERO; rows * spec.outputs()];
        net.predict(&x, &mut logits).expect("predict");
        let logits: Vec<f64> = logits.iter().map(|v| v.to_f64()).collect();
        let d_logits = check(
            &format!("{name}: logits"),
            &logits,
            &nums(&m["logits"]),
            tol,
        );

        net.zero_grad().expect("zero_grad");
        net.forward(&x).expect("forward");
        let loss = net.loss(Targets::Labels(&labels)).expect("loss").to_f64();
        let d_loss = check(
            &format!("{name}: loss"),
            &[loss],
            &[m["loss"].as_f64().expect("loss")],
            tol,
        );
        net.backward().expect("backward");
        let mut grads = vec![H::E::ZERO; spec.param_count()];
        net.gradients(&mut grads).expect("gradients");
        let mut d_grads = 0.0f64;
        let slots = tensors::tensor_slots(&spec);
        assert_eq!(
            slots.len(),
            m["grads"].as_object().expect("grads").len(),
            "{name}: one gradient per tensor"
        );
        for slot in &slots {
            let got: Vec<f64> = grads[slot.offset..slot.offset + slot.len]
                .iter()
                .map(|v| v.to_f64())
                .collect();
            let want = nums(&m["grads"][slot.name.as_str()]);
            d_grads = d_grads.max(check(
                &format!("{name}: d loss / d {}", slot.name),
                &got,
                &want,
                tol,
            ));
        }
        eprintln!(
            "{}: {name}: max rel. difference vs JAX: logits {d_logits:.2e}, loss {d_loss:.2e}, gradients {d_grads:.2e} (tol {tol:e})",
            H::NAME
        );

        // Export what the network holds: the same tensors, bit for bit.
        let mut back = vec![H::E::ZERO; spec.param_count()];
        net.parameters(&mut back).expect("parameters");
        let back: Vec<f32> = back.iter().map(|v| v.to_f32()).collect();
        let exported = microprop_cli::export(&spec, &back).expect("export");
        let a = SafeTensors::deserialize(bytes).expect("fixture");
        let b = SafeTensors::deserialize(&exported).expect("exported");
        let mut names_a = a.names();
        let mut names_b = b.names();
        names_a.sort_unstable();
        names_b.sort_unstable();
        assert_eq!(names_a, names_b, "{name}: tensor names");
        for n in names_a {
            let (ta, tb) = (a.tensor(n).unwrap(), b.tensor(n).unwrap());
            assert_eq!(ta.dtype(), tb.dtype(), "{name}: {n} dtype");
            assert_eq!(ta.shape(), tb.shape(), "{name}: {n} shape");
            assert_eq!(ta.data(), tb.data(), "{name}: {n} bytes");
        }
    }
}

//! The safetensors importer (`microprop_cli::import`) on arbitrary bytes,
//! against a fixed network. Properties:
//!
//! - nothing panics (`import`, `spec_text_of`);
//! - an accepted file yields exactly `param_count` finite values, which a
//!   network accepts (`load_parameters`) and which survive
//!   `export` → `import` unchanged, bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microprop::{Config, Loss, Network, Optimizer};
use microprop_cpu::CpuBackend;
use microprop_fuzz::{NET, PARAMS};

const CFG: Config = Config::new(1, Loss::Mse, Optimizer::sgd(0.1)).with_seed(1);

fuzz_target!(|data: &[u8]| {
    // The metadata reader on its own (it must not panic either).
    let _ = microprop_cli::tensors::spec_text_of(data);
    match microprop_cli::import(&NET, data) {
        Err(e) => {
            // Display must not panic either.
            let _ = e.to_string();
        }
        Ok(params) => {
            assert_eq!(params.len(), PARAMS);
            assert!(params.iter().all(|v| v.is_finite()));
            let mut arena = [0.0f32; CFG.arena_len(&NET)];
            let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).expect("network");
            net.load_parameters(&params).expect("load_parameters");
            let file = microprop_cli::export(&NET, &params).expect("export");
            let back = microprop_cli::import(&NET, &file).expect("re-import");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&params));
        }
    }
});

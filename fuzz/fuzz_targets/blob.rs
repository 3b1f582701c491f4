//! The device blob loader on arbitrary bytes, against a fixed network.
//!
//! The first input byte picks a mode: even = the bytes as given; odd = the
//! same bytes with a correct CRC written into the header first (when there
//! is a header), so the fuzzer reaches the payload checks and the success
//! path instead of stopping at the checksum. Properties:
//!
//! - nothing panics (`parse_header`, `validate`, `decode` for f32 and f64,
//!   `Network::load_blob`);
//! - `parse_header`, `validate`, `decode` and `load_blob` agree on the
//!   verdict and the error;
//! - a rejected blob leaves the output buffer and the network's parameters
//!   untouched;
//! - an accepted blob round-trips: `encode(decode(x)) == x`, and
//!   `save_blob` after `load_blob` gives `x` back byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microprop::blob::{self, HEADER_LEN};
use microprop::{Config, Error, Loss, Network, Optimizer};
use microprop_cpu::CpuBackend;
use microprop_fuzz::{NET, PARAMS};

const CFG: Config = Config::new(1, Loss::Mse, Optimizer::sgd(0.1)).with_seed(1);
const SENTINEL: f32 = 12345.0;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 && bytes.len() >= HEADER_LEN {
        let mut crc = blob::Crc32::new();
        crc.update(&bytes[..16]);
        crc.update(&bytes[HEADER_LEN..]);
        let c = crc.finish().to_le_bytes();
        bytes[16..20].copy_from_slice(&c);
    }
    check(&bytes);
});

fn check(bytes: &[u8]) {
    let header = blob::parse_header(bytes);
    if let Ok(h) = header {
        assert_eq!(h.blob_len(), bytes.len());
        assert_eq!(bytes[..4], blob::MAGIC);
    }
    let verdict = blob::validate(&NET, bytes);
    if let Ok(h) = verdict {
        assert_eq!(header, Ok(h));
        assert_eq!(h.count, PARAMS);
        assert_eq!(h.spec_hash, NET.hash());
    }

    let mut out = [SENTINEL; PARAMS];
    let decoded = blob::decode(&NET, bytes, &mut out);
    assert_eq!(decoded, verdict.map(|_| ()));
    let mut out64 = [SENTINEL as f64; PARAMS];
    assert_eq!(blob::decode(&NET, bytes, &mut out64), decoded);
    // A wrong-sized output buffer is an error, never a panic.
    let mut short = [0.0f32; PARAMS - 1];
    assert!(blob::decode(&NET, bytes, &mut short).is_err());

    let mut arena = [0.0f32; CFG.arena_len(&NET)];
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).expect("network");
    let mut before = [0.0f32; PARAMS];
    net.parameters(&mut before).expect("parameters");
    let loaded = net.load_blob(bytes);
    let mut after = [0.0f32; PARAMS];
    net.parameters(&mut after).expect("parameters");

    match decoded {
        Err(e) => {
            assert_eq!(out, [SENTINEL; PARAMS], "a rejected blob wrote output");
            assert_eq!(out64, [SENTINEL as f64; PARAMS]);
            assert_eq!(loaded, Err(Error::Blob(e)));
            assert_eq!(
                bits(&after),
                bits(&before),
                "a rejected blob changed the model"
            );
        }
        Ok(()) => {
            assert!(out.iter().all(|v| v.is_finite()));
            for (a, b) in out.iter().zip(&out64) {
                assert_eq!(*a as f64, *b);
            }
            let mut again = vec![0u8; bytes.len()];
            assert_eq!(blob::encode(&NET, &out, &mut again), Ok(bytes.len()));
            assert_eq!(again, bytes, "encode(decode(x)) != x");
            assert_eq!(loaded, Ok(()));
            assert_eq!(bits(&after), bits(&out));
            let mut saved = vec![0u8; bytes.len()];
            assert_eq!(net.save_blob(&mut saved), Ok(bytes.len()));
            assert_eq!(saved, bytes, "save_blob(load_blob(x)) != x");
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

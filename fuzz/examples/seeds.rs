//! Writes the committed seed corpus: `cargo run --example seeds` (from
//! `fuzz/`). A valid blob (behind the blob target's mode byte) and a valid
//! safetensors file for
//! `microprop_fuzz::NET`, plus a safetensors file without the spec metadata
//! (as PyTorch writes them).

use microprop_fuzz::{seed_params, NET};

fn main() {
    let params = seed_params();
    let mut blob = vec![0u8; microprop::blob::blob_len(NET.param_count())];
    microprop::blob::encode(&NET, &params, &mut blob).expect("encode");
    // The blob target's first byte is its mode (even: bytes as given, odd:
    // CRC recomputed first); the blob follows.
    for (mode, name) in [(0u8, "valid.mpb"), (1, "valid-crc-fixed.mpb")] {
        let mut input = vec![mode];
        input.extend_from_slice(&blob);
        std::fs::write(format!("seeds/blob/{name}"), input).expect("write blob");
    }

    let st = microprop_cli::export(&NET, &params).expect("export");
    std::fs::write("seeds/safetensors/valid.safetensors", &st).expect("write st");
    // Same tensors without the metadata: rewrite the JSON header.
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&st[8..8 + n]).unwrap();
    let start = header.find("\"__metadata__\"").expect("metadata");
    let end = header[start..].find('}').unwrap() + start + 1;
    let mut bare = String::new();
    bare.push_str(&header[..start]);
    bare.push_str(header[end..].trim_start_matches(','));
    let bare = bare.replace("{,", "{").replace(",}", "}");
    let mut out = (bare.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(bare.as_bytes());
    out.extend_from_slice(&st[8 + n..]);
    assert_eq!(
        microprop_cli::import(&NET, &out).expect("bare file imports"),
        params
    );
    std::fs::write("seeds/safetensors/no-metadata.safetensors", &out).expect("write bare");
    println!(
        "blob {} bytes, safetensors {} and {} bytes",
        blob.len(),
        st.len(),
        out.len()
    );
}

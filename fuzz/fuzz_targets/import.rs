//! The CLI's import path on structured model files whose spec metadata is
//! arbitrary: what `microprop summary`, `to-blob` and `eval` do with a file
//! (`cli/src/bin/microprop.rs`), without the file system.
//!
//! Each input builds a file from the fuzz bytes:
//!
//! - a spec text: layers with small or huge declared sizes (`dense(100000,
//!   100000)`, `u32::MAX`, `2^32`, `usize::MAX`, 20-digit numbers, signs,
//!   fractions), sometimes many layers, sometimes raw bytes;
//! - a safetensors file: `__metadata__` carrying that text (or a wrong type
//!   of value, or none), a tensor header per slot of the parsed spec (or
//!   made-up names) whose dtype, shape and `data_offsets` are the spec's,
//!   a little off, huge, or arbitrary, and a small data section; or
//! - a device blob whose header declares a count (up to `u32::MAX`) and
//!   spec hash, with a correct CRC, for `from_blob` against the spec.
//!
//! Then, as the CLI does: `spec_text_of`, `spec_of`, `summary`, `import`
//! (with the file's spec and with a second spec given as `--spec`),
//! `to_blob`, `from_blob`, `export`. Properties: nothing panics; an
//! accepted file yields `param_count` finite values that survive
//! `to_blob`/`from_blob` and `export`/`import` bit for bit; and memory stays
//! bounded by the file: `fuzz/run.sh` runs this target with
//! `-rss_limit_mb=512` (libFuzzer's `-malloc_limit_mb` defaults to it), so
//! an allocation sized from the declared spec rather than from the file is
//! a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microprop::blob;
use microprop::OptimizerKind;
use microprop_cli::{spec_text, tensors};
use microprop_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut r = Bytes::new(data);
    let text = spec_text(&mut r);
    let parsed = spec_text::parse_spec(&text);
    let bytes = if r.u8() < 40 {
        blob_file(&mut r, parsed.as_ref().ok())
    } else {
        safetensors_file(&mut r, &text, parsed.as_ref().ok())
    };
    let given = spec_text(&mut r);
    check(&bytes, &given);
});

/// A declared size: small, or one of the sizes that overflow or exhaust.
fn size(r: &mut Bytes) -> String {
    match r.u8() % 24 {
        0 => "100000".into(),
        1 => u32::MAX.to_string(),
        2 => (1u64 << 32).to_string(),
        3 => usize::MAX.to_string(),
        4 => "99999999999999999999".into(),
        5 => "0".into(),
        6 => "-1".into(),
        7 => "1.5".into(),
        8 => "+3".into(),
        9 => "65536".into(),
        10 => (1u64 << 31).to_string(),
        11 => r.u64().to_string(),
        12 => r.u32().to_string(),
        _ => r.range(1, 6).to_string(),
    }
}

fn spec_text(r: &mut Bytes) -> String {
    if r.u8() < 16 {
        let n = r.below(48);
        let raw: Vec<u8> = (0..n).map(|_| r.u8()).collect();
        return String::from_utf8_lossy(&raw).into_owned();
    }
    let n = if r.u8() < 8 {
        r.range(100, 2000)
    } else {
        r.range(1, 6)
    };
    let mut width = r.range(1, 6).to_string();
    let mut parts = Vec::new();
    for _ in 0..n {
        let part = match r.u8() % 14 {
            0..=4 => {
                let out = if r.u8() < 180 {
                    r.range(1, 6).to_string()
                } else {
                    size(r)
                };
                let inp = if r.u8() < 220 { width.clone() } else { size(r) };
                width = out.clone();
                format!("dense({inp},{out})")
            }
            5 => {
                let out = if r.u8() < 180 {
                    r.range(1, 4).to_string()
                } else {
                    size(r)
                };
                let pieces = if r.u8() < 180 {
                    r.range(1, 3).to_string()
                } else {
                    size(r)
                };
                let s = format!("maxout({width},{out},{pieces})");
                width = out;
                s
            }
            6 => "relu".into(),
            7 => "tanh".into(),
            8 => "sigmoid".into(),
            9 => "softplus".into(),
            10 => "identity".into(),
            11 => format!("leaky_relu({})", r.f64_any()),
            12 => format!("elu({})", r.f64_small()),
            _ => "softmax".into(),
        };
        parts.push(part);
    }
    parts.join(if r.u8() < 16 { "  \t" } else { " " })
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn safetensors_file(r: &mut Bytes, text: &str, parsed: Option<&spec_text::ParsedSpec>) -> Vec<u8> {
    // (name, shape) of each tensor: the spec's slots or made-up ones.
    let mut slots: Vec<(String, Vec<String>)> = match parsed {
        Some(p) if r.u8() < 224 => tensors::tensor_slots(&p.spec())
            .into_iter()
            .take(64)
            .map(|s| (s.name, s.shape.iter().map(|d| d.to_string()).collect()))
            .collect(),
        _ => (0..r.below(4))
            .map(|i| {
                let name = if r.bool() { "weight" } else { "bias" };
                (format!("{i}.{name}"), vec![size(r), size(r)])
            })
            .collect(),
    };
    if !slots.is_empty() && r.u8() < 16 {
        let i = r.below(slots.len());
        slots.remove(i);
    }
    let mut entries = Vec::new();
    match r.u8() % 16 {
        0 => {}
        1 => entries.push("\"__metadata__\":{\"microprop.spec\":17}".to_string()),
        2 => entries.push("\"__metadata__\":{\"other\":\"x\"}".to_string()),
        _ => entries.push(format!(
            "\"__metadata__\":{{\"microprop.spec\":{}}}",
            json_str(text)
        )),
    }
    let mut data = Vec::new();
    for (name, mut shape) in slots {
        let dtype = match r.u8() % 24 {
            0 => "F64",
            1 => "I32",
            2 => "BF16",
            3 => "U8",
            _ => "F32",
        };
        if r.u8() < 24 && !shape.is_empty() {
            let i = r.below(shape.len());
            shape[i] = size(r);
        }
        if r.u8() < 8 {
            shape.push(size(r));
        }
        // The byte length the shape declares (saturating), and what is
        // written: the declared length when small, else a little.
        let declared = shape
            .iter()
            .map(|d| d.parse::<u64>().unwrap_or(1))
            .fold(4u64, |a, d| a.saturating_mul(d));
        let written = if declared <= 4096 {
            declared as usize
        } else {
            4 * r.below(8)
        };
        let start = data.len() as u64;
        let end = match r.u8() % 16 {
            0 => start.saturating_add(declared),
            1 => r.u64(),
            2 => start + written as u64 + 4,
            _ => start + written as u64,
        };
        for _ in 0..written / 4 {
            let v = if r.u8() < 240 {
                r.f64_small() as f32
            } else {
                r.f64_any() as f32
            };
            data.extend_from_slice(&v.to_le_bytes());
        }
        entries.push(format!(
            "{}:{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{start},{end}]}}",
            json_str(&name),
            shape.join(",")
        ));
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut header = header.into_bytes();
    // safetensors pads the header with spaces to 8 bytes.
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(&data);
    // Sometimes one byte overwritten anywhere (the header length included).
    if r.u8() < 16 {
        let i = r.below(file.len());
        file[i] = r.u8();
    }
    file
}

fn blob_file(r: &mut Bytes, parsed: Option<&spec_text::ParsedSpec>) -> Vec<u8> {
    let (hash, count) = match parsed {
        Some(p) => (p.spec().hash(), p.spec().param_count()),
        None => (r.u32(), r.below(64)),
    };
    let count = match r.u8() % 8 {
        0 => u32::MAX,
        1 => r.u32(),
        2 => (count as u32).wrapping_add(1),
        _ => count as u32,
    };
    let hash = if r.u8() < 16 { r.u32() } else { hash };
    let mut b = blob::MAGIC.to_vec();
    b.extend_from_slice(&blob::VERSION.to_le_bytes());
    b.push(blob::ELEM_F32);
    b.push(0);
    b.extend_from_slice(&hash.to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    let n = (count as usize).min(1024)
        - if r.u8() < 16 {
            1.min(count as usize)
        } else {
            0
        };
    for _ in 0..n {
        b.extend_from_slice(&(r.f64_small() as f32).to_le_bytes());
    }
    let mut crc = blob::Crc32::new();
    crc.update(&b[..16]);
    crc.update(&b[blob::HEADER_LEN..]);
    let c = crc.finish().to_le_bytes();
    b[16..20].copy_from_slice(&c);
    b
}

fn check(bytes: &[u8], given: &str) {
    let _ = tensors::spec_text_of(bytes);
    // `--spec` given on the command line: checked against the metadata.
    if let Ok(g) = spec_text::parse_spec(given) {
        let spec = g.spec();
        let _ = microprop_cli::summary(&spec, 1, OptimizerKind::Adam);
        if let Ok(params) = tensors::import(&spec, bytes) {
            accepted(&spec, &params);
        }
        if let Ok(params) = microprop_cli::from_blob(&spec, bytes) {
            assert_eq!(params.len(), spec.param_count());
        }
    }
    // No `--spec`: the file's own metadata.
    match microprop_cli::FileKind::of(bytes) {
        microprop_cli::FileKind::Blob => {
            let _ = blob::parse_header(bytes);
        }
        microprop_cli::FileKind::Safetensors => match tensors::spec_of(bytes) {
            Err(e) => {
                let _ = e.to_string();
            }
            Ok(parsed) => {
                let spec = parsed.spec();
                for batch in [1, 32, usize::MAX] {
                    let _ = microprop_cli::summary(&spec, batch, OptimizerKind::Momentum);
                }
                match tensors::import(&spec, bytes) {
                    Err(e) => {
                        let _ = e.to_string();
                    }
                    Ok(params) => accepted(&spec, &params),
                }
            }
        },
    }
}

fn accepted(spec: &microprop::Spec<'_>, params: &[f32]) {
    assert_eq!(params.len(), spec.param_count());
    assert!(params.iter().all(|v| v.is_finite()));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let blob = microprop_cli::to_blob(spec, params).expect("to_blob of an imported file");
    let back = microprop_cli::from_blob(spec, &blob).expect("from_blob of to_blob");
    assert_eq!(bits(&back), bits(params));
    let file = microprop_cli::export(spec, params).expect("export of an imported file");
    let again = tensors::import(spec, &file).expect("re-import");
    assert_eq!(bits(&again), bits(params));
}

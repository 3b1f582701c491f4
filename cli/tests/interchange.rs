//! safetensors ↔ blob ↔ parameters: names, shapes and bytes checked against
//! the safetensors crate directly and against hand-written layouts; every
//! typed error; no panic on damaged files.

use microprop::blob::{self, BlobError};
use microprop::Layer;
use microprop_cli::{export, from_blob, import, spec_text, tensors, to_blob, ImportError};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;

const MLP: &str = "dense(64,32) relu dense(32,10)";
const JAX_MLP: &[u8] = include_bytes!("../../host-tests/fixtures/jax_mlp.safetensors");

fn spec(text: &str) -> spec_text::ParsedSpec {
    spec_text::parse_spec(text).unwrap()
}

/// Deterministic, distinct, non-round values (a fixed LCG; exact bit patterns
/// matter for the round trips, not the distribution).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0 + 1e-9 * (s & 7) as f32
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A safetensors file written with the crate directly, tensor by tensor.
fn raw_file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], spec: Option<&str>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = spec.map(|t| HashMap::from([(tensors::SPEC_KEY.to_string(), t.to_string())]));
    safetensors::serialize(views, meta).unwrap()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn names_shapes_and_order_follow_pytorch_sequential() {
    // dense(2,3) tanh dense(3,2): params 0..17 in Network::parameters order
    // are W0 [3,2] = 0..6, b0 = 6..9, W2 [2,3] = 9..15, b2 = 15..17.
    let s_parsed = spec("dense(2,3) tanh dense(3,2)");
    let s = s_parsed.spec();
    let params: Vec<f32> = (0..17).map(|i| i as f32).collect();
    let file = export(&s, &params).unwrap();
    let st = SafeTensors::deserialize(&file).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    let want: [(&str, &[usize], std::ops::Range<i32>); 4] = [
        ("0.weight", &[3, 2], 0..6),
        ("0.bias", &[3], 6..9),
        ("2.weight", &[2, 3], 9..15),
        ("2.bias", &[2], 15..17),
    ];
    for (name, shape, range) in want {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        assert_eq!(t.shape(), shape, "{name}");
        let expect: Vec<f32> = range.map(|i| i as f32).collect();
        assert_eq!(t.data(), f32_bytes(&expect).as_slice(), "{name}");
    }
    let (_, meta) = SafeTensors::read_metadata(&file).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta[tensors::SPEC_KEY], "dense(2,3) tanh dense(3,2)");
}

#[test]
fn maxout_is_one_linear_of_out_times_pieces_rows() {
    let s_parsed = spec("maxout(3,2,4) relu dense(2,1)");
    let s = s_parsed.spec();
    let slots = tensors::tensor_slots(&s);
    let got: Vec<(&str, &[usize], usize, usize)> = slots
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice(), t.offset, t.len))
        .collect();
    assert_eq!(
        got,
        [
            ("0.weight", &[8usize, 3][..], 0, 24),
            ("0.bias", &[8][..], 24, 8),
            ("2.weight", &[1, 2][..], 32, 2),
            ("2.bias", &[1][..], 34, 1),
        ]
    );
    let params = values(s.param_count(), 5);
    assert_eq!(
        bits(&import(&s, &export(&s, &params).unwrap()).unwrap()),
        bits(&params)
    );
}

#[test]
fn safetensors_blob_params_round_trip_bit_exact() {
    for text in [
        MLP,
        "dense(5,7) leaky_relu(0.01) dense(7,7) elu(1) maxout(7,3,2) softplus dense(3,4) softmax",
        "dense(1,1)",
    ] {
        let s_parsed = spec(text);
        let s = s_parsed.spec();
        let params = values(s.param_count(), 11);
        let file = export(&s, &params).unwrap();
        let p1 = import(&s, &file).unwrap();
        assert_eq!(bits(&p1), bits(&params), "{text}: safetensors");
        let blob = to_blob(&s, &p1).unwrap();
        assert_eq!(blob.len(), blob::blob_len(s.param_count()));
        assert_eq!(blob.len(), 20 + 4 * s.param_count());
        let p2 = from_blob(&s, &blob).unwrap();
        assert_eq!(bits(&p2), bits(&params), "{text}: blob");
        assert!(export(&s, &p2).unwrap() == file, "{text}: same file again");
        // The blob's payload is the parameters as little-endian f32, in order.
        assert_eq!(&blob[20..], f32_bytes(&params).as_slice());
    }
}

#[test]
fn jax_fixture_converts_to_blob_and_back_to_the_same_file() {
    let parsed = tensors::spec_of(JAX_MLP).unwrap();
    let s = parsed.spec();
    assert_eq!(spec_text::format(s.layers()), MLP);
    let params = import(&s, JAX_MLP).unwrap();
    assert_eq!(params.len(), 64 * 32 + 32 + 32 * 10 + 10);
    let blob = to_blob(&s, &params).unwrap();
    assert_eq!(blob.len(), 9660);
    // Python's safetensors and this crate write the same bytes for the same
    // tensors and metadata.
    assert!(export(&s, &from_blob(&s, &blob).unwrap()).unwrap() == JAX_MLP);
}

#[test]
fn spec_text_round_trips_every_layer_kind() {
    let layers = [
        Layer::dense(4, 6),
        Layer::sigmoid(),
        Layer::maxout(6, 3, 2),
        Layer::tanh(),
        Layer::dense(3, 3),
        Layer::relu(),
        Layer::dense(3, 3),
        Layer::leaky_relu(0.013),
        Layer::dense(3, 3),
        Layer::elu(0.7),
        Layer::dense(3, 3),
        Layer::softplus(),
        Layer::Activation(microprop::Activation::Identity),
        Layer::dense(3, 2),
        Layer::softmax(),
    ];
    let text = spec_text::format(&layers);
    assert_eq!(
        text,
        "dense(4,6) sigmoid maxout(6,3,2) tanh dense(3,3) relu dense(3,3) leaky_relu(0.013) \
         dense(3,3) elu(0.7) dense(3,3) softplus identity dense(3,2) softmax"
    );
    assert_eq!(spec_text::parse(&text).unwrap(), layers);
    // Whitespace is free, f64 parameters keep every bit.
    assert_eq!(
        spec_text::parse("  dense( 4 , 6 )\n\tleaky_relu( 1e-7 )").unwrap(),
        [Layer::dense(4, 6), Layer::leaky_relu(1e-7)]
    );
    let odd = Layer::elu(f64::from_bits(0x3ff0_0000_0000_0001));
    assert_eq!(spec_text::parse(&spec_text::format(&[odd])).unwrap(), [odd]);
}

#[test]
fn spec_text_errors_are_typed() {
    use spec_text::SpecTextError as E;
    assert_eq!(spec_text::parse("  "), Err(E::Empty));
    assert!(
        matches!(spec_text::parse("conv(3,3)"), Err(E::UnknownLayer { name }) if name == "conv")
    );
    assert!(matches!(
        spec_text::parse("dense(3)"),
        Err(E::Arity {
            expected: 2,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        spec_text::parse("relu(1)"),
        Err(E::Arity {
            expected: 0,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        spec_text::parse("dense(3,0)"),
        Err(E::BadNumber { .. })
    ));
    assert!(matches!(
        spec_text::parse("dense(3,-1)"),
        Err(E::BadNumber { .. })
    ));
    assert!(matches!(
        spec_text::parse("dense(3,99999999999)"),
        Err(E::BadNumber { .. })
    ));
    assert!(matches!(
        spec_text::parse("elu(NaN)"),
        Err(E::BadNumber { .. })
    ));
    assert!(matches!(
        spec_text::parse("leaky_relu(inf)"),
        Err(E::BadNumber { .. })
    ));
    assert!(matches!(
        spec_text::parse("dense(3,4"),
        Err(E::Syntax { .. })
    ));
    assert!(matches!(
        spec_text::parse("dense(3,(4))"),
        Err(E::Syntax { .. })
    ));
    assert!(matches!(
        spec_text::parse("dense(3,4) -> relu"),
        Err(E::Syntax { at: 11, .. })
    ));
    assert!(matches!(
        spec_text::parse_spec("dense(3,4) dense(5,2)"),
        Err(E::Spec(microprop::SpecError::Chain {
            layer: 1,
            expected: 5,
            got: 4
        }))
    ));
    assert!(matches!(
        spec_text::parse_spec("relu dense(3,2)"),
        Err(E::Spec(microprop::SpecError::NoInputWidth))
    ));
}

#[test]
fn import_errors_are_typed() {
    let s_parsed = spec("dense(2,3) tanh dense(3,2)");
    let s = s_parsed.spec();
    let w0 = f32_bytes(&values(6, 1));
    let b0 = f32_bytes(&values(3, 2));
    let w2 = f32_bytes(&values(6, 3));
    let b2 = f32_bytes(&values(2, 4));
    let good = |extra: Option<(&str, Dtype, Vec<usize>, Vec<u8>)>| {
        let mut t = vec![
            ("0.weight", Dtype::F32, vec![3, 2], w0.clone()),
            ("0.bias", Dtype::F32, vec![3], b0.clone()),
            ("2.weight", Dtype::F32, vec![2, 3], w2.clone()),
            ("2.bias", Dtype::F32, vec![2], b2.clone()),
        ];
        if let Some((name, d, shape, bytes)) = extra {
            t.retain(|x| x.0 != name);
            if !bytes.is_empty() || shape.contains(&0) {
                t.push((name, d, shape, bytes));
            }
        }
        raw_file(&t, None)
    };
    assert!(import(&s, &good(None)).is_ok(), "the base file imports");

    // Missing tensor (the extra entry with no bytes removes 2.bias).
    let e = import(&s, &good(Some(("2.bias", Dtype::F32, vec![2], vec![])))).unwrap_err();
    assert!(
        matches!(&e, ImportError::MissingTensor { name } if name == "2.bias"),
        "{e}"
    );

    // Wrong shape: W transposed (TensorFlow/Keras order).
    let e = import(
        &s,
        &good(Some(("0.weight", Dtype::F32, vec![2, 3], w0.clone()))),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ImportError::WrongShape { name, expected, found }
            if name == "0.weight" && expected == &[3, 2] && found == &[2, 3]),
        "{e}"
    );
    // Wrong shape: flattened.
    let e = import(
        &s,
        &good(Some(("0.weight", Dtype::F32, vec![6], w0.clone()))),
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::WrongShape { .. }), "{e}");

    // Wrong dtype: F64, F16, BF16 are refused, not converted.
    let f64s: Vec<u8> = values(3, 2)
        .iter()
        .flat_map(|&v| (v as f64).to_le_bytes())
        .collect();
    let e = import(&s, &good(Some(("0.bias", Dtype::F64, vec![3], f64s)))).unwrap_err();
    assert!(
        matches!(&e, ImportError::WrongDtype { name, found: Dtype::F64 } if name == "0.bias"),
        "{e}"
    );
    for d in [Dtype::F16, Dtype::BF16] {
        let e = import(&s, &good(Some(("0.bias", d, vec![3], vec![0; 6])))).unwrap_err();
        assert!(matches!(e, ImportError::WrongDtype { found, .. } if found == d));
    }

    // Unexpected extra tensor (a BatchNorm's running mean, say).
    let e = import(
        &s,
        &good(Some(("1.running_mean", Dtype::F32, vec![3], b0.clone()))),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ImportError::UnexpectedTensor { name } if name == "1.running_mean"),
        "{e}"
    );

    // Non-finite values.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut v = values(2, 4);
        v[1] = bad;
        let e = import(
            &s,
            &good(Some(("2.bias", Dtype::F32, vec![2], f32_bytes(&v)))),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ImportError::NonFinite { name, index: 1 } if name == "2.bias"),
            "{e}"
        );
    }

    // Metadata naming another network (same shapes, other activation).
    let file = export(&spec("dense(2,3) relu dense(3,2)").spec(), &values(17, 9)).unwrap();
    let e = import(&s, &file).unwrap_err();
    assert!(
        matches!(&e, ImportError::SpecMismatch { file, given }
            if file == "dense(2,3) relu dense(3,2)" && given == "dense(2,3) tanh dense(3,2)"),
        "{e}"
    );
    // Unparseable metadata.
    let t = [("0.weight", Dtype::F32, vec![3, 2], w0.clone())];
    let file = raw_file(&t, Some("dense(2,3) swish"));
    assert!(matches!(
        import(&s, &file),
        Err(ImportError::BadSpecMetadata { .. })
    ));
    assert!(matches!(
        tensors::spec_of(&file),
        Err(ImportError::BadSpecMetadata { .. })
    ));
    // No metadata: spec_of says a spec is needed.
    assert!(matches!(
        tensors::spec_of(&good(None)),
        Err(ImportError::NoSpec)
    ));

    // Malformed: the safetensors crate's error.
    for bytes in [
        &b""[..],
        b"1234567",
        b"\x05\0\0\0\0\0\0\0{}",
        b"\x02\0\0\0\0\0\0\0[]",
    ] {
        assert!(matches!(import(&s, bytes), Err(ImportError::Malformed(_))));
    }
    let mut truncated = good(None);
    truncated.pop();
    assert!(matches!(
        import(&s, &truncated),
        Err(ImportError::Malformed(_))
    ));
    // A blob is not a safetensors file.
    let blob = to_blob(&s, &values(17, 1)).unwrap();
    assert!(matches!(import(&s, &blob), Err(ImportError::Malformed(_))));
}

fn header_file(header: &str, data_len: usize) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.resize(f.len() + data_len, 0);
    f
}

#[test]
fn huge_shapes_and_offsets_are_errors_not_panics() {
    let s_parsed = spec("dense(2,3) tanh dense(3,2)");
    let s = s_parsed.spec();
    let huge = [
        // Element count overflows usize.
        r#"{"0.weight":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}}"#,
        // Byte size overflows.
        r#"{"0.weight":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,24]}}"#,
        // Offsets far past the file (sums of them overflow in the crate).
        r#"{"a":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[0,2305843009213693951]},"b":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[2305843009213693951,4611686018427387902]},"c":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[4611686018427387902,6917529027641081853]},"d":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[6917529027641081853,9223372036854775804]},"e":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[9223372036854775804,11529215046068469755]},"f":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[11529215046068469755,13835058055282163706]},"g":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[13835058055282163706,16140901064495857657]},"h":{"dtype":"F4","shape":[4611686018427387902],"data_offsets":[16140901064495857657,18446744073709551608]}}"#,
        // Offsets that are not numbers, or negative.
        r#"{"0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,-24]}}"#,
        r#"{"0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":"x"}}"#,
        // Right shape, wrong length.
        r#"{"0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,20]}}"#,
    ];
    for h in huge {
        assert!(
            matches!(
                import(&s, &header_file(h, 24)),
                Err(ImportError::Malformed(_))
            ),
            "{h}"
        );
    }
    // A header length near u64::MAX.
    let mut f = u64::MAX.to_le_bytes().to_vec();
    f.extend_from_slice(b"{}");
    assert!(matches!(import(&s, &f), Err(ImportError::Malformed(_))));
}

#[test]
fn damaged_files_never_panic_and_never_import_wrong_values() {
    let s_parsed = spec("dense(2,3) tanh dense(3,2)");
    let s = s_parsed.spec();
    let params = values(17, 3);
    let file = export(&s, &params).unwrap();
    // Every truncation.
    for n in 0..file.len() {
        assert!(import(&s, &file[..n]).is_err(), "truncated to {n}");
    }
    // Every single-bit flip: an error, or (a flip in the payload or in the
    // JSON's insignificant bytes) values that differ from the original only
    // where the flipped byte lies.
    for i in 0..file.len() {
        for bit in 0..8 {
            let mut f = file.clone();
            f[i] ^= 1 << bit;
            if let Ok(p) = import(&s, &f) {
                let changed = p
                    .iter()
                    .zip(&params)
                    .filter(|(a, b)| a.to_bits() != b.to_bits());
                assert!(changed.count() <= 1, "flip at byte {i} bit {bit}");
            }
        }
    }
}

#[test]
fn blob_errors_surface_through_the_helpers() {
    let s_parsed = spec(MLP);
    let s = s_parsed.spec();
    let params = values(s.param_count(), 8);
    let mut b = to_blob(&s, &params).unwrap();
    let other_parsed = spec("dense(64,32) tanh dense(32,10)");
    let other = other_parsed.spec();
    assert!(matches!(from_blob(&other, &b), Err(BlobError::Spec { .. })));
    b[100] ^= 0x10;
    assert!(matches!(from_blob(&s, &b), Err(BlobError::Crc { .. })));
    assert!(matches!(
        from_blob(&s, &b[..b.len() - 4]),
        Err(BlobError::Truncated { .. })
    ));
    assert!(matches!(
        to_blob(&s, &params[1..]),
        Err(BlobError::Count { .. }) | Err(BlobError::BufferTooSmall { .. })
    ));
}

#[test]
fn export_errors_are_typed() {
    use microprop_cli::ExportError;
    let s_parsed = spec("dense(2,3) tanh dense(3,2)");
    let s = s_parsed.spec();
    assert!(matches!(
        export(&s, &values(16, 1)),
        Err(ExportError::Length {
            expected: 17,
            got: 16
        })
    ));
    let mut p = values(17, 1);
    p[7] = f32::NAN; // b0[1]
    assert!(matches!(
        export(&s, &p),
        Err(ExportError::NonFinite { name, index: 1 }) if name == "0.bias"
    ));
}

#[test]
fn conv_tensors_follow_pytorch_conv1d_conv2d_and_flatten_indices() {
    // nn.Sequential(Conv1d(2,3,5,stride=2,padding=2), ReLU(), MaxPool1d(2),
    // Flatten(), Linear(9,4)) over 12 steps: 12 → 6 → 3 positions.
    let text = "conv1d(2,3,12,5,2,2) relu max_pool1d(3,6,2,2) flatten dense(9,4)";
    let s_parsed = spec(text);
    let s = s_parsed.spec();
    assert_eq!(spec_text::format(s.layers()), text);
    let slots = tensors::tensor_slots(&s);
    let got: Vec<(&str, &[usize], usize, usize)> = slots
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice(), t.offset, t.len))
        .collect();
    assert_eq!(
        got,
        [
            ("0.weight", &[3usize, 2, 5][..], 0, 30),
            ("0.bias", &[3][..], 30, 3),
            ("4.weight", &[4, 9][..], 33, 36),
            ("4.bias", &[4][..], 69, 4),
        ]
    );
    // Conv2d: [out, in, kh, kw].
    let s2_parsed = spec("conv2d(1,4,8,8,3,3,1,1) tanh global_avg_pool2d(4,8,8) dense(4,10)");
    let s2 = s2_parsed.spec();
    let slots = tensors::tensor_slots(&s2);
    assert_eq!(slots[0].shape, [4, 1, 3, 3]);
    assert_eq!(slots[2].name, "3.weight");
    for s in [&s, &s2] {
        let params = values(s.param_count(), 21);
        let file = export(s, &params).unwrap();
        assert_eq!(bits(&import(s, &file).unwrap()), bits(&params));
        let parsed = tensors::spec_of(&file).unwrap();
        assert_eq!(parsed.spec().layers(), s.layers());
    }
}

#[test]
fn conv_spec_text_round_trips_and_refuses_bad_geometry() {
    let layers = [
        Layer::conv2d(2, 3, (5, 7), (3, 2), 2, 1),
        Layer::relu(),
        Layer::avg_pool2d(3, (3, 4), 2, 1),
        Layer::Pool {
            window: microprop::hal::op::Window {
                channels: 3,
                height: 2,
                width: 3,
                kh: 1,
                kw: 3,
                stride: 1,
                pad_h: 0,
                pad_w: 0,
            },
            kind: microprop::PoolKind::Max,
        },
        Layer::flatten(),
        Layer::dense(6, 2),
    ];
    let text = spec_text::format(&layers);
    assert_eq!(
        text,
        "conv2d(2,3,5,7,3,2,2,1) relu avg_pool2d(3,3,4,2,2,1) max_pool2d(3,2,3,1,3,1) flatten dense(6,2)"
    );
    assert_eq!(spec_text::parse(&text).unwrap(), layers);
    // Separate height and width padding: nine numbers.
    let l = spec_text::parse("conv2d(1,1,4,4,3,3,1,0,1)").unwrap();
    assert_eq!(spec_text::format(&l), "conv2d(1,1,4,4,3,3,1,0,1)");
    assert_eq!(
        spec_text::parse("global_avg_pool1d(8,50) avg_pool1d(2,9,3,1)").unwrap(),
        [
            Layer::global_avg_pool1d(8, 50),
            Layer::avg_pool1d(2, 9, 3, 1)
        ]
    );
    // A kernel larger than its padded input, named by layer.
    assert_eq!(
        spec_text::parse_spec("conv1d(1,2,4,7,1,1)").unwrap_err(),
        spec_text::SpecTextError::Spec(microprop::SpecError::Geometry {
            layer: 0,
            problem: "the window is larger than the padded image"
        })
    );
    assert_eq!(
        spec_text::parse_spec("dense(8,8) max_pool1d(2,4,2,0)").unwrap_err(),
        spec_text::SpecTextError::Spec(microprop::SpecError::Geometry {
            layer: 1,
            problem: "the stride is 0"
        })
    );
}

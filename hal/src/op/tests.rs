//! Validation of the op vocabulary.
use super::*;
use crate::Span;

fn gemm(c: Span) -> Op<f32> {
    Op::Gemm(Gemm {
        m: 2,
        n: 3,
        k: 4,
        a: Span::new(0, 8),
        trans_a: false,
        b: Span::new(8, 12),
        trans_b: false,
        c,
        alpha: 1.0,
        beta: 0.0,
    })
}

#[test]
fn gemm_shapes_are_checked() {
    let op = gemm(Span::new(20, 6));
    assert_eq!(op.validate(26), Ok(()));
    assert!(matches!(op.validate(25), Err(OpError::OutOfBounds { .. })));
    assert!(matches!(
        gemm(Span::new(20, 5)).validate(100),
        Err(OpError::Shape {
            operand: "c",
            expected: 6,
            got: 5,
            ..
        })
    ));
    assert!(matches!(
        gemm(Span::new(4, 6)).validate(100),
        Err(OpError::Overlap { .. })
    ));
}

#[test]
fn huge_spans_do_not_wrap() {
    let op = Op::<f64>::Fill(Fill {
        dst: Span::new(usize::MAX - 1, 10),
        value: 0.0,
    });
    assert!(matches!(op.validate(100), Err(OpError::OutOfBounds { .. })));
}

#[test]
fn in_place_activation_is_allowed_partial_overlap_is_not() {
    let same = Op::<f32>::Activate(Activate {
        act: Activation::Relu,
        x: Span::new(0, 4),
        y: Span::new(0, 4),
    });
    assert_eq!(same.validate(8), Ok(()));
    let partial = Op::<f32>::Activate(Activate {
        act: Activation::Relu,
        x: Span::new(0, 4),
        y: Span::new(2, 4),
    });
    assert_eq!(
        partial.validate(8),
        Err(OpError::Overlap { op: "activate" })
    );
}

#[test]
fn bias_activate_checks_shapes_and_overlaps() {
    let op = |bias: Span, x: Span, y: Span| {
        Op::<f32>::BiasActivate(BiasActivate {
            act: Activation::Relu,
            bias,
            x,
            y,
            rows: 2,
            cols: 3,
        })
    };
    let (b, x) = (Span::new(0, 3), Span::new(3, 6));
    assert_eq!(op(b, x, Span::new(9, 6)).validate(15), Ok(()));
    assert_eq!(op(b, x, x).validate(15), Ok(()));
    assert!(matches!(
        op(b, x, Span::new(9, 6)).validate(14),
        Err(OpError::OutOfBounds { .. })
    ));
    assert!(matches!(
        op(Span::new(0, 2), x, x).validate(15),
        Err(OpError::Shape {
            operand: "bias",
            ..
        })
    ));
    assert!(matches!(
        op(b, x, Span::new(9, 5)).validate(15),
        Err(OpError::Shape { operand: "y", .. })
    ));
    assert_eq!(
        op(b, x, Span::new(5, 6)).validate(15),
        Err(OpError::Overlap {
            op: "bias_activate"
        })
    );
    assert_eq!(
        op(Span::new(4, 3), Span::new(0, 6), Span::new(7, 6)).validate(15),
        Err(OpError::Overlap {
            op: "bias_activate"
        })
    );
    assert_eq!(
        op(Span::new(7, 3), Span::new(0, 6), Span::new(8, 6)).validate(15),
        Err(OpError::Overlap {
            op: "bias_activate"
        })
    );
}

#[test]
fn span_helpers_clamp() {
    let s = Span::new(10, 5);
    assert_eq!(s.prefix(3), Span::new(10, 3));
    assert_eq!(s.prefix(9), s);
    assert_eq!(s.slice(2, 2), Span::new(12, 2));
    assert_eq!(s.slice(4, 9), Span::new(14, 1));
    assert!(s.overlaps(&Span::new(14, 1)));
    assert!(!s.overlaps(&Span::new(15, 1)));
}

/// One valid instance of each composite op over a 64-element arena.
fn composites() -> Vec<Op<f32>> {
    let s = Span::new;
    let mut ops = vec![Op::BiasActivate(BiasActivate {
        act: Activation::Tanh,
        bias: s(0, 3),
        x: s(3, 6),
        y: s(9, 6),
        rows: 2,
        cols: 3,
    })];
    for kind in [
        LossKind::Mse,
        LossKind::SoftmaxCrossEntropy,
        LossKind::Hinge { margin: 1.0 },
    ] {
        for grad in [None, Some(s(20, 6))] {
            ops.push(Op::Loss(Loss {
                kind,
                pred: s(0, 6),
                target: if kind.uses_labels() { s(6, 2) } else { s(6, 6) },
                rows: 2,
                cols: 3,
                out: s(12, 1),
                grad,
                scratch: s(30, Loss::scratch_len(&kind, 3)),
            }));
        }
    }
    for average in [None, Some(s(50, 3))] {
        ops.push(Op::PerceptronEpoch(PerceptronEpoch {
            weights: s(0, 3),
            samples: s(3, 6),
            labels: s(9, 2),
            rows: 2,
            cols: 3,
            average,
            stats: s(11, 1),
            scratch: s(40, PERCEPTRON_SCRATCH),
        }));
    }
    ops.push(Op::PerceptronErrors(PerceptronErrors {
        weights: s(0, 3),
        samples: s(3, 6),
        labels: s(9, 2),
        rows: 2,
        cols: 3,
        out: s(11, 1),
        scratch: s(40, PERCEPTRON_SCRATCH),
    }));
    for (grad, out) in [
        (Some(s(20, 5)), Some(s(30, 1))),
        (None, Some(s(30, 1))),
        (Some(s(20, 5)), None),
    ] {
        ops.push(Op::Anchor(Anchor {
            anchor: s(0, 5),
            w: s(10, 5),
            grad,
            out,
            scale: 0.5,
            alpha: -1.0,
        }));
    }
    ops
}

#[test]
fn anchor_checks_lengths_and_overlaps() {
    let s = Span::new;
    let op = |anchor, w, grad, out| {
        Op::<f32>::Anchor(Anchor {
            anchor,
            w,
            grad,
            out,
            scale: 1.0,
            alpha: -2.0,
        })
        .validate(64)
    };
    assert_eq!(
        op(s(0, 5), s(10, 5), Some(s(20, 5)), Some(s(30, 1))),
        Ok(())
    );
    let shape = |operand, expected, got| {
        Err(OpError::Shape {
            op: "anchor",
            operand,
            expected,
            got,
        })
    };
    assert_eq!(op(s(0, 5), s(10, 4), None, None), shape("w", 5, 4));
    assert_eq!(
        op(s(0, 5), s(10, 5), Some(s(20, 6)), None),
        shape("grad", 5, 6)
    );
    assert_eq!(
        op(s(0, 5), s(10, 5), None, Some(s(30, 2))),
        shape("out", 1, 2)
    );
    let overlap = Err(OpError::Overlap { op: "anchor" });
    // The difference is written over w₀, never over w.
    assert_eq!(op(s(0, 5), s(3, 5), None, None), overlap);
    assert_eq!(op(s(0, 5), s(10, 5), Some(s(4, 5)), None), overlap);
    assert_eq!(
        op(s(0, 5), s(10, 5), Some(s(20, 5)), Some(s(24, 1))),
        overlap
    );
    assert_eq!(op(s(0, 5), s(10, 5), None, Some(s(12, 1))), overlap);
    assert!(matches!(
        op(s(0, 5), s(60, 5), None, None),
        Err(OpError::OutOfBounds { .. })
    ));
}

#[test]
fn composites_decompose_into_valid_primitives_only() {
    for op in composites() {
        assert_eq!(op.tier(), Tier::Composite, "{}", op.name());
        assert_eq!(op.validate_decomposition(64), Ok(()), "{}", op.name());
        let mut n = 0;
        op.decompose(&mut |p: &Op<f32>| {
            n += 1;
            assert!(p.is_primitive(), "{} emitted {}", op.name(), p.name());
            p.validate(64).map_err(|e| (p.name(), e))
        })
        .unwrap_or_else(|e| panic!("{}: {e:?}", op.name()));
        assert!(n >= 2, "{} emitted {n} ops", op.name());
    }
}

#[test]
fn a_primitive_decomposes_into_itself() {
    let op = gemm(Span::new(20, 6));
    let mut seen = Vec::new();
    op.decompose(&mut |p: &Op<f32>| {
        seen.push(*p);
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(seen, [op]);
}

#[test]
fn scratch_too_small_or_overlapping_is_rejected() {
    let loss = |scratch| {
        Op::<f32>::Loss(Loss {
            kind: LossKind::SoftmaxCrossEntropy,
            pred: Span::new(0, 6),
            target: Span::new(6, 2),
            rows: 2,
            cols: 3,
            out: Span::new(8, 1),
            grad: None,
            scratch,
        })
    };
    assert_eq!(loss(Span::new(9, 10)).validate_decomposition(64), Ok(()));
    // A backend with its own loss kernel never touches the scratch.
    assert_eq!(loss(Span::new(9, 9)).validate(64), Ok(()));
    assert_eq!(
        loss(Span::new(9, 9)).validate_decomposition(64),
        Err(OpError::Shape {
            op: "loss",
            operand: "scratch",
            expected: 10,
            got: 9
        })
    );
    assert_eq!(
        loss(Span::new(5, 10)).validate_decomposition(64),
        Err(OpError::Overlap { op: "loss" })
    );
}

#[test]
fn map_converts_every_element_parameter() {
    let op = Op::AdamStep(AdamStep {
        param: Span::new(0, 1),
        grad: Span::new(1, 1),
        m: Span::new(2, 1),
        v: Span::new(3, 1),
        lr: 0.001f64,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        bias1: 0.1,
        bias2: 0.001,
    });
    let Op::AdamStep(a) = op.map(|v| v as f32) else {
        panic!("variant changed");
    };
    assert_eq!(
        [a.lr, a.beta1, a.beta2, a.eps, a.bias1, a.bias2],
        [0.001f32, 0.9, 0.999, 1e-8, 0.1, 0.001]
    );
    let act = Op::Activate(Activate {
        act: Activation::LeakyRelu { slope: 0.01f64 },
        x: Span::new(0, 1),
        y: Span::new(0, 1),
    });
    assert_eq!(
        act.map(|v| v * 2.0),
        Op::Activate(Activate {
            act: Activation::LeakyRelu { slope: 0.02 },
            x: Span::new(0, 1),
            y: Span::new(0, 1),
        })
    );
}

#[test]
fn zero_rows_make_an_op_empty_even_when_the_other_dimensions_overflow() {
    // Found by fuzzing (fuzz/seeds/ops/regression-maxout-overflow): with
    // rows = 0 every span is empty but units · k overflows; validate
    // accepted it (an empty op) while the CPU kernels' checked
    // multiplication refused it. Both now compute the lengths alike; the
    // kernels' side is checked in microprop-cpu's tests.
    let op: Op<f32> = Op::MaxoutBackward(MaxoutBackward {
        x: Span::new(0, 0),
        dy: Span::new(1, 0),
        dx: Span::new(1, 0),
        rows: 0,
        units: 2,
        k: usize::MAX - 2,
    });
    assert!(op.validate(5).is_ok());
    // One row: the overflowed length matches no span.
    let one: Op<f32> = Op::MaxoutBackward(MaxoutBackward {
        x: Span::new(0, 0),
        dy: Span::new(1, 2),
        dx: Span::new(3, 0),
        rows: 1,
        units: 2,
        k: usize::MAX - 2,
    });
    assert!(matches!(
        one.validate(5),
        Err(OpError::Shape {
            operand: "x",
            expected: usize::MAX,
            ..
        })
    ));
}

#[test]
fn a_loss_over_zero_columns_is_refused() {
    // Found by fuzzing: an MSE loss with cols = 0 has only empty spans, so
    // nothing bounded `rows`, and its reference decomposition issued
    // 5 · rows empty ops (2^40 rows: hours).
    let op: Op<f32> = Op::Loss(Loss {
        kind: LossKind::Mse,
        pred: Span::new(0, 0),
        target: Span::new(0, 0),
        rows: 1 << 40,
        cols: 0,
        out: Span::new(0, 1),
        grad: Some(Span::new(1, 0)),
        scratch: Span::new(1, 0),
    });
    assert!(matches!(
        op.validate(4),
        Err(OpError::Shape {
            operand: "cols",
            expected: 1,
            got: 0,
            ..
        })
    ));
}

#[test]
fn window_sizes_follow_pytorch_and_bad_geometry_is_named() {
    let w = |height, width, kh, kw, stride, pad_h, pad_w| Window {
        channels: 2,
        height,
        width,
        kh,
        kw,
        stride,
        pad_h,
        pad_w,
    };
    // 1-D: (100 + 2·2 − 5) / 1 + 1 = 100; (9 − 2) / 2 + 1 = 4 (floor).
    let a = w(1, 100, 1, 5, 1, 0, 2);
    assert_eq!((a.out_h(), a.out_w(), a.positions()), (1, 100, 100));
    assert_eq!(
        (a.window_len(), a.image_len(), a.cols_len()),
        (5, 200, 1000)
    );
    assert_eq!(w(1, 9, 1, 2, 2, 0, 0).out_w(), 4);
    // 2-D 8×8, 3×3, stride 2, pad 1: (8 + 2 − 3) / 2 + 1 = 4 per side.
    assert_eq!(w(8, 8, 3, 3, 2, 1, 1).positions(), 16);
    assert_eq!(a.problem(), None);
    assert_eq!(
        w(1, 4, 1, 7, 1, 0, 1).problem(),
        Some("the window is larger than the padded image")
    );
    assert_eq!(w(1, 4, 1, 2, 0, 0, 0).problem(), Some("the stride is 0"));
    assert_eq!(
        w(0, 4, 1, 2, 1, 0, 0).problem(),
        Some("an image dimension is 0")
    );
    assert_eq!(
        w(1, 4, 1, 0, 1, 0, 0).problem(),
        Some("a window dimension is 0")
    );
    // As an op, bad geometry is a shape error naming the window.
    let op = Op::<f32>::Im2col(Im2col {
        x: Span::new(0, 8),
        cols: Span::new(8, 0),
        rows: 1,
        window: w(1, 4, 1, 2, 0, 0, 0),
        layout: ColLayout::Conv,
    });
    assert_eq!(
        op.validate(64),
        Err(OpError::Shape {
            op: "im2col",
            operand: "window",
            expected: 1,
            got: 0
        })
    );
}

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

//! The [`Backend`] contract itself: malformed ops and host copies are typed
//! errors that write nothing, every op is checked against the arena, ops and
//! host copies take effect in the order they were issued, and an empty arena
//! works.

use crate::Harness;
use microprop::hal::{op, Activation, Error as _, ErrorKind, LossKind, Op, Span};
use microprop::{Backend, Element};

fn s(offset: usize, len: usize) -> Span {
    Span::new(offset, len)
}

/// The arena of `b` as f64.
fn snapshot<B: Backend>(b: &mut B) -> Vec<f64> {
    let mut out = vec![B::Elem::ZERO; b.arena_len()];
    b.download(0, &mut out).expect("download");
    out.into_iter().map(|v| v.to_f64()).collect()
}

/// The position of `op`'s variant in [`Op`]. The match has no wildcard, so
/// a new op does not compile here until it has a row in [`all_ops`].
fn variant(op: &Op<f64>) -> usize {
    match op {
        Op::Fill(_) => 0,
        Op::Copy(_) => 1,
        Op::Axpy(_) => 2,
        Op::SumSquares(_) => 3,
        Op::Gemm(_) => 4,
        Op::BiasAdd(_) => 5,
        Op::BiasGrad(_) => 6,
        Op::Activate(_) => 7,
        Op::BiasActivate(_) => 8,
        Op::ActivateBackward(_) => 9,
        Op::Softmax(_) => 10,
        Op::SoftmaxBackward(_) => 11,
        Op::LogSoftmax(_) => 12,
        Op::Maxout(_) => 13,
        Op::MaxoutBackward(_) => 14,
        Op::OneHot(_) => 15,
        Op::Loss(_) => 16,
        Op::CountCorrect(_) => 17,
        Op::SgdStep(_) => 18,
        Op::MomentumStep(_) => 19,
        Op::AdamStep(_) => 20,
        Op::PerceptronEpoch(_) => 21,
        Op::PerceptronErrors(_) => 22,
        Op::Anchor(_) => 23,
        Op::Im2col(_) => 24,
        Op::Col2im(_) => 25,
    }
}

/// Variants of [`Op`] (see [`variant`]).
const VARIANTS: usize = 26;

/// One valid instance of every op (and of every in-place form); each reaches
/// element 33 of the arena and no further.
fn all_ops() -> Vec<Op<f64>> {
    vec![
        Op::Fill(op::Fill {
            dst: s(30, 4),
            value: 1.0,
        }),
        Op::Copy(op::Copy {
            src: s(0, 4),
            dst: s(30, 4),
        }),
        Op::Copy(op::Copy {
            src: s(30, 4),
            dst: s(30, 4),
        }),
        Op::Axpy(op::Axpy {
            x: s(0, 4),
            y: s(30, 4),
            alpha: 2.0,
        }),
        Op::SumSquares(op::SumSquares {
            x: s(0, 4),
            out: s(33, 1),
            scale: 1.0,
            accumulate: true,
        }),
        Op::Gemm(op::Gemm {
            m: 2,
            n: 3,
            k: 4,
            a: s(0, 8),
            trans_a: false,
            b: s(8, 12),
            trans_b: true,
            c: s(28, 6),
            alpha: 1.0,
            beta: 0.5,
        }),
        Op::BiasAdd(op::BiasAdd {
            bias: s(0, 3),
            out: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::BiasGrad(op::BiasGrad {
            dout: s(0, 6),
            dbias: s(31, 3),
            rows: 2,
            cols: 3,
        }),
        Op::Activate(op::Activate {
            act: Activation::Tanh,
            x: s(0, 6),
            y: s(28, 6),
        }),
        Op::Activate(op::Activate {
            act: Activation::Softplus,
            x: s(28, 6),
            y: s(28, 6),
        }),
        Op::BiasActivate(op::BiasActivate {
            act: Activation::Relu,
            bias: s(0, 3),
            x: s(3, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::BiasActivate(op::BiasActivate {
            act: Activation::Sigmoid,
            bias: s(0, 3),
            x: s(28, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::ActivateBackward(op::ActivateBackward {
            act: Activation::Sigmoid,
            x: s(0, 6),
            y: s(6, 6),
            dy: s(12, 6),
            dx: s(28, 6),
        }),
        Op::ActivateBackward(op::ActivateBackward {
            act: Activation::Elu { alpha: 1.0 },
            x: s(0, 6),
            y: s(6, 6),
            dy: s(28, 6),
            dx: s(28, 6),
        }),
        Op::Softmax(op::Softmax {
            x: s(0, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::Softmax(op::Softmax {
            x: s(28, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 6),
            dy: s(6, 6),
            dx: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 6),
            dy: s(28, 6),
            dx: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::LogSoftmax(op::LogSoftmax {
            x: s(0, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::LogSoftmax(op::LogSoftmax {
            x: s(28, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::Maxout(op::Maxout {
            x: s(0, 6),
            y: s(31, 3),
            rows: 1,
            units: 3,
            k: 2,
        }),
        Op::MaxoutBackward(op::MaxoutBackward {
            x: s(0, 6),
            dy: s(6, 3),
            dx: s(28, 6),
            rows: 1,
            units: 3,
            k: 2,
        }),
        Op::OneHot(op::OneHot {
            labels: s(0, 2),
            y: s(28, 6),
            rows: 2,
            cols: 3,
            value: 1.0,
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Mse,
            pred: s(0, 6),
            target: s(6, 6),
            rows: 2,
            cols: 3,
            out: s(33, 1),
            grad: Some(s(27, 6)),
            scratch: s(12, 3),
        }),
        Op::Loss(op::Loss {
            kind: LossKind::SoftmaxCrossEntropy,
            pred: s(0, 6),
            target: s(20, 2),
            rows: 2,
            cols: 3,
            out: s(33, 1),
            grad: Some(s(27, 6)),
            scratch: s(6, 10),
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Hinge { margin: 1.0 },
            pred: s(0, 6),
            target: s(20, 2),
            rows: 2,
            cols: 3,
            out: s(33, 1),
            grad: None,
            scratch: s(6, 14),
        }),
        Op::CountCorrect(op::CountCorrect {
            pred: s(0, 6),
            target: s(6, 2),
            rows: 2,
            cols: 3,
            out: s(33, 1),
        }),
        Op::SgdStep(op::SgdStep {
            param: s(30, 4),
            grad: s(0, 4),
            lr: 0.1,
        }),
        Op::MomentumStep(op::MomentumStep {
            param: s(26, 4),
            grad: s(0, 4),
            velocity: s(30, 4),
            lr: 0.1,
            momentum: 0.9,
        }),
        Op::AdamStep(op::AdamStep {
            param: s(22, 4),
            grad: s(0, 4),
            m: s(26, 4),
            v: s(30, 4),
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            bias1: 0.1,
            bias2: 0.001,
        }),
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights: s(24, 3),
            samples: s(0, 6),
            labels: s(6, 2),
            rows: 2,
            cols: 3,
            average: Some(s(28, 3)),
            stats: s(33, 1),
            scratch: s(8, 6),
        }),
        Op::PerceptronErrors(op::PerceptronErrors {
            weights: s(0, 3),
            samples: s(3, 6),
            labels: s(9, 2),
            out: s(33, 1),
            rows: 2,
            cols: 3,
            scratch: s(11, 6),
        }),
        Op::Anchor(op::Anchor {
            anchor: s(24, 4),
            w: s(0, 4),
            grad: Some(s(28, 4)),
            out: Some(s(33, 1)),
            scale: 0.5,
            alpha: -1.0,
        }),
        Op::Anchor(op::Anchor {
            anchor: s(30, 4),
            w: s(0, 4),
            grad: None,
            out: None,
            scale: 0.5,
            alpha: -1.0,
        }),
        // 1-D length 4, k 2, stride 1, pad 1: 5 windows of 2.
        Op::Im2col(op::Im2col {
            x: s(0, 4),
            cols: s(24, 10),
            rows: 1,
            window: WINDOW,
            layout: op::ColLayout::Conv,
        }),
        Op::Col2im(op::Col2im {
            cols: s(0, 10),
            x: s(30, 4),
            rows: 1,
            window: WINDOW,
            layout: op::ColLayout::Pool,
        }),
    ]
}

/// The sliding window of [`all_ops`]' im2col and col2im.
const WINDOW: op::Window = op::Window {
    channels: 1,
    height: 1,
    width: 4,
    kh: 1,
    kw: 2,
    stride: 1,
    pad_h: 0,
    pad_w: 1,
};

/// On every arena shorter than 34 elements, every op is an
/// [`ErrorKind::OutOfBounds`] error that leaves the arena as it was; from 34
/// elements on, every op runs.
pub fn every_op_rejects_spans_past_the_arena<H: Harness>() {
    let ops = all_ops();
    let mut covered = [false; VARIANTS];
    for op in &ops {
        covered[variant(op)] = true;
    }
    assert!(covered.iter().all(|&c| c), "an op variant is missing");
    for len in 0..=40 {
        let init: Vec<f64> = (0..len).map(|i| 0.25 * i as f64 - 3.0).collect();
        let Some(mut b) = H::backend(len) else {
            return;
        };
        let vals: Vec<H::E> = init.iter().map(|&v| H::E::from_f64(v)).collect();
        b.upload(0, &vals).expect("upload");
        for op in &ops {
            let r = b.execute(&op.map(H::E::from_f64));
            if len < 34 {
                let e = r.expect_err("a span past the arena");
                assert_eq!(
                    e.kind(),
                    ErrorKind::OutOfBounds,
                    "{}: {op:?} on {len}: {e:?}",
                    H::NAME
                );
                assert_eq!(snapshot(&mut b), init, "{}: {} wrote", H::NAME, op.name());
            } else {
                r.unwrap_or_else(|e| panic!("{}: {op:?} on {len}: {e:?}", H::NAME));
            }
        }
        b.submit().expect("submit");
    }
}

/// Partial overlaps and lengths that do not match the dimensions are
/// [`ErrorKind::Shape`] errors that write nothing.
pub fn partial_overlaps_and_wrong_shapes_are_shape_errors<H: Harness>() {
    let Some(mut b) = H::backend(16) else { return };
    let bad = [
        Op::Activate(op::Activate {
            act: Activation::Relu,
            x: s(0, 4),
            y: s(2, 4),
        }),
        Op::Gemm(op::Gemm {
            m: 2,
            n: 2,
            k: 2,
            a: s(0, 4),
            trans_a: false,
            b: s(4, 4),
            trans_b: false,
            c: s(4, 4),
            alpha: 1.0,
            beta: 0.0,
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Mse,
            pred: s(0, 4),
            target: s(4, 4),
            rows: 2,
            cols: 2,
            out: s(8, 1),
            grad: Some(s(8, 4)),
            scratch: s(12, 2),
        }),
        Op::BiasAdd(op::BiasAdd {
            bias: s(0, 2),
            out: s(4, 6),
            rows: 2,
            cols: 3,
        }),
        // The gradient overlaps the loss scalar (a composite the Vulkan
        // backend runs as its decomposition: nothing of it may run).
        Op::Anchor(op::Anchor {
            anchor: s(0, 4),
            w: s(4, 4),
            grad: Some(s(8, 4)),
            out: Some(s(11, 1)),
            scale: 1.0,
            alpha: -2.0,
        }),
    ];
    for op in &bad {
        let e = b
            .execute(&op.map(H::E::from_f64))
            .expect_err("a malformed op");
        assert_eq!(e.kind(), ErrorKind::Shape, "{}: {op:?}: {e:?}", H::NAME);
    }
    b.submit().expect("submit");
    assert_eq!(snapshot(&mut b), [0.0; 16], "{}", H::NAME);
}

/// Host copies inside the arena work, up to its last element; past it (by
/// one, or by an offset near `usize::MAX`) they are
/// [`ErrorKind::OutOfBounds`] errors that copy nothing.
pub fn upload_download_bounds<H: Harness>() {
    let Some(mut b) = H::backend(4) else { return };
    let e = |v: &[f64]| -> Vec<H::E> { v.iter().map(|&x| H::E::from_f64(x)).collect() };
    assert_eq!(b.arena_len(), 4);
    b.upload(1, &e(&[1.0, 2.0, 3.0])).expect("fits");
    let mut out = e(&[9.0, 9.0]);
    b.download(2, &mut out).expect("fits");
    assert_eq!(out, e(&[2.0, 3.0]));
    let kind = |r: Result<(), <H::B as Backend>::Error>| r.expect_err("past the arena").kind();
    assert_eq!(kind(b.upload(2, &e(&[5.0; 3]))), ErrorKind::OutOfBounds);
    assert_eq!(
        kind(b.upload(usize::MAX, &e(&[5.0]))),
        ErrorKind::OutOfBounds
    );
    assert_eq!(kind(b.download(3, &mut out)), ErrorKind::OutOfBounds);
    assert_eq!(
        kind(b.download(usize::MAX, &mut out)),
        ErrorKind::OutOfBounds
    );
    assert_eq!(out, e(&[2.0, 3.0]), "a rejected download wrote");
    b.upload(4, &[]).expect("an empty copy at the end");
    b.download(4, &mut []).expect("an empty copy at the end");
    assert_eq!(snapshot(&mut b), [0.0, 1.0, 2.0, 3.0]);
}

/// Ops and host copies take effect in the order they were issued, even
/// where a backend records ops and runs them later.
pub fn uploads_and_ops_apply_in_issue_order<H: Harness>() {
    let Some(mut b) = H::backend(8) else { return };
    let e = |v: &[f64]| -> Vec<H::E> { v.iter().map(|&x| H::E::from_f64(x)).collect() };
    let copy = |dst| {
        Op::Copy(op::Copy {
            src: s(0, 2),
            dst: s(dst, 2),
        })
        .map(H::E::from_f64)
    };
    b.upload(0, &e(&[1.0, 2.0])).expect("upload");
    b.execute(&copy(2)).expect("copy");
    // Issued after the first copy: that copy must not see it.
    b.upload(0, &e(&[5.0, 6.0])).expect("upload");
    b.execute(&copy(4)).expect("copy");
    let mut got = e(&[0.0; 6]);
    b.download(0, &mut got).expect("download");
    assert_eq!(got, e(&[5.0, 6.0, 1.0, 2.0, 5.0, 6.0]), "{}", H::NAME);
}

pub fn empty_arena_and_empty_ops_work<H: Harness>() {
    let Some(mut b) = H::backend(0) else { return };
    assert_eq!(b.arena_len(), 0);
    b.upload(0, &[]).expect("upload");
    b.execute(
        &Op::Fill(op::Fill {
            dst: s(0, 0),
            value: 1.0,
        })
        .map(H::E::from_f64),
    )
    .expect("an empty fill");
    b.submit().expect("submit");
    b.download(0, &mut []).expect("download");
    let e = b
        .execute(
            &Op::Fill(op::Fill {
                dst: s(0, 1),
                value: 1.0,
            })
            .map(H::E::from_f64),
        )
        .expect_err("a fill past an empty arena");
    assert_eq!(e.kind(), ErrorKind::OutOfBounds);
}

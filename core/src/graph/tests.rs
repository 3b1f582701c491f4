//! Graph tests: the lecture's examples, the patterns of backward flow, and a
//! numerical gradient check of every gate.

use super::*;
use crate::gradcheck::{check, GradCheckConfig};

type R = Result<(), GraphError>;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn lecture_example_x_plus_y_times_z() -> R {
    let mut g = Graph::<8>::new();
    let x = g.input(-2.0)?;
    let y = g.input(5.0)?;
    let z = g.input(-4.0)?;
    let q = g.add(x, y)?;
    let f = g.mul(q, z)?;
    assert_eq!(g.value(q)?, 3.0);
    assert_eq!(g.value(f)?, -12.0);
    g.backward(f)?;
    assert_eq!(g.grad(f)?, 1.0);
    assert_eq!(g.grad(q)?, -4.0);
    assert_eq!(g.grad(x)?, -4.0);
    assert_eq!(g.grad(y)?, -4.0);
    assert_eq!(g.grad(z)?, 3.0);
    Ok(())
}

#[test]
fn add_distributes_max_routes_mul_swaps() -> R {
    // The lecture's circuit: 2 · (x·y + max(z, w)).
    let mut g = Graph::<16>::new();
    let x = g.input(3.0)?;
    let y = g.input(-4.0)?;
    let z = g.input(2.0)?;
    let w = g.input(-1.0)?;
    let xy = g.mul(x, y)?;
    let m = g.max(z, w)?;
    let s = g.add(xy, m)?;
    let f = g.mul_const(s, 2.0)?;
    assert_eq!(g.value(f)?, -20.0);
    g.backward(f)?;
    // add distributes the upstream 2 to both inputs unchanged
    assert_eq!(g.grad(s)?, 2.0);
    assert_eq!(g.grad(xy)?, 2.0);
    assert_eq!(g.grad(m)?, 2.0);
    // max routes to the larger input only
    assert_eq!(g.grad(z)?, 2.0);
    assert_eq!(g.grad(w)?, 0.0);
    // mul swaps: dx = y·g, dy = x·g
    assert_eq!(g.grad(x)?, -8.0);
    assert_eq!(g.grad(y)?, 6.0);

    // min routes to the smaller input only.
    let n = g.min(z, w)?;
    g.backward(n)?;
    assert_eq!((g.grad(z)?, g.grad(w)?), (0.0, 1.0));
    // Ties go to the first input.
    let t = g.max(z, z)?;
    g.backward(t)?;
    assert_eq!(g.grad(z)?, 1.0);
    Ok(())
}

#[test]
fn fan_out_accumulates() -> R {
    // f = x·x + 3x: the three uses of x add up, df/dx = 2x + 3.
    let mut g = Graph::<8>::new();
    let x = g.input(1.5)?;
    let xx = g.mul(x, x)?;
    let x3 = g.mul_const(x, 3.0)?;
    let f = g.add(xx, x3)?;
    g.backward(f)?;
    assert_eq!(g.grad(x)?, 6.0);
    // Backward twice does not double count: gradients are zeroed first.
    g.backward(f)?;
    assert_eq!(g.grad(x)?, 6.0);
    Ok(())
}

/// The neuron σ(w0·x0 + w1·x1 + w2), with σ either one gate or the expanded
/// circuit 1 / (1 + e^(−s)). Returns the graph, its leaves and the output.
fn neuron(expanded: bool) -> Result<(Graph<32>, [NodeId; 5], NodeId), GraphError> {
    let mut g = Graph::<32>::new();
    let w0 = g.input(2.0)?;
    let x0 = g.input(-1.0)?;
    let w1 = g.input(-3.0)?;
    let x1 = g.input(-2.0)?;
    let w2 = g.input(-3.0)?;
    let a = g.mul(w0, x0)?;
    let b = g.mul(w1, x1)?;
    let c = g.add(a, b)?;
    let s = g.add(c, w2)?;
    let f = if expanded {
        let n = g.neg(s)?;
        let e = g.exp(n)?;
        let d = g.add_const(e, 1.0)?;
        g.recip(d)?
    } else {
        g.sigmoid(s)?
    };
    Ok((g, [w0, x0, w1, x1, w2], f))
}

#[test]
fn sigmoid_gate_equals_expanded_circuit() -> R {
    let (mut g1, l1, f1) = neuron(false)?;
    let (mut g2, l2, f2) = neuron(true)?;
    assert!(close(g1.value(f1)?, g2.value(f2)?, 1e-15));
    assert!(close(g1.value(f1)?, 0.7310585786300049, 1e-15));
    g1.backward(f1)?;
    g2.backward(f2)?;
    for (a, b) in l1.iter().zip(&l2) {
        assert!(close(g1.grad(*a)?, g2.grad(*b)?, 1e-14));
    }
    // The lecture's numbers: dw = [-0.20, -0.39, 0.20], dx = [0.39, -0.59].
    let want = [
        -0.19661193,
        0.39322387,
        -0.39322387,
        -0.58983580,
        0.19661193,
    ];
    for (id, w) in l1.iter().zip(want) {
        assert!(close(g1.grad(*id)?, w, 1e-7), "{} vs {w}", g1.grad(*id)?);
    }
    Ok(())
}

fn assert_checks<const N: usize>(g: &mut Graph<N>, what: &str) {
    let report = check(g, &GradCheckConfig::F64).unwrap();
    assert!(report.checked > 0, "{what}: nothing checked");
    assert!(report.max_rel_error < 1e-6, "{what}: {report:?}");
}

#[test]
fn every_gate_passes_gradcheck() -> R {
    type Bin = fn(&mut Graph<8>, NodeId, NodeId) -> Result<NodeId, GraphError>;
    type Un = fn(&mut Graph<8>, NodeId) -> Result<NodeId, GraphError>;
    let binary: [(&str, Bin, f64, f64); 6] = [
        ("add", Graph::add, 0.7, -1.3),
        ("sub", Graph::sub, 0.7, -1.3),
        ("mul", Graph::mul, 0.7, -1.3),
        ("div", Graph::div, 0.7, -1.3),
        ("max", Graph::max, 0.7, -1.3),
        ("min", Graph::min, 0.7, -1.3),
    ];
    for (name, gate, a, b) in binary {
        for (a, b) in [(a, b), (b, a)] {
            let mut g = Graph::<8>::new();
            let x = g.input(a)?;
            let y = g.input(b)?;
            // A nonlinear tail so the upstream gradient is not just 1.
            let o = gate(&mut g, x, y)?;
            g.tanh(o)?;
            assert_checks(&mut g, name);
        }
    }
    let unary: [(&str, Un, f64); 14] = [
        ("exp", Graph::exp, 0.4),
        ("log", Graph::log, 1.7),
        ("recip", Graph::recip, -0.8),
        ("square", Graph::square, -1.2),
        ("powf", |g, x| g.powf(x, 2.5), 1.3),
        ("powf_neg", |g, x| g.powf(x, -1.5), 0.9),
        ("add_const", |g, x| g.add_const(x, 4.0), 0.3),
        ("mul_const", |g, x| g.mul_const(x, -2.5), 0.3),
        ("neg", Graph::neg, 0.3),
        ("sigmoid", Graph::sigmoid, -0.6),
        ("tanh", Graph::tanh, 0.8),
        ("relu_pos", Graph::relu, 0.8),
        ("relu_neg", Graph::relu, -0.8),
        ("sigmoid_far", Graph::sigmoid, -30.0),
    ];
    for (name, gate, a) in unary {
        let mut g = Graph::<8>::new();
        let x = g.input(a)?;
        let y = g.input(0.5)?;
        let o = gate(&mut g, x)?;
        // Fan-out of x into a second use, and a multiplicative tail.
        let p = g.mul(o, y)?;
        let q = g.mul(x, y)?;
        g.add(p, q)?;
        assert_checks(&mut g, name);
    }
    Ok(())
}

#[test]
fn whole_neuron_passes_gradcheck() -> R {
    for expanded in [false, true] {
        let (mut g, _, _) = neuron(expanded)?;
        let report = check(&mut g, &GradCheckConfig::F64)?;
        assert_eq!(report.checked, 5);
        assert!(report.max_rel_error < 1e-8, "{report:?}");
    }
    Ok(())
}

#[test]
fn building_past_capacity_is_an_error() -> R {
    let mut g = Graph::<3>::new();
    let x = g.input(1.0)?;
    let y = g.exp(x)?;
    let _ = g.add(x, y)?;
    assert_eq!(g.len(), 3);
    assert_eq!(g.mul(x, y), Err(GraphError::Full { capacity: 3 }));
    assert_eq!(g.input(2.0), Err(GraphError::Full { capacity: 3 }));
    assert_eq!(g.len(), 3);
    // A zero-capacity graph is fine too.
    let mut e = Graph::<0>::new();
    assert_eq!(e.input(1.0), Err(GraphError::Full { capacity: 0 }));
    assert_eq!(check(&mut e, &GradCheckConfig::F64)?.checked, 0);
    Ok(())
}

#[test]
fn domain_errors_not_panics() -> R {
    let mut g = Graph::<16>::new();
    let zero = g.input(0.0)?;
    let neg = g.input(-1.0)?;
    let one = g.input(1.0)?;
    assert_eq!(
        g.log(zero),
        Err(GraphError::NonFinite {
            index: 3,
            gate: "log"
        })
    );
    assert!(matches!(g.log(neg), Err(GraphError::NonFinite { .. })));
    assert!(matches!(
        g.div(one, zero),
        Err(GraphError::NonFinite { .. })
    ));
    assert!(matches!(g.recip(zero), Err(GraphError::NonFinite { .. })));
    assert!(matches!(
        g.powf(neg, 0.5),
        Err(GraphError::NonFinite { .. })
    ));
    assert!(matches!(
        g.powf(zero, -1.0),
        Err(GraphError::NonFinite { .. })
    ));
    let big = g.input(1000.0)?;
    assert!(matches!(g.exp(big), Err(GraphError::NonFinite { .. })));
    assert!(matches!(
        g.input(f64::NAN),
        Err(GraphError::NonFinite { .. })
    ));
    assert!(matches!(
        g.constant(f64::INFINITY),
        Err(GraphError::NonFinite { .. })
    ));
    assert_eq!(g.len(), 4, "failed builds add no node");

    // A domain error appearing in forward() after set().
    let l = g.log(one)?;
    g.set(one, -2.0)?;
    assert_eq!(
        g.forward(),
        Err(GraphError::NonFinite {
            index: l.index(),
            gate: "log"
        })
    );
    assert!(matches!(g.set(l, 1.0), Err(GraphError::NotALeaf { .. })));
    assert!(matches!(
        g.set(one, f64::NAN),
        Err(GraphError::NonFinite { .. })
    ));

    // Ids from elsewhere are rejected.
    let mut other = Graph::<64>::new();
    for _ in 0..20 {
        other.input(1.0)?;
    }
    let foreign = other.node(19).unwrap();
    assert_eq!(g.exp(foreign), Err(GraphError::NoSuchNode { index: 19 }));
    assert_eq!(
        g.backward(foreign),
        Err(GraphError::NoSuchNode { index: 19 })
    );
    assert!(g.value(foreign).is_err());
    Ok(())
}

#[test]
fn forward_after_set_and_constants() -> R {
    let mut g = Graph::<8>::new();
    let x = g.input(2.0)?;
    let c = g.constant(3.0)?;
    let p = g.powf(x, 3.0)?;
    let f = g.mul(p, c)?;
    assert_eq!(g.value(f)?, 24.0);
    g.backward(f)?;
    assert_eq!(g.grad(x)?, 36.0);
    g.set(x, 1.0)?;
    g.forward()?;
    g.backward(f)?;
    assert_eq!((g.value(f)?, g.grad(x)?), (3.0, 9.0));
    // Constants are not checked by gradcheck; inputs are.
    assert_eq!(g.input_count(), 1);
    assert_eq!(g.gate(p)?, Gate::Powf(x, 3.0));
    // Nodes after the output get no gradient.
    let after = g.exp(f)?;
    g.backward(f)?;
    assert_eq!(g.grad(after)?, 0.0);
    g.clear();
    assert!(g.is_empty());
    assert!(g.value(x).is_err());
    Ok(())
}

//! The lecture's neuron as a computational graph, stage by stage:
//! f(w, x) = σ(w0·x0 + w1·x1 + w2) at w = [2, −3, −3], x = [−1, −2].
//!
//! ```text
//! cargo run -p microprop --example graph
//! ```
//!
//! The graph is built twice: once with the sigmoid as one gate, once expanded
//! into the circuit 1 / (1 + e^(−s)) from negate, exp, add-constant and 1/x
//! gates. Both give the same value and the same gradients.

use microprop::gradcheck::{check, GradCheckConfig};
use microprop::{Gate, Graph, GraphError, NodeId};

/// Print every node: what it computes, its forward value, its gradient.
fn print_stages<const N: usize>(g: &Graph<N>, names: &[&str]) -> Result<(), GraphError> {
    println!(
        "{:>4}  {:<28} {:>10} {:>10}",
        "node", "gate", "value", "grad"
    );
    for i in 0..g.len() {
        let id = g.node(i).ok_or(GraphError::NoSuchNode { index: i })?;
        let gate = g.gate(id)?;
        let label = describe(gate, names, i);
        println!(
            "{:>4}  {:<28} {:>10.5} {:>10.5}",
            i,
            label,
            g.value(id)?,
            g.grad(id)?
        );
    }
    Ok(())
}

fn describe(gate: Gate, names: &[&str], i: usize) -> String {
    let n = |id: NodeId| format!("n{}", id.index());
    match gate {
        Gate::Input | Gate::Constant => names.get(i).unwrap_or(&"?").to_string(),
        Gate::Mul(a, b) => format!("{} · {}", n(a), n(b)),
        Gate::Add(a, b) => format!("{} + {}", n(a), n(b)),
        Gate::Neg(a) => format!("−{}", n(a)),
        Gate::Exp(a) => format!("exp({})", n(a)),
        Gate::AddConst(a, c) => format!("{} + {c}", n(a)),
        Gate::Recip(a) => format!("1 / {}", n(a)),
        Gate::Sigmoid(a) => format!("σ({})", n(a)),
        other => format!("{}(…)", other.name()),
    }
}

fn neuron(expanded: bool) -> Result<(Graph<16>, NodeId, [NodeId; 5]), GraphError> {
    let mut g = Graph::<16>::new();
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
    g.backward(f)?;
    Ok((g, f, [w0, w1, w2, x0, x1]))
}

fn main() -> Result<(), GraphError> {
    let names = ["w0", "x0", "w1", "x1", "w2"];
    for expanded in [false, true] {
        let (mut g, f, [w0, w1, w2, x0, x1]) = neuron(expanded)?;
        println!(
            "\nf(w, x) = σ(w0·x0 + w1·x1 + w2), sigmoid {}:",
            if expanded {
                "expanded into −, exp, +1, 1/x gates"
            } else {
                "as one gate"
            }
        );
        print_stages(&g, &names)?;
        println!("f  = {:.5}", g.value(f)?);
        println!(
            "dw = [{:.5}, {:.5}, {:.5}]",
            g.grad(w0)?,
            g.grad(w1)?,
            g.grad(w2)?
        );
        println!("dx = [{:.5}, {:.5}]", g.grad(x0)?, g.grad(x1)?);
        let report = check(&mut g, &GradCheckConfig::F64)?;
        println!(
            "gradient check over {} inputs: max relative error {:.2e}",
            report.checked, report.max_rel_error
        );
    }
    Ok(())
}

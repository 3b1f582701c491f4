//! candle (CPU, autograd through `Var`) through the shared loop.

use candle_core::{DType, Device, Tensor, Var, D};
use microprop_peers::{batch, report, steps_per_sec, LR, SHAPES};

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    for (label, [i, h, o], rows) in SHAPES {
        let (x, y) = batch(rows, i, o);
        let x = Tensor::from_vec(x, (rows, i), &dev)?;
        let y: Vec<u32> = y.iter().map(|&c| c as u32).collect();
        let y = Tensor::from_vec(y, rows, &dev)?;
        let init = |r: usize, c: usize, fan_in: usize| -> candle_core::Result<Var> {
            let bound = (6.0 / fan_in as f64).sqrt();
            Var::from_tensor(&Tensor::rand(-bound, bound, (r, c), &dev)?.to_dtype(DType::F32)?)
        };
        let w1 = init(h, i, i)?;
        let b1 = Var::zeros(h, DType::F32, &dev)?;
        let w2 = init(o, h, h)?;
        let b2 = Var::zeros(o, DType::F32, &dev)?;
        let params = [&w1, &b1, &w2, &b2];
        let step = || -> candle_core::Result<f32> {
            let z1 = x.matmul(&w1.t()?)?.broadcast_add(&b1)?.relu()?;
            let logits = z1.matmul(&w2.t()?)?.broadcast_add(&b2)?;
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let loss = candle_nn::loss::nll(&logp, &y)?;
            let grads = loss.backward()?;
            for p in params {
                if let Some(g) = grads.get(p) {
                    p.set(&(p.as_tensor() - (g * LR as f64)?)?)?;
                }
            }
            loss.to_scalar::<f32>()
        };
        let rate = steps_per_sec(|| step().expect("candle step"));
        report("candle", label, rate);
    }
    Ok(())
}

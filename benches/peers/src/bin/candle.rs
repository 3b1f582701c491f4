//! candle (CPU, autograd through `Var`) through the shared loop: the MLP
//! with matmuls by hand, the CNN with candle_nn's `Conv1d` and `Linear`.

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{Conv1dConfig, VarBuilder, VarMap};
use microprop_peers::{
    batch, report, steps_per_sec, CNN_CHANNELS, CNN_CLASSES, CNN_HIDDEN, CNN_KERNEL, CNN_PAD,
    CNN_SHAPES, CNN_STEPS, LR, SHAPES,
};

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
    for (label, rows) in CNN_SHAPES {
        let (x, y) = batch(rows, CNN_CHANNELS * CNN_STEPS, CNN_CLASSES);
        let x = Tensor::from_vec(x, (rows, CNN_CHANNELS, CNN_STEPS), &dev)?;
        let y: Vec<u32> = y.iter().map(|&c| c as u32).collect();
        let y = Tensor::from_vec(y, rows, &dev)?;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let cfg = Conv1dConfig {
            padding: CNN_PAD,
            ..Default::default()
        };
        let c1 = candle_nn::conv1d(CNN_CHANNELS, CNN_HIDDEN, CNN_KERNEL, cfg, vb.pp("c1"))?;
        let c2 = candle_nn::conv1d(CNN_HIDDEN, CNN_HIDDEN, CNN_KERNEL, cfg, vb.pp("c2"))?;
        let fc = candle_nn::linear(CNN_HIDDEN, CNN_CLASSES, vb.pp("fc"))?;
        let params = vars.all_vars();
        let step = || -> candle_core::Result<f32> {
            let a1 = c1.forward(&x)?.relu()?;
            // MaxPool1d(2, 2) as a 1 × 2 max pool over (batch, 8, 1, 100).
            let p1 = a1
                .unsqueeze(2)?
                .max_pool2d_with_stride((1, 2), (1, 2))?
                .squeeze(2)?;
            let a2 = c2.forward(&p1)?.relu()?;
            let logits = fc.forward(&a2.mean(D::Minus1)?)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let grads = loss.backward()?;
            for p in &params {
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

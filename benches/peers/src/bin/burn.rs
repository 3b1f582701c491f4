//! burn 0.22 (ndarray device with autodiff, nn::Linear, cross-entropy,
//! SGD optimizer) through the shared loop.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use microprop_peers::{batch, report, steps_per_sec, LR, SHAPES};

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    act: Relu,
}

fn main() {
    // burn 0.22 marks its ndarray backend deprecated (for burn-flex); the
    // comparison asks for ndarray, so it stays.
    #[allow(deprecated)]
    let device = Device::ndarray().autodiff();
    for (label, [i, h, o], rows) in SHAPES {
        let (x, y) = batch(rows, i, o);
        let x = Tensor::<2>::from_data(TensorData::new(x, [rows, i]), &device);
        let y: Vec<i64> = y.iter().map(|&c| c as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [rows]), &device);
        let mut model = Some(Mlp {
            l1: LinearConfig::new(i, h).init(&device),
            l2: LinearConfig::new(h, o).init(&device),
            act: Relu::new(),
        });
        let mut optim = SgdConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let rate = steps_per_sec(|| {
            let m = model.take().expect("model");
            let logits = m.l2.forward(m.act.forward(m.l1.forward(x.clone())));
            let loss = loss_fn.forward(logits, y.clone());
            let value: f32 = loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            model = Some(optim.step(LR as f64, m, grads));
            value
        });
        report("burn 0.22 (ndarray)", label, rate);
    }
}

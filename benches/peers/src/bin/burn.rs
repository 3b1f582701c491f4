//! burn 0.22 (ndarray device with autodiff, nn::Linear, nn::conv::Conv1d,
//! nn::pool::MaxPool1d, cross-entropy, SGD optimizer) through the shared loop.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d, Relu};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use microprop_peers::{
    batch, report, steps_per_sec, CNN_CHANNELS, CNN_CLASSES, CNN_HIDDEN, CNN_KERNEL, CNN_PAD,
    CNN_SHAPES, CNN_STEPS, LR, SHAPES,
};

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    act: Relu,
}

/// The BasicMotions 1-D CNN: conv1d(6→8, k 5, pad 2), ReLU, MaxPool1d(2,
/// 2), conv1d(8→8, k 5, pad 2), ReLU, global average pool, Linear(8→4).
#[derive(Module, Debug)]
struct Cnn {
    c1: Conv1d,
    pool: MaxPool1d,
    c2: Conv1d,
    fc: Linear,
    act: Relu,
}

impl Cnn {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv1dConfig::new(i, o, CNN_KERNEL)
                .with_padding(PaddingConfig1d::Explicit(CNN_PAD, CNN_PAD))
                .init(device)
        };
        Cnn {
            c1: conv(CNN_CHANNELS, CNN_HIDDEN),
            pool: MaxPool1dConfig::new(2).with_stride(2).init(),
            c2: conv(CNN_HIDDEN, CNN_HIDDEN),
            fc: LinearConfig::new(CNN_HIDDEN, CNN_CLASSES).init(device),
            act: Relu::new(),
        }
    }

    /// Logits, `[batch, classes]`, of a `[batch, channels, steps]` input.
    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let a1 = self.pool.forward(self.act.forward(self.c1.forward(x)));
        let a2 = self.act.forward(self.c2.forward(a1));
        self.fc.forward(a2.mean_dim(2).squeeze_dim::<2>(2))
    }
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
    for (label, rows) in CNN_SHAPES {
        let (x, y) = batch(rows, CNN_CHANNELS * CNN_STEPS, CNN_CLASSES);
        let x =
            Tensor::<3>::from_data(TensorData::new(x, [rows, CNN_CHANNELS, CNN_STEPS]), &device);
        let y: Vec<i64> = y.iter().map(|&c| c as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [rows]), &device);
        let mut model = Some(Cnn::new(&device));
        let mut optim = SgdConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let rate = steps_per_sec(|| {
            let m = model.take().expect("model");
            let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
            let value: f32 = loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            model = Some(optim.step(LR as f64, m, grads));
            value
        });
        report("burn 0.22 (ndarray)", label, rate);
    }
}

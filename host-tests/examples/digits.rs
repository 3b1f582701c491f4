//! Train the digits classifier (64-32-10, ReLU, softmax cross-entropy, Adam)
//! on the vendored UCI digits set, 80/20 split, and print loss and accuracy
//! per epoch and the final test accuracy.
//!
//! ```text
//! cargo run --release --example digits [-- --epochs N] [--backend cpu|vulkan]
//! ```
//!
//! `--backend vulkan` trains the same model on `microprop-vulkan` (the device
//! `MICROPROP_VULKAN_DEVICE` names, else the preferred one).

use host_tests::data;
use host_tests::suite::train::{DIGITS, DIGITS_CONFIG, DIGITS_EPOCHS, DIGITS_SPLIT_SEED};
use microprop::{Backend, Network, Rng, Targets};
use microprop_cpu::CpuBackend;

struct Args {
    epochs: usize,
    backend: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        epochs: DIGITS_EPOCHS,
        backend: "cpu".to_string(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--epochs" => {
                args.epochs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--epochs needs a positive integer")?;
            }
            "--backend" => {
                args.backend = it
                    .next()
                    .filter(|b| b == "cpu" || b == "vulkan")
                    .ok_or("--backend needs `cpu` or `vulkan`")?;
            }
            "--help" | "-h" => {
                println!("usage: digits [--epochs N] [--backend cpu|vulkan]\n\nTrains 64-32-10 ReLU + softmax CE with Adam on the UCI digits set\n(80/20 split) and prints loss and accuracy per epoch.");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn train<B: Backend<Elem = f32>>(backend: B, epochs: usize) -> Result<f64, String>
where
    B::Error: std::fmt::Debug,
{
    let all = data::digits::<f32>();
    let (train, test) = all.split(0.2, DIGITS_SPLIT_SEED);
    let mut net = Network::new(DIGITS, backend, DIGITS_CONFIG).map_err(|e| e.to_string())?;
    println!(
        "digits: {} train / {} test samples, model 64-32-10 ({} parameters), arena {} bytes (f32, batch {}, Adam)",
        train.len(),
        test.len(),
        DIGITS.param_count(),
        DIGITS_CONFIG.arena_len(&DIGITS) * 4,
        DIGITS_CONFIG.batch
    );
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = Rng::new(42);
    let start = std::time::Instant::now();
    for epoch in 1..=epochs {
        rng.shuffle(&mut order);
        for chunk in order.chunks(DIGITS_CONFIG.batch) {
            let b = train.subset(chunk);
            net.train_step(&b.x, Targets::Labels(&b.y))
                .map_err(|e| e.to_string())?;
        }
        let tr = net
            .evaluate(&train.x, Targets::Labels(&train.y))
            .map_err(|e| e.to_string())?;
        let te = net
            .evaluate(&test.x, Targets::Labels(&test.y))
            .map_err(|e| e.to_string())?;
        println!(
            "epoch {epoch:3}  train loss {:.4}  train acc {:.4}  test loss {:.4}  test acc {:.4}",
            tr.loss,
            tr.accuracy.unwrap_or(0.0),
            te.loss,
            te.accuracy.unwrap_or(0.0)
        );
    }
    let te = net
        .evaluate(&test.x, Targets::Labels(&test.y))
        .map_err(|e| e.to_string())?;
    let acc = te.accuracy.unwrap_or(0.0);
    println!(
        "test accuracy {acc:.4} on {} held-out samples ({:.2} s)",
        te.samples,
        start.elapsed().as_secs_f64()
    );
    Ok(acc)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let len = DIGITS_CONFIG.arena_len(&DIGITS);
    let result = if args.backend == "vulkan" {
        match microprop_vulkan::VulkanBackend::new(len) {
            Ok(mut vk) => {
                println!(
                    "vulkan device: {} ({:?})",
                    vk.device().name,
                    vk.device().kind
                );
                let r = train(&mut vk, args.epochs);
                println!(
                    "vulkan: {} queue submissions, {} command buffers recorded (the rest replayed)",
                    vk.submissions(),
                    vk.recordings()
                );
                r
            }
            Err(e) => Err(e.to_string()),
        }
    } else {
        let mut arena = vec![0.0f32; len];
        train(CpuBackend::new(&mut arena), args.epochs)
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

//! `microprop`: convert models between safetensors and the device blob, and
//! describe them. Run `microprop --help` or `microprop <command> --help`.

use clap::{Parser, Subcommand};
use microprop_cli::spec_text::ParsedSpec;
use microprop_cli::{spec_text, tensors, FileKind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// microprop's host tool: carry a model from the desktop (safetensors, as
/// PyTorch, JAX or microprop write it) to the device (a validated blob a
/// firmware embeds with include_bytes!).
///
/// Spec text names the layers, e.g. "dense(64,32) relu dense(32,10)"
/// (layers: dense(IN,OUT), maxout(IN,OUT,PIECES), identity, sigmoid, tanh,
/// relu, leaky_relu(SLOPE), elu(ALPHA), softplus, softmax).
#[derive(Parser)]
#[command(name = "microprop", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's layers, tensors, parameter count, blob size and the
    /// arena a Network needs for a batch and optimizer.
    Summary {
        /// A .safetensors file or a device blob (.mpb).
        file: PathBuf,
        /// Spec text; needed for a blob or a safetensors file without
        /// microprop metadata (e.g. from PyTorch), checked against the file.
        #[arg(long)]
        spec: Option<String>,
        /// Batch capacity the arena is sized for.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Optimizer the arena is sized for.
        #[arg(long, default_value = "adam", value_parser = ["sgd", "momentum", "adam"])]
        optimizer: String,
    },
    /// Convert a safetensors file to a device blob.
    ToBlob {
        /// Input .safetensors file.
        input: PathBuf,
        /// Output blob file.
        #[arg(short, long)]
        output: PathBuf,
        /// Spec text; needed when the file has no microprop metadata.
        #[arg(long)]
        spec: Option<String>,
    },
    /// Convert an f32 model (safetensors or device blob) to a 16-bit
    /// fixed-point device blob (half the size; what a `Q10` network on a
    /// core without an FPU loads exactly), and report the rounding error.
    Quantize {
        /// Input .safetensors file or f32 device blob.
        input: PathBuf,
        /// Output fixed-point blob file.
        #[arg(short, long)]
        output: PathBuf,
        /// Spec text; needed for a blob or a file without microprop metadata.
        #[arg(long)]
        spec: Option<String>,
        /// Fractional bits (1..=14): 10 is `Q10`, range ±32 in steps of 2^-10.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=14))]
        frac: u8,
    },
    /// Evaluate a model (safetensors or blob) on the vendored UCI digits set
    /// (pixels / 16, CPU backend): accuracy and mean softmax cross-entropy on
    /// all 1797 images and on the 359 the `finetune` firmware holds out
    /// (image i with i % 5 == 4).
    Eval {
        /// A .safetensors file or a device blob (.mpb); 64 inputs, 10 outputs.
        file: PathBuf,
        /// Spec text; needed for a blob or a file without microprop metadata.
        #[arg(long)]
        spec: Option<String>,
    },
    /// Convert a device blob to a safetensors file (PyTorch names).
    ToSafetensors {
        /// Input blob file.
        input: PathBuf,
        /// Output .safetensors file.
        #[arg(short, long)]
        output: PathBuf,
        /// Spec text: a blob stores only the spec's hash, which is checked.
        #[arg(long)]
        spec: String,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn parse_spec(text: &str) -> Result<ParsedSpec, String> {
    spec_text::parse_spec(text).map_err(|e| format!("--spec: {e}"))
}

/// The spec of a safetensors file: `--spec` if given (checked against the
/// metadata by `import`), else the metadata.
fn safetensors_spec(bytes: &[u8], spec: Option<&str>) -> Result<ParsedSpec, String> {
    match spec {
        Some(text) => parse_spec(text),
        None => tensors::spec_of(bytes).map_err(|e| e.to_string()),
    }
}

/// A model's spec and f32 parameters, from a device blob (f32 or fixed
/// point; `--spec` required) or a safetensors file.
fn load_model(bytes: &[u8], spec: Option<String>) -> Result<(ParsedSpec, Vec<f32>), String> {
    match FileKind::of(bytes) {
        FileKind::Blob => {
            let text = spec.ok_or("a blob stores only the spec's hash: pass --spec")?;
            let parsed = parse_spec(&text)?;
            let p = microprop_cli::from_blob(&parsed.spec(), bytes).map_err(|e| e.to_string())?;
            Ok((parsed, p))
        }
        FileKind::Safetensors => {
            let parsed = safetensors_spec(bytes, spec.as_deref())?;
            let p = tensors::import(&parsed.spec(), bytes).map_err(|e| e.to_string())?;
            Ok((parsed, p))
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Summary {
            file,
            spec,
            batch,
            optimizer,
        } => {
            let bytes = read(&file)?;
            let kind = microprop_cli::optimizer_kind(&optimizer)
                .ok_or_else(|| format!("unknown optimizer {optimizer}"))?;
            let parsed = match FileKind::of(&bytes) {
                FileKind::Blob => {
                    let header =
                        microprop::blob::parse_header(&bytes).map_err(|e| e.to_string())?;
                    let elements = match header.payload {
                        microprop::blob::Payload::F32 => "f32".to_string(),
                        microprop::blob::Payload::Fixed16 { frac } => {
                            format!("16-bit fixed point, {frac} fractional bits")
                        }
                    };
                    println!(
                        "{}: device blob, format version {}, spec hash {:#010x}, {} parameters ({elements}), CRC-32 {:#010x}, {} bytes",
                        file.display(),
                        header.version,
                        header.spec_hash,
                        header.count,
                        header.crc,
                        bytes.len()
                    );
                    let Some(text) = spec else {
                        println!(
                            "(a blob stores only the spec's hash: pass --spec to see its layers)"
                        );
                        return Ok(());
                    };
                    let parsed = parse_spec(&text)?;
                    microprop::blob::validate(&parsed.spec(), &bytes).map_err(|e| e.to_string())?;
                    println!("blob verified against the spec (hash, count, CRC, finite values)");
                    parsed
                }
                FileKind::Safetensors => {
                    let parsed = safetensors_spec(&bytes, spec.as_deref())?;
                    let params =
                        tensors::import(&parsed.spec(), &bytes).map_err(|e| e.to_string())?;
                    println!(
                        "{}: safetensors, {} bytes, {} f32 parameters verified",
                        file.display(),
                        bytes.len(),
                        params.len()
                    );
                    parsed
                }
            };
            print!("{}", microprop_cli::summary(&parsed.spec(), batch, kind));
            Ok(())
        }
        Command::ToBlob {
            input,
            output,
            spec,
        } => {
            let bytes = read(&input)?;
            if FileKind::of(&bytes) == FileKind::Blob {
                return Err(format!("{} is already a device blob", input.display()));
            }
            let parsed = safetensors_spec(&bytes, spec.as_deref())?;
            let spec = parsed.spec();
            let params = tensors::import(&spec, &bytes).map_err(|e| e.to_string())?;
            let blob = microprop_cli::to_blob(&spec, &params).map_err(|e| e.to_string())?;
            write(&output, &blob)?;
            println!(
                "wrote {} ({} bytes, {} parameters, spec hash {:#010x}: {})",
                output.display(),
                blob.len(),
                params.len(),
                spec.hash(),
                spec_text::format(spec.layers())
            );
            Ok(())
        }
        Command::Quantize {
            input,
            output,
            spec,
            frac,
        } => {
            let bytes = read(&input)?;
            if FileKind::of(&bytes) == FileKind::Blob {
                let header = microprop::blob::parse_header(&bytes).map_err(|e| e.to_string())?;
                if header.payload != microprop::blob::Payload::F32 {
                    return Err(format!("{} is already a fixed-point blob", input.display()));
                }
            }
            let (parsed, params) = load_model(&bytes, spec)?;
            let spec = parsed.spec();
            let (blob, q) =
                microprop_cli::quantize(&spec, &params, frac).map_err(|e| e.to_string())?;
            write(&output, &blob)?;
            let step = 1.0 / f64::from(1u32 << frac);
            println!(
                "wrote {} ({} bytes, {} parameters as 16-bit fixed point with {frac} fractional bits: range ±{}, step {step:e}; spec hash {:#010x}: {})",
                output.display(),
                blob.len(),
                params.len(),
                1u32 << (15 - frac),
                spec.hash(),
                spec_text::format(spec.layers())
            );
            println!(
                "quantization error: max |w - q(w)| {:.3e} ({:.2} steps), RMS {:.3e}; max |w| {:.4}; {} saturated",
                q.max_abs_error,
                q.max_abs_error / step,
                q.rms_error,
                q.max_abs_value,
                q.saturated
            );
            Ok(())
        }
        Command::Eval { file, spec } => {
            let bytes = read(&file)?;
            let (parsed, params) = load_model(&bytes, spec)?;
            let spec = parsed.spec();
            let digits =
                microprop_data::Digits::load().map_err(|e| format!("data/digits.csv: {e}"))?;
            let (x, y) = (digits.pixels_f32(), digits.labels_usize());
            let held: Vec<usize> = (0..y.len())
                .filter(|&i| microprop_data::held_out(i))
                .collect();
            let hx: Vec<f32> = held
                .iter()
                .flat_map(|&i| x[i * 64..(i + 1) * 64].iter().copied())
                .collect();
            let hy: Vec<usize> = held.iter().map(|&i| y[i]).collect();
            println!("{}: {}", file.display(), spec_text::format(spec.layers()));
            for (name, x, y) in [("all", &x, &y), ("held out (i % 5 == 4)", &hx, &hy)] {
                let e = microprop_cli::evaluate(&spec, &params, x, y).map_err(|e| e.to_string())?;
                let right = (e.accuracy.unwrap_or(0.0) * e.samples as f64).round();
                println!(
                    "digits {name}: accuracy {:.4} ({right}/{}), loss {:.4}",
                    e.accuracy.unwrap_or(0.0),
                    e.samples,
                    e.loss
                );
            }
            Ok(())
        }
        Command::ToSafetensors {
            input,
            output,
            spec,
        } => {
            let bytes = read(&input)?;
            let parsed = parse_spec(&spec)?;
            let spec = parsed.spec();
            let params = microprop_cli::from_blob(&spec, &bytes).map_err(|e| e.to_string())?;
            let file = tensors::export(&spec, &params).map_err(|e| e.to_string())?;
            write(&output, &file)?;
            println!(
                "wrote {} ({} bytes, {} parameters: {})",
                output.display(),
                file.len(),
                params.len(),
                spec_text::format(spec.layers())
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

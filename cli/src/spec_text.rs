//! A one-line text form of a [`Spec`], for file metadata and command lines.
//!
//! Layers are separated by whitespace; parameterised layers and parameterised
//! activations take their numbers in parentheses:
//!
//! | text | layer |
//! |---|---|
//! | `dense(IN,OUT)` | [`Layer::Dense`] |
//! | `maxout(IN,OUT,PIECES)` | [`Layer::Maxout`] |
//! | `identity` `sigmoid` `tanh` `relu` `softplus` | [`Layer::Activation`] |
//! | `leaky_relu(SLOPE)` `elu(ALPHA)` | [`Layer::Activation`] with its f32 parameter |
//! | `softmax` | [`Layer::Softmax`] |
//!
//! ```
//! let spec = microprop_cli::spec_text::parse_spec("dense(64,32) relu dense(32,10)").unwrap();
//! assert_eq!(spec.param_count(), 64 * 32 + 32 + 32 * 10 + 10);
//! assert_eq!(microprop_cli::spec_text::format(spec.layers()), "dense(64,32) relu dense(32,10)");
//! ```
//!
//! [`format`] writes the canonical form (no spaces inside parentheses, f32
//! parameters in Rust's shortest round-trip notation), so
//! `parse(format(layers)) == layers` exactly.

use microprop::{Activation, Layer, Spec, SpecError};
use std::fmt;

/// Why a spec text was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecTextError {
    /// No layers at all.
    Empty,
    /// Something other than a layer name, `(`, `)`, `,`, a number or
    /// whitespace at byte `at`.
    Syntax {
        /// Byte offset in the text.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A layer name this format does not know.
    UnknownLayer {
        /// The name as written.
        name: String,
    },
    /// A layer was given the wrong number of arguments.
    Arity {
        /// The layer name.
        layer: String,
        /// Arguments it takes.
        expected: usize,
        /// Arguments given.
        got: usize,
    },
    /// An argument is not a number of the right kind (a width must be a
    /// positive integer that fits in u32, a parameter a finite f32).
    BadNumber {
        /// The layer name.
        layer: String,
        /// The argument as written.
        text: String,
    },
    /// The layers parse but do not make a valid network.
    Spec(SpecError),
}

impl fmt::Display for SpecTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecTextError::Empty => write!(f, "spec text has no layers"),
            SpecTextError::Syntax { at, expected } => {
                write!(f, "spec text: expected {expected} at byte {at}")
            }
            SpecTextError::UnknownLayer { name } => write!(
                f,
                "unknown layer `{name}` (known: dense, maxout, identity, sigmoid, tanh, relu, \
                 leaky_relu, elu, softplus, softmax)"
            ),
            SpecTextError::Arity {
                layer,
                expected,
                got,
            } => write!(f, "`{layer}` takes {expected} argument(s), got {got}"),
            SpecTextError::BadNumber { layer, text } => {
                write!(f, "`{layer}`: `{text}` is not a valid argument")
            }
            SpecTextError::Spec(e) => write!(f, "not a valid network: {e:?}"),
        }
    }
}

impl std::error::Error for SpecTextError {}

/// Parse spec text into layers (not yet checked to chain; see [`parse_spec`]).
pub fn parse(text: &str) -> Result<Vec<Layer>, SpecTextError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut layers = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i == start {
            return Err(SpecTextError::Syntax {
                at: i,
                expected: "a layer name",
            });
        }
        let name = &text[start..i];
        let mut args: Vec<&str> = Vec::new();
        let mut j = i;
        skip_ws(&mut j);
        if j < bytes.len() && bytes[j] == b'(' {
            let open = j + 1;
            let close = match text[open..].find(')') {
                Some(k) => open + k,
                None => {
                    return Err(SpecTextError::Syntax {
                        at: bytes.len(),
                        expected: "`)`",
                    })
                }
            };
            if let Some(k) = text[open..close].find('(') {
                return Err(SpecTextError::Syntax {
                    at: open + k,
                    expected: "an argument",
                });
            }
            args = text[open..close].split(',').map(str::trim).collect();
            if args == [""] {
                args.clear();
            }
            i = close + 1;
        }
        layers.push(layer(name, &args)?);
    }
    if layers.is_empty() {
        return Err(SpecTextError::Empty);
    }
    Ok(layers)
}

fn layer(name: &str, args: &[&str]) -> Result<Layer, SpecTextError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(SpecTextError::Arity {
                layer: name.to_string(),
                expected: n,
                got: args.len(),
            })
        }
    };
    let bad = |t: &str| SpecTextError::BadNumber {
        layer: name.to_string(),
        text: t.to_string(),
    };
    // Widths are hashed as u32 (`Spec::hash`), so larger ones are refused.
    let width = |t: &str| -> Result<usize, SpecTextError> {
        match t.parse::<u32>() {
            Ok(v) if v > 0 => Ok(v as usize),
            _ => Err(bad(t)),
        }
    };
    let real = |t: &str| -> Result<f32, SpecTextError> {
        match t.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(bad(t)),
        }
    };
    let act = |a: Activation<f32>| Ok(Layer::Activation(a));
    match name {
        "dense" => {
            arity(2)?;
            Ok(Layer::dense(width(args[0])?, width(args[1])?))
        }
        "maxout" => {
            arity(3)?;
            Ok(Layer::maxout(
                width(args[0])?,
                width(args[1])?,
                width(args[2])?,
            ))
        }
        "identity" => arity(0).and_then(|_| act(Activation::Identity)),
        "sigmoid" => arity(0).and_then(|_| act(Activation::Sigmoid)),
        "tanh" => arity(0).and_then(|_| act(Activation::Tanh)),
        "relu" => arity(0).and_then(|_| act(Activation::Relu)),
        "softplus" => arity(0).and_then(|_| act(Activation::Softplus)),
        "softmax" => arity(0).map(|_| Layer::Softmax),
        "leaky_relu" => {
            arity(1)?;
            act(Activation::LeakyRelu {
                slope: real(args[0])?,
            })
        }
        "elu" => {
            arity(1)?;
            act(Activation::Elu {
                alpha: real(args[0])?,
            })
        }
        _ => Err(SpecTextError::UnknownLayer {
            name: name.to_string(),
        }),
    }
}

/// The canonical text of one layer.
pub fn format_layer(layer: &Layer) -> String {
    match *layer {
        Layer::Dense { inputs, outputs } => format!("dense({inputs},{outputs})"),
        Layer::Maxout {
            inputs,
            outputs,
            pieces,
        } => format!("maxout({inputs},{outputs},{pieces})"),
        Layer::Activation(a) => match a {
            Activation::Identity => "identity".into(),
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::Relu => "relu".into(),
            Activation::Softplus => "softplus".into(),
            Activation::LeakyRelu { slope } => format!("leaky_relu({slope})"),
            Activation::Elu { alpha } => format!("elu({alpha})"),
        },
        Layer::Softmax => "softmax".into(),
    }
}

/// The canonical text of a layer list (layers joined by one space).
pub fn format(layers: &[Layer]) -> String {
    layers
        .iter()
        .map(format_layer)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parse spec text and check that it is a valid network; the layer list is
/// leaked (`Box::leak`) to give a `Spec<'static>`. Meant for host tools that
/// build a handful of specs per run, not for loops.
pub fn parse_spec(text: &str) -> Result<Spec<'static>, SpecTextError> {
    let layers = parse(text)?;
    Spec::try_new(&layers).map_err(SpecTextError::Spec)?;
    let layers: &'static [Layer] = Box::leak(layers.into_boxed_slice());
    Spec::try_new(layers).map_err(SpecTextError::Spec)
}

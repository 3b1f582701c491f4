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
//! | `leaky_relu(SLOPE)` `elu(ALPHA)` | [`Layer::Activation`] with its f64 parameter |
//! | `softmax` | [`Layer::Softmax`] |
//! | `flatten` | [`Layer::Flatten`] (PyTorch's `nn.Flatten`: keeps the row) |
//! | `conv1d(IN,OUT,LEN,K,STRIDE,PAD)` | [`Layer::conv1d`] (PyTorch `Conv1d` over `LEN` steps) |
//! | `conv2d(IN,OUT,H,W,KH,KW,STRIDE,PAD)` | [`Layer::conv2d`]; a ninth number is a separate width padding (the eighth then pads the height) |
//! | `max_pool1d(C,LEN,K,STRIDE)` `avg_pool1d(C,LEN,K,STRIDE)` | [`Layer::max_pool1d`], [`Layer::avg_pool1d`] |
//! | `max_pool2d(C,H,W,KH,KW,STRIDE)` `avg_pool2d(C,H,W,KH,KW,STRIDE)` | [`Layer::Pool`] over a `KH × KW` window |
//! | `global_avg_pool1d(C,LEN)` `global_avg_pool2d(C,H,W)` | [`Layer::global_avg_pool1d`], [`Layer::global_avg_pool2d`] |
//!
//! [`parse_spec`] gives a [`ParsedSpec`], which owns its layers and lends a
//! [`Spec`] borrowing them (nothing is leaked, so a long-running host can
//! parse as many specs as it likes):
//!
//! ```
//! let parsed = microprop_cli::spec_text::parse_spec("dense(64,32) relu dense(32,10)").unwrap();
//! let spec = parsed.spec();
//! assert_eq!(spec.param_count(), 64 * 32 + 32 + 32 * 10 + 10);
//! assert_eq!(microprop_cli::spec_text::format(spec.layers()), "dense(64,32) relu dense(32,10)");
//! assert_eq!(parsed.to_string(), "dense(64,32) relu dense(32,10)");
//! ```
//!
//! [`format()`] writes the canonical form (no spaces inside parentheses,
//! parameters in Rust's shortest round-trip notation for f64), so
//! `parse(format(layers)) == layers` exactly.

use microprop::hal::op::Window;
use microprop::{Activation, Layer, PoolKind, Spec, SpecError};
use std::fmt;

/// Why a spec text was rejected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// positive integer that fits in u32, a parameter a finite number).
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
            SpecTextError::Spec(e) => write!(f, "not a valid network: {e}"),
        }
    }
}

/// `source()` is the [`SpecError`] of [`SpecTextError::Spec`].
impl std::error::Error for SpecTextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpecTextError::Spec(e) => Some(e),
            _ => None,
        }
    }
}

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
    let real = |t: &str| -> Result<f64, SpecTextError> {
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(bad(t)),
        }
    };
    // Strides and paddings may be 0 (a zero stride is then refused by the
    // spec check, with the layer named).
    let count = |t: &str| -> Result<usize, SpecTextError> {
        t.parse::<u32>().map(|v| v as usize).map_err(|_| bad(t))
    };
    let act = |a: Activation<f64>| Ok(Layer::Activation(a));
    let pool = |kind, w: Window| Ok(Layer::Pool { window: w, kind });
    // (C, H, W, KH, KW, STRIDE) of a 2-D pooling.
    let pool2d = |a: &[&str]| -> Result<Window, SpecTextError> {
        Ok(Window {
            channels: width(a[0])?,
            height: width(a[1])?,
            width: width(a[2])?,
            kh: width(a[3])?,
            kw: width(a[4])?,
            stride: count(a[5])?,
            pad_h: 0,
            pad_w: 0,
        })
    };
    match name {
        "conv1d" => {
            arity(6)?;
            Ok(Layer::conv1d(
                width(args[0])?,
                width(args[1])?,
                width(args[2])?,
                width(args[3])?,
                count(args[4])?,
                count(args[5])?,
            ))
        }
        "conv2d" => {
            if args.len() != 9 {
                arity(8)?;
            }
            let pad_h = count(args[7])?;
            let pad_w = match args.get(8) {
                Some(t) => count(t)?,
                None => pad_h,
            };
            Ok(Layer::Conv {
                window: Window {
                    channels: width(args[0])?,
                    height: width(args[2])?,
                    width: width(args[3])?,
                    kh: width(args[4])?,
                    kw: width(args[5])?,
                    stride: count(args[6])?,
                    pad_h,
                    pad_w,
                },
                outputs: width(args[1])?,
            })
        }
        "max_pool1d" | "avg_pool1d" => {
            arity(4)?;
            let (c, len, k, stride) = (
                width(args[0])?,
                width(args[1])?,
                width(args[2])?,
                count(args[3])?,
            );
            Ok(if name == "max_pool1d" {
                Layer::max_pool1d(c, len, k, stride)
            } else {
                Layer::avg_pool1d(c, len, k, stride)
            })
        }
        "max_pool2d" => {
            arity(6)?;
            pool(PoolKind::Max, pool2d(args)?)
        }
        "avg_pool2d" => {
            arity(6)?;
            pool(PoolKind::Avg, pool2d(args)?)
        }
        "global_avg_pool1d" => {
            arity(2)?;
            Ok(Layer::global_avg_pool1d(width(args[0])?, width(args[1])?))
        }
        "global_avg_pool2d" => {
            arity(3)?;
            Ok(Layer::global_avg_pool2d(
                width(args[0])?,
                (width(args[1])?, width(args[2])?),
            ))
        }
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
        "flatten" => arity(0).map(|_| Layer::Flatten),
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
        Layer::Flatten => "flatten".into(),
        Layer::Conv { window: w, outputs } => {
            if is_1d(&w) {
                format!(
                    "conv1d({},{outputs},{},{},{},{})",
                    w.channels, w.width, w.kw, w.stride, w.pad_w
                )
            } else {
                let pad = if w.pad_h == w.pad_w {
                    format!("{}", w.pad_h)
                } else {
                    format!("{},{}", w.pad_h, w.pad_w)
                };
                format!(
                    "conv2d({},{outputs},{},{},{},{},{},{pad})",
                    w.channels, w.height, w.width, w.kh, w.kw, w.stride
                )
            }
        }
        Layer::Pool { window: w, kind } => {
            let kind = match kind {
                PoolKind::Max => "max",
                PoolKind::Avg => "avg",
            };
            let global = kind == "avg" && w.kh == w.height && w.kw == w.width && w.stride == 1;
            match (is_1d(&w), global) {
                (true, true) => format!("global_avg_pool1d({},{})", w.channels, w.width),
                (false, true) => {
                    format!("global_avg_pool2d({},{},{})", w.channels, w.height, w.width)
                }
                (true, false) => format!(
                    "{kind}_pool1d({},{},{},{})",
                    w.channels, w.width, w.kw, w.stride
                ),
                (false, false) => format!(
                    "{kind}_pool2d({},{},{},{},{},{})",
                    w.channels, w.height, w.width, w.kh, w.kw, w.stride
                ),
            }
        }
    }
}

/// A window over 1-D signals: height 1, window height 1, no padding
/// along the height.
fn is_1d(w: &Window) -> bool {
    w.height == 1 && w.kh == 1 && w.pad_h == 0
}

/// The canonical text of a layer list (layers joined by one space).
pub fn format(layers: &[Layer]) -> String {
    layers
        .iter()
        .map(format_layer)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A spec parsed at run time: it owns its layers, checked to form a
/// network, and lends a [`Spec`] that borrows them ([`ParsedSpec::spec`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSpec {
    /// Checked by [`Spec::try_new`] when built, and never changed after.
    layers: Vec<Layer>,
}

impl ParsedSpec {
    /// Take `layers` if they form a network, or say why not.
    pub fn new(layers: Vec<Layer>) -> Result<Self, SpecError> {
        Spec::try_new(&layers)?;
        Ok(ParsedSpec { layers })
    }

    /// The spec, borrowing these layers.
    pub fn spec(&self) -> Spec<'_> {
        // `layers` passed `Spec::try_new` in `new` and cannot change since,
        // so `Spec::new` does not reach its panic.
        Spec::new(&self.layers)
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Give the layers back.
    pub fn into_layers(self) -> Vec<Layer> {
        self.layers
    }
}

/// The canonical text ([`format()`]).
impl fmt::Display for ParsedSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(&self.layers))
    }
}

/// [`parse_spec`].
impl std::str::FromStr for ParsedSpec {
    type Err = SpecTextError;
    fn from_str(text: &str) -> Result<Self, SpecTextError> {
        parse_spec(text)
    }
}

/// Parse spec text and check that it is a valid network.
pub fn parse_spec(text: &str) -> Result<ParsedSpec, SpecTextError> {
    ParsedSpec::new(parse(text)?).map_err(SpecTextError::Spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed spec owns its layers: parse, use and drop as often as
    /// wanted, nothing outlives it.
    #[test]
    fn parsed_spec_owns_its_layers() {
        for h in 1..200 {
            let text = format!("dense(3,{h}) leaky_relu(0.01) dense({h},2)");
            let parsed: ParsedSpec = text.parse().unwrap();
            let spec = parsed.spec();
            assert_eq!(spec.param_count(), 3 * h + h + 2 * h + 2);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(parsed.layers(), spec.layers());
            assert_eq!(spec.layers()[1], Layer::leaky_relu(0.01));
        }
        assert_eq!(
            ParsedSpec::new(vec![Layer::dense(2, 3), Layer::dense(4, 1)]),
            Err(SpecError::Chain {
                layer: 1,
                expected: 4,
                got: 3
            })
        );
        let layers = vec![Layer::dense(2, 3), Layer::elu(0.7)];
        assert_eq!(
            ParsedSpec::new(layers.clone()).unwrap().into_layers(),
            layers
        );
    }

    /// The text's numbers are f64, so an f64 network gets them exactly; a
    /// spec hashes as before (the blob's hash of an f32 rounding).
    #[test]
    fn parameters_are_f64_and_hash_as_before() {
        let parsed = parse_spec("dense(2,2) leaky_relu(0.01) dense(2,1) elu(0.7)").unwrap();
        assert_eq!(
            parsed.layers()[1],
            Layer::Activation(Activation::LeakyRelu { slope: 0.01 })
        );
        let same = [
            Layer::dense(2, 2),
            Layer::leaky_relu(0.01f32 as f64),
            Layer::dense(2, 1),
            Layer::elu(0.7f32 as f64),
        ];
        assert_eq!(parsed.spec().hash(), Spec::new(&same).hash());
    }
}

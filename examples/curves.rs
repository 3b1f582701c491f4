//! Training curves, shared by the `digits` and `timeseries` examples
//! (included with `#[path]`; `plotters` is a dev-dependency, so this cannot
//! live in the crate's library): the per-epoch numbers, their CSV, and a
//! PNG of loss and accuracy, one curve per seed.

use std::path::Path;

/// One epoch's numbers (for one seed).
pub struct Epoch {
    /// The seed of the run (0 where an example has one run).
    pub seed: u64,
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
}

/// Write `log` as CSV into `path`: `epoch,train_loss,train_accuracy,
/// test_loss,test_accuracy`, with a leading `seed` column when `seeds`.
pub fn write_csv(path: &Path, log: &[Epoch], seeds: bool) -> std::io::Result<()> {
    let mut s = String::from(if seeds { "seed," } else { "" });
    s += "epoch,train_loss,train_accuracy,test_loss,test_accuracy\n";
    for e in log {
        if seeds {
            s += &format!("{},", e.seed);
        }
        s += &format!(
            "{},{},{},{},{}\n",
            e.epoch, e.train_loss, e.train_acc, e.test_loss, e.test_acc
        );
    }
    std::fs::write(path, s)
}

/// Find a TrueType font for the plot's text (`explicit`, else the usual
/// system places) and register it with plotters (which keeps it for the
/// program's life, so it is leaked). `Ok(false)`: none found, the curves get
/// no text. An explicit font that cannot be read or used is an error (what
/// is wrong), before training.
pub fn register_font(explicit: Option<&Path>) -> Result<bool, String> {
    use plotters::style::FontStyle;
    let bytes = match explicit {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))?),
        None => [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/Library/Fonts/Arial.ttf",
            "C:\\Windows\\Fonts\\arial.ttf",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok()),
    };
    let Some(bytes) = bytes else {
        return Ok(false);
    };
    plotters::style::register_font("sans-serif", FontStyle::Normal, Vec::leak(bytes))
        .map_err(|_| "the file is not a usable TrueType font".to_string())?;
    Ok(true)
}

/// Draw the curves into `path`: loss and accuracy, train blue and test red,
/// one line per seed (the legend names each colour once); `text`: a font is
/// registered ([`register_font`]), so titles, labels and legends are drawn.
/// The error says what failed.
pub fn plot(path: &Path, log: &[Epoch], title: &str, text: bool) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (1100, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = if text {
        root.titled(title, ("sans-serif", 20))
            .map_err(|e| err(&e))?
    } else {
        root
    };
    let (left, right) = root.split_horizontally(550);
    let n = log.iter().map(|e| e.epoch).max().unwrap_or(1).max(2) as f64;
    let max_loss = log
        .iter()
        .map(|e| e.train_loss.max(e.test_loss))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let min_acc = log
        .iter()
        .map(|e| e.train_acc.min(e.test_acc))
        .fold(1.0f64, f64::min)
        .min(0.9);
    let mut seeds: Vec<u64> = log.iter().map(|e| e.seed).collect();
    seeds.dedup();
    type Curve = (&'static str, fn(&Epoch) -> f64, RGBColor);
    let panels: [(&DrawingArea<_, _>, &str, std::ops::Range<f64>, [Curve; 2]); 2] = [
        (
            &left,
            "loss (mean softmax cross-entropy)",
            0.0..max_loss,
            [
                ("train loss", |e| e.train_loss, BLUE),
                ("test loss", |e| e.test_loss, RED),
            ],
        ),
        (
            &right,
            "accuracy",
            min_acc..1.0,
            [
                ("train accuracy", |e| e.train_acc, BLUE),
                ("test accuracy", |e| e.test_acc, RED),
            ],
        ),
    ];
    for (area, caption, y, curves) in panels {
        let mut builder = ChartBuilder::on(area);
        builder.margin(14);
        if text {
            builder
                .caption(caption, ("sans-serif", 18))
                .x_label_area_size(34)
                .y_label_area_size(54);
        }
        let mut chart = builder.build_cartesian_2d(1.0..n, y).map_err(|e| err(&e))?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("epoch")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .label_style(("sans-serif", 14));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| err(&e))?;
        for (label, value, color) in curves {
            for (i, &seed) in seeds.iter().enumerate() {
                let points: Vec<(f64, f64)> = log
                    .iter()
                    .filter(|e| e.seed == seed)
                    .map(|e| (e.epoch as f64, value(e)))
                    .collect();
                let s = chart
                    .draw_series(LineSeries::new(points, color.mix(0.8).stroke_width(2)))
                    .map_err(|e| err(&e))?;
                if text && i == 0 {
                    s.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
            }
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::MiddleRight)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

//! The train/validation loss plot (and the objective's named validation metrics below it,
//! when it logs any), written as PNG and SVG beside the checkpoints.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{LmError, Result};
use crate::metrics::Metric;

/// Registers a system sans-serif font with plotters once (for every plot of the process);
/// `false` when none is installed (plots are then drawn without text).
pub fn font_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        const CANDIDATES: &[&str] = &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
            "/System/Library/Fonts/Supplemental/Arial.ttf",
            "C:\\Windows\\Fonts\\arial.ttf",
        ];
        CANDIDATES.iter().filter_map(|p| std::fs::read(p).ok()).any(|bytes| {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// The loss curves; below them, when the evaluations logged named metrics, a panel with one
/// curve per metric.
fn draw<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, history: &[Metric]) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut named: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for m in history {
        if let Metric::Eval { step, metrics, .. } = m {
            for (name, v) in metrics {
                named.entry(name.as_str()).or_default().push((*step as f64, *v));
            }
        }
    }
    if named.is_empty() {
        draw_losses(&root, history)?;
    } else {
        let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 * 3 / 5);
        draw_losses(&top, history)?;
        draw_metrics(&bottom, history, &named)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// The named validation metrics over the steps, one colour each.
fn draw_metrics<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    history: &[Metric],
    named: &BTreeMap<&str, Vec<(f64, f64)>>,
) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    let max_step = history.iter().map(|m| match m {
        Metric::Train { step, .. } | Metric::Eval { step, .. } => *step as f64,
    });
    let max_step = max_step.fold(1.0, f64::max);
    let values = named.values().flatten().map(|p| p.1).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo.min(0.0), hi * 1.05 + 1e-6) };
    let text = font_available();
    let mut builder = ChartBuilder::on(area);
    builder.margin(20);
    if text {
        builder.caption("validation metrics", ("sans-serif", 20)).x_label_area_size(40).y_label_area_size(55);
    }
    let mut chart = builder.build_cartesian_2d(0.0..max_step, lo..hi).map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("step");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for (i, (name, points)) in named.iter().enumerate() {
        let colour = Palette99::pick(i + 2).to_rgba();
        let s = chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2))).map_err(|e| e.to_string())?;
        if text {
            s.label(*name).legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(|e| e.to_string())?;
    }
    if text {
        chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The train and validation losses over the steps.
fn draw_losses<DB: DrawingBackend>(root: &DrawingArea<DB, plotters::coord::Shift>, history: &[Metric]) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    let train: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|m| if let Metric::Train { step, loss, .. } = m { Some((*step as f64, *loss as f64)) } else { None })
        .collect();
    let val: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|m| if let Metric::Eval { step, val_loss, .. } = m { Some((*step as f64, *val_loss as f64)) } else { None })
        .collect();
    let all = train.iter().chain(&val);
    let max_step = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = all.map(|p| p.1).filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo * 0.95, hi * 1.05 + 1e-6) };
    let text = font_available();
    let mut builder = ChartBuilder::on(root);
    builder.margin(20);
    if text {
        builder.caption("loss", ("sans-serif", 24)).x_label_area_size(40).y_label_area_size(55);
    }
    let mut chart = builder.build_cartesian_2d(0.0..max_step, lo..hi).map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("step").y_desc("cross-entropy");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| e.to_string())?;
    let t = chart.draw_series(LineSeries::new(train, &BLUE)).map_err(|e| e.to_string())?;
    if text {
        t.label("train").legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    }
    let v = chart.draw_series(LineSeries::new(val.clone(), RED.stroke_width(2))).map_err(|e| e.to_string())?;
    if text {
        v.label("validation").legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw().map_err(|e| e.to_string())?;
    }
    chart.draw_series(val.iter().map(|&p| Circle::new(p, 3, RED.filled()))).map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes the loss curves of `history` (and its named validation metrics) to `png` and `svg`.
pub fn plot_losses(history: &[Metric], png: &Path, svg: &Path) -> Result<()> {
    draw(BitMapBackend::new(png, (900, 540)).into_drawing_area(), history).map_err(|e| LmError::file(png, format!("cannot plot: {e}")))?;
    draw(SVGBackend::new(svg, (900, 540)).into_drawing_area(), history).map_err(|e| LmError::file(svg, format!("cannot plot: {e}")))
}

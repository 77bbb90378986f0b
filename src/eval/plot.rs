//! The per-feature plot `sage eval` writes: one bar per explainer (sage,
//! one-shot, any imported explainer) and feature with its 95% interval, a
//! panel per scorer run: generative accuracy (the control floor as a grey
//! bar beside it), predictive r, and Delphi's detection and fuzzing
//! balanced accuracy.

use plotters::prelude::*;

use super::classify::Task;
use super::feature::Scorer;
use super::report::{EvalReport, result_of};
use super::stats::Interval;

/// Bar colours per explainer, in report order (then repeated).
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];
/// The floor's colour.
const FLOOR: RGBColor = RGBColor(160, 160, 160);

/// Why the plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("could not draw the evaluation plot: {0}")]
pub struct PlotError(String);

/// One bar: a value and its interval.
type Bar = Option<Interval>;

/// One panel: its title, one series of bars per name, the names.
type Panel<'a> = (&'static str, Vec<Vec<Bar>>, &'a [String]);

/// Draws the report's per-feature scores as an SVG document.
pub fn to_svg(report: &EvalReport) -> Result<String, PlotError> {
    let explainers: Vec<String> = report
        .averages
        .iter()
        .filter(|a| {
            report
                .features
                .iter()
                .any(|f| f.scored.iter().any(|s| s.explainer == a.name))
        })
        .map(|a| a.name.clone())
        .collect();
    let bars = |pick: &dyn Fn(&super::feature::Scored) -> Bar| -> Vec<Vec<Bar>> {
        explainers
            .iter()
            .map(|name| {
                report
                    .features
                    .iter()
                    .map(|f| {
                        f.scored
                            .iter()
                            .find(|s| &s.explainer == name)
                            .and_then(pick)
                    })
                    .collect()
            })
            .collect()
    };
    let features: Vec<String> = report
        .features
        .iter()
        .map(|f| f.feature.to_string())
        .collect();
    let mut with_floor = explainers.clone();
    with_floor.push("control floor".to_string());
    let mut panels: Vec<Panel> = Vec::new();
    for scorer in &report.options.scorers {
        match scorer {
            Scorer::Generative => {
                let mut generative = bars(&|s| s.generative.as_ref().map(|g| g.score));
                generative.push(
                    report
                        .features
                        .iter()
                        .map(|f| f.control.as_ref().map(|c| c.score))
                        .collect(),
                );
                panels.push(("generative accuracy", generative, with_floor.as_slice()));
            }
            Scorer::Predictive => panels.push((
                "predictive accuracy (Pearson r)",
                bars(&|s| s.predictive.as_ref().and_then(|p| p.pearson)),
                explainers.as_slice(),
            )),
            Scorer::Detection | Scorer::Fuzzing => {
                let task = scorer.task().unwrap_or(Task::Detection);
                let title = match task {
                    Task::Detection => "detection (balanced accuracy)",
                    Task::Fuzzing => "fuzzing (balanced accuracy)",
                };
                let series = bars(&|s| result_of(s, task)?.first()?.balanced_accuracy);
                panels.push((title, series, explainers.as_slice()));
            }
        }
    }

    let width = (160 + 70 * features.len() as u32).max(640);
    let height = 320 * panels.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, (title, series, names)) in areas.iter().zip(&panels) {
            let low = series
                .iter()
                .flatten()
                .flatten()
                .map(|i| i.low)
                .fold(0.0_f64, f64::min);
            panel(area, title, &features, series, names, low)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

/// One panel: groups of bars per feature, an interval on each.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    features: &[String],
    series: &[Vec<Bar>],
    names: &[String],
    low: f64,
) -> Result<(), PlotError> {
    let n = features.len().max(1) as f64;
    let y_min = if low < 0.0 {
        (low - 0.05).max(-1.0)
    } else {
        0.0
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..n, y_min..1.3)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("score")
        .draw()
        .map_err(err)?;
    let group = 0.8 / series.len().max(1) as f64;
    for (k, (values, name)) in series.iter().zip(names).enumerate() {
        let colour = if k + 1 == series.len() && name == "control floor" {
            FLOOR
        } else {
            COLOURS[k % COLOURS.len()]
        };
        let x0 = |i: usize| i as f64 + 0.1 + group * k as f64;
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| {
                    Rectangle::new(
                        [(x0(i), 0.0), (x0(i) + group * 0.9, v.estimate)],
                        colour.filled(),
                    )
                })
            }))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| {
                    ErrorBar::new_vertical(
                        x0(i) + group * 0.45,
                        v.low,
                        v.estimate,
                        v.high,
                        BLACK.stroke_width(1),
                        6,
                    )
                })
            }))
            .map_err(err)?;
    }
    chart
        .draw_series(features.iter().enumerate().map(|(i, f)| {
            Text::new(
                format!("f{f}"),
                (i as f64 + 0.4, y_min),
                ("sans-serif", 12).into_font(),
            )
        }))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

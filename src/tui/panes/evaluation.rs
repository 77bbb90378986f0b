//! A small chart of the latest evaluation under the conclusion: one
//! horizontal bar per explainer and metric (generative accuracy and
//! predictive r, 0-1), so a replayed session shows how its explanation
//! compared with the one-shot baseline and the floor.

use ratatui::Frame;
use ratatui::layout::{Direction, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup};

use super::View;
use crate::agent::Evaluation;

/// Rows the chart needs for `evaluation`: a title and one bar per score.
pub fn height(evaluation: &Evaluation) -> u16 {
    evaluation.scores.len() as u16 + 1
}

/// Draws the chart into `area`.
pub fn render(frame: &mut Frame, area: Rect, view: &View, evaluation: &Evaluation) {
    let theme = view.theme;
    let bars: Vec<Bar> = evaluation
        .scores
        .iter()
        .map(|s| {
            let value = s.value.unwrap_or(0.0).clamp(0.0, 1.0);
            Bar::default()
                .label(Line::from(format!(
                    "{:<9}{:<5}",
                    clip(&s.explainer, 8),
                    s.metric.short()
                )))
                .value((value * 100.0).round() as u64)
                .text_value(s.value.map_or("missing".to_string(), |v| format!("{v:.2}")))
                .style(theme.heat(value as f32))
                .value_style(theme.title())
        })
        .collect();
    let title = Line::styled(
        format!("EVALUATION · {}", evaluation.judge),
        theme.status(&crate::agent::HypothesisStatus::Confirmed),
    );
    let chart = BarChart::default()
        .direction(Direction::Horizontal)
        .bar_width(1)
        .bar_gap(0)
        .max(100)
        .label_style(theme.text())
        .data(BarGroup::default().bars(&bars));
    let [head, body] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Length(1),
        ratatui::layout::Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(title, head);
    frame.render_widget(chart, body);
}

fn clip(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

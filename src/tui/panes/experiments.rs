//! Designed experiments: each text as a heatmap once it has run, the
//! predicted firing tokens underlined against the observed ones, the score,
//! and the hypothesis it tests.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{View, clip, render_scrolled};
use crate::agent::{Experiment, ExperimentKind, ExperimentStatus, HypothesisStatus};
use crate::tui::app::Pane;
use crate::tui::heatmap::{TokenHeatmap, display_token};

/// The glyph and word for an experiment's status.
pub fn status_label(status: &ExperimentStatus) -> (&'static str, &'static str) {
    match status {
        ExperimentStatus::Proposed => ("▷", "proposed"),
        ExperimentStatus::AwaitingApproval => ("⏳", "awaiting approval"),
        ExperimentStatus::Approved => ("▷", "approved"),
        ExperimentStatus::Running => ("…", "running"),
        ExperimentStatus::Done => ("▶", "done"),
        ExperimentStatus::Rejected { .. } => ("⊘", "rejected"),
        ExperimentStatus::Failed { .. } => ("!", "failed"),
    }
}

fn kind_name(kind: ExperimentKind) -> &'static str {
    match kind {
        ExperimentKind::Positive => "positive",
        ExperimentKind::Control => "control",
        ExperimentKind::MinimalPair => "minimal pair",
    }
}

/// Draws the experiments pane, newest first.
pub fn render(frame: &mut Frame, area: Rect, view: &View) {
    let state = view.state;
    let cursor = view.app.cursor(Pane::Experiments);
    let done = state
        .experiments
        .iter()
        .filter(|e| e.score.is_some())
        .count();
    let mut title = format!("Experiments ({done}/{} run)", state.experiments.len());
    if let Some(r) = state
        .experiments
        .get(cursor.selected)
        .and_then(|e| e.result.as_ref())
        && let (Some(t), Some(v)) = (r.tokens.get(cursor.token), r.values.get(cursor.token))
    {
        title.push_str(&format!(" · [{}] = {v:.2}", display_token(t)));
    }
    let block = view.block(Pane::Experiments, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.experiments.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("no experiments yet", view.theme.dim())),
            inner,
        );
        return;
    }
    let mut lines = Vec::new();
    let mut selected_line = 0;
    for (i, e) in state.experiments.iter().enumerate() {
        let selected = i == cursor.selected;
        if selected {
            selected_line = lines.len();
        }
        lines.extend(experiment_lines(
            view,
            e,
            selected,
            cursor.token,
            inner.width as usize,
        ));
    }
    render_scrolled(frame, inner, lines, selected_line);
}

fn experiment_lines(
    view: &View,
    e: &Experiment,
    selected: bool,
    token: usize,
    width: usize,
) -> Vec<Line<'static>> {
    let theme = view.theme;
    let focused = selected && view.app.focus == Pane::Experiments;
    let (glyph, status) = status_label(&e.status);
    let predicted = if e.prediction.firing.is_empty() {
        "none".to_string()
    } else {
        e.prediction.firing.join(", ")
    };
    let mut head = vec![Span::styled(
        format!("{} {} {glyph} ", e.id, e.hypothesis),
        theme.text(),
    )];
    match &e.score {
        Some(score) => {
            let verdict = if score.passed {
                HypothesisStatus::Confirmed
            } else {
                HypothesisStatus::Refuted
            };
            head.push(Span::styled(
                format!("F1 {:.2} ", score.f1),
                theme.status(&verdict),
            ));
        }
        None => {
            let badge = if e.status == ExperimentStatus::AwaitingApproval {
                theme.awaiting_badge()
            } else {
                theme.dim()
            };
            head.push(Span::styled(format!("{status} "), badge));
        }
    }
    head.push(Span::styled(
        format!(
            "{} · predicted: {}",
            kind_name(e.kind),
            clip(&predicted, 40)
        ),
        theme.dim(),
    ));
    if let (Some(score), Some(r)) = (&e.score, &e.result) {
        let observed: Vec<String> = score
            .observed
            .iter()
            .filter_map(|&i| {
                Some(format!(
                    "{} {:.1}",
                    display_token(r.tokens.get(i)?).trim(),
                    r.values.get(i)?
                ))
            })
            .collect();
        let observed = if observed.is_empty() {
            "none".into()
        } else {
            observed.join(", ")
        };
        head.push(Span::styled(
            format!(" · observed: {}", clip(&observed, 40)),
            theme.dim(),
        ));
    }
    if e.status == ExperimentStatus::AwaitingApproval {
        head.push(Span::styled("  [a]pprove [e]dit [x]reject", theme.dim()));
    }
    let mut head = Line::from(head);
    if focused {
        head = head.style(theme.selection());
    }
    let body = match &e.result {
        Some(r) => {
            let predicted = e.score.as_ref().map_or(&[][..], |s| &s.predicted[..]);
            let mut spans = vec![Span::raw("    ")];
            spans.extend(
                TokenHeatmap::new(&r.tokens, &r.values, view.scale(), theme)
                    .predicted(predicted)
                    .selected(focused.then_some(token))
                    .spans(),
            );
            Line::from(spans)
        }
        None => Line::from(Span::styled(
            format!("    \"{}\"", clip(&e.text, width.saturating_sub(6).max(10))),
            theme.text(),
        )),
    };
    let mut out = vec![head, body];
    match &e.status {
        ExperimentStatus::Rejected { reason } => {
            out.push(Line::from(Span::styled(
                format!("    rejected: {reason}"),
                theme.dim(),
            )));
        }
        ExperimentStatus::Failed { error } => {
            out.push(Line::from(Span::styled(
                format!("    failed: {error}"),
                theme.paused_badge(),
            )));
        }
        _ => {}
    }
    if focused && !e.rationale.is_empty() {
        out.push(Line::from(Span::styled(
            format!("    why: {}", e.rationale),
            theme.dim(),
        )));
    }
    out
}

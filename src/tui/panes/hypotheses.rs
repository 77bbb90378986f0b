//! The live hypothesis list: status, version lineage, confidence and
//! evidence count; the selected hypothesis expands to show its reasoning.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::{View, clip, evaluation, render_scrolled};
use crate::agent::{Hypothesis, HypothesisStatus, Target};
use crate::tui::app::Pane;

/// The glyph shown before a status name.
pub fn status_icon(status: &HypothesisStatus) -> &'static str {
    match status {
        HypothesisStatus::Proposed => "·",
        HypothesisStatus::Testing => "?",
        HypothesisStatus::Confirmed => "✔",
        HypothesisStatus::Refined => "↻",
        HypothesisStatus::Refuted => "✘",
        HypothesisStatus::Uncertain => "~",
        HypothesisStatus::Rejected { .. } => "⊘",
    }
}

/// Draws the hypotheses pane (with the conclusion on top once there is one).
pub fn render(frame: &mut Frame, area: Rect, view: &View) {
    let state = view.state;
    let cursor = view.app.cursor(Pane::Hypotheses);
    let waiting = state.pending_approvals();
    let block = view.block(
        Pane::Hypotheses,
        format!("Hypotheses ({})", state.hypotheses.len()),
    );
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(evaluation) = state.evaluations.last() {
        let rows = evaluation::height(evaluation);
        if inner.height >= rows + 6 {
            inner.height -= rows;
            let chart = Rect {
                y: inner.y + inner.height,
                height: rows,
                ..inner
            };
            evaluation::render(frame, chart, view, evaluation);
        }
    }

    let mut lines: Vec<Line> = Vec::new();
    let conclusion = state
        .conclusion
        .as_ref()
        .or(state.pending_conclusion.as_ref());
    if let Some(c) = conclusion {
        let pending = state.conclusion.is_none();
        lines.push(Line::from(vec![
            Span::styled(
                if pending {
                    "PROPOSED CONCLUSION "
                } else {
                    "CONCLUSION "
                },
                view.theme.status(&HypothesisStatus::Confirmed),
            ),
            Span::styled(c.label.clone(), view.theme.title()),
            Span::styled(format!("  conf {:.2}", c.confidence), view.theme.dim()),
        ]));
        lines.push(Line::from(Span::styled(
            c.description.clone(),
            view.theme.text(),
        )));
        if !c.does_not_fire_on.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("not: {}", c.does_not_fire_on.join("; ")),
                view.theme.dim(),
            )));
        }
        lines.push(Line::from(""));
    }
    if state.hypotheses.is_empty() {
        let msg = if state.inflight.is_empty() {
            "no hypotheses yet"
        } else {
            "thinking…"
        };
        lines.push(Line::from(Span::styled(msg, view.theme.dim())));
    }
    let width = inner.width as usize;
    let mut selected_line = 0;
    for (i, h) in state.hypotheses.iter().enumerate() {
        let selected = i == cursor.selected;
        if selected {
            selected_line = lines.len();
        }
        let awaiting = waiting.contains(&Target::Hypothesis(h.id));
        lines.push(row(view, h, selected, awaiting, width));
        if selected && (view.app.focus == Pane::Hypotheses || cursor.expanded.contains(&i)) {
            lines.extend(details(view, h));
        }
    }
    render_scrolled(frame, inner, lines, selected_line);
}

fn row(view: &View, h: &Hypothesis, selected: bool, awaiting: bool, width: usize) -> Line<'static> {
    let theme = view.theme;
    let evidence = view
        .state
        .experiments_of(h.id)
        .filter(|e| e.score.is_some())
        .count();
    let head = format!(
        "{} v{} {} {:<9} ",
        h.id,
        h.version,
        status_icon(&h.status),
        h.status.name()
    );
    let tail = format!(" {:.2} {evidence} ev", h.confidence);
    let room = width.saturating_sub(head.chars().count() + tail.chars().count() + 1);
    let mut spans = vec![
        Span::styled(format!("{} v{} ", h.id, h.version), theme.text()),
        Span::styled(
            format!("{} {:<9} ", status_icon(&h.status), h.status.name()),
            theme.status(&h.status),
        ),
        Span::styled(clip(&h.description, room.max(8)), theme.text()),
        Span::styled(tail, theme.dim()),
    ];
    if awaiting {
        spans.push(Span::styled(" AWAITING APPROVAL", theme.awaiting_badge()));
    }
    let mut line = Line::from(spans);
    if selected && view.app.focus == Pane::Hypotheses {
        line = line.style(theme.selection());
    }
    line
}

fn details(view: &View, h: &Hypothesis) -> Vec<Line<'static>> {
    let theme = view.theme;
    let mut out = vec![
        Line::from(Span::styled(format!("    {}", h.description), theme.text())),
        Line::from(Span::styled(
            format!("    predicts: {}", h.prediction),
            theme.dim(),
        )),
    ];
    if !h.evidence.is_empty() {
        out.push(Line::from(Span::styled(
            format!("    evidence: {}", h.evidence),
            theme.dim(),
        )));
    }
    let mut lineage = Vec::new();
    let mut parent = h.parent;
    while let Some(p) = parent.and_then(|id| view.state.hypothesis(id)) {
        lineage.push(format!("{} v{}", p.id, p.version));
        parent = p.parent;
    }
    if !lineage.is_empty() {
        out.push(Line::from(Span::styled(
            format!("    refines: {}", lineage.join(" ← ")),
            theme.dim(),
        )));
    }
    if !h.decided_by.is_empty() {
        let ids: Vec<String> = h.decided_by.iter().map(|e| e.to_string()).collect();
        out.push(Line::from(Span::styled(
            format!("    decided by: {}", ids.join(", ")),
            theme.dim(),
        )));
    }
    if let HypothesisStatus::Rejected { reason } = &h.status {
        out.push(Line::from(Span::styled(
            format!("    rejected: {reason}"),
            theme.dim().add_modifier(Modifier::ITALIC),
        )));
    }
    out
}

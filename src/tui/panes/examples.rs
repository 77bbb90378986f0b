//! Top activating examples: each window as a token heatmap, strongest
//! first; the token cursor shows one token's exact value.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{View, scroll_offset};
use crate::tui::app::Pane;
use crate::tui::heatmap::{TokenHeatmap, display_token};

/// Draws the examples pane.
pub fn render(frame: &mut Frame, area: Rect, view: &View) {
    let cursor = view.app.cursor(Pane::Examples);
    let exemplars = view.state.exemplars.as_ref();
    let top = exemplars.map_or(&[][..], |e| &e.top[..]);
    let mut title = format!("Top activating examples ({})", top.len());
    if let Some(d) = exemplars.and_then(|e| e.density) {
        title.push_str(&format!(" · density {:.3}%", d * 100.0));
    }
    if let Some(record) = top.get(cursor.selected).map(|x| &x.record)
        && let (Some(tok), Some(v)) = (
            record.tokens.get(cursor.token),
            record.values.get(cursor.token),
        )
    {
        title.push_str(&format!(" · [{}] = {v:.2}", display_token(tok)));
    }
    let block = view.block(Pane::Examples, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if top.is_empty() {
        let msg = if view.state.inflight.is_empty() {
            "no examples yet"
        } else {
            "fetching examples…"
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, view.theme.dim())), inner);
        return;
    }
    let skip = scroll_offset(cursor.selected, inner.height as usize);
    let mut lines = Vec::new();
    for (i, exemplar) in top.iter().enumerate().skip(skip) {
        let record = &exemplar.record;
        let selected = i == cursor.selected && view.app.focus == Pane::Examples;
        let heat = TokenHeatmap::new(&record.tokens, &record.values, view.scale(), view.theme)
            .selected(selected.then_some(cursor.token));
        let mut spans = vec![Span::styled(
            format!("{:>5.1} ", record.max_value),
            if selected {
                view.theme.selection()
            } else {
                view.theme.dim()
            },
        )];
        let tokens = heat.spans();
        if cursor.expanded.contains(&i) {
            spans.extend(tokens);
        } else {
            // Collapsed rows show a window around the strongest token.
            let centre = heat.max_index().unwrap_or(0);
            let start = centre.saturating_sub(6);
            spans.extend(tokens.into_iter().skip(start));
        }
        lines.push(Line::from(spans));
        if let Some(origin) = exemplar
            .origin
            .as_deref()
            .filter(|_| cursor.expanded.contains(&i))
        {
            lines.push(Line::from(Span::styled(
                format!("      from {origin}"),
                view.theme.dim(),
            )));
        }
    }
    let mut paragraph = Paragraph::new(lines);
    if !cursor.expanded.is_empty() {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(paragraph, inner);
}

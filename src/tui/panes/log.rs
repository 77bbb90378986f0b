//! The refinement log: a timeline of the agent's steps and the researcher's
//! actions, newest at the bottom; Enter expands an entry's rationale.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{View, render_from, render_scrolled};
use crate::agent::Actor;
use crate::tui::app::Pane;

/// Formats driver time (ms since the epoch) as a UTC wall-clock time.
pub fn clock(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Draws the log pane.
pub fn render(frame: &mut Frame, area: Rect, view: &View) {
    let state = view.state;
    let cursor = view.app.cursor(Pane::Log);
    let focused = view.app.focus == Pane::Log;
    let block = view.block(Pane::Log, "Refinement log".to_string());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    let mut selected_line = 0;
    for (i, entry) in state.log.iter().enumerate() {
        let selected = focused && i == cursor.selected;
        if selected {
            selected_line = lines.len();
        }
        let who = match entry.actor {
            Actor::Agent => Span::styled("", view.theme.dim()),
            Actor::Researcher => Span::styled("you: ", view.theme.awaiting_badge()),
        };
        let mut line = Line::from(vec![
            Span::styled(
                format!("{} r{} ", clock(entry.at_ms), entry.round),
                view.theme.dim(),
            ),
            who,
            Span::styled(entry.text.clone(), view.theme.text()),
        ]);
        if selected {
            line = line.style(view.theme.selection());
        }
        lines.push(line);
        if let Some(why) = entry
            .rationale
            .as_ref()
            .filter(|_| cursor.expanded.contains(&i))
        {
            lines.push(Line::from(Span::styled(
                format!("         {why}"),
                view.theme.dim(),
            )));
        }
    }
    // Follow the newest entry unless the researcher is browsing the log.
    if focused {
        render_scrolled(frame, inner, lines, selected_line);
    } else {
        let skip = lines.len().saturating_sub(inner.height as usize);
        render_from(frame, inner, lines, skip);
    }
}

//! The exploration screen's panes. Each pane is a function from a read-only
//! [`View`] to a region of the frame; none of them changes state.

mod evaluation;
mod examples;
mod experiments;
mod hypotheses;
mod log;
mod status;

pub use examples::render as examples;
pub use experiments::render as experiments;
pub use hypotheses::render as hypotheses;
pub use log::render as log;
pub use status::{hints as hint_bar, render as status_bar};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Pane};
use super::theme::Theme;
use crate::agent::AgentState;

/// What the session is about; shown in the status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Model identifier.
    pub model: String,
    /// SAE identifier.
    pub sae: String,
    /// Hook the SAE reads.
    pub hook: String,
    /// The reasoner's spec (`heuristic`, `openai:gpt-4o`, ...).
    pub reasoner: String,
}

/// Everything a pane may read to draw itself.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The agent's state (live, or folded up to the replay cursor).
    pub state: &'a AgentState,
    /// The TUI's own state.
    pub app: &'a App,
    /// Colours.
    pub theme: &'a Theme,
    /// Session labels.
    pub info: &'a SessionInfo,
    /// Spinner frame counter, advanced by the run loop while work is in flight.
    pub tick: u64,
}

impl View<'_> {
    /// The bordered block of a pane, highlighted when focused.
    pub fn block(&self, pane: Pane, title: String) -> Block<'static> {
        let focused = self.app.focus == pane;
        Block::default()
            .borders(Borders::ALL)
            .border_type(if focused {
                BorderType::Thick
            } else {
                BorderType::Rounded
            })
            .border_style(self.theme.border(focused))
            .title(Span::styled(format!(" {title} "), self.theme.title()))
    }

    /// The scale heatmaps use: the feature's top activation, so every pane
    /// colours the same value the same way.
    pub fn scale(&self) -> f32 {
        if self.state.feature_max > 0.0 {
            self.state.feature_max
        } else {
            1.0
        }
    }
}

/// The first `max` characters of `text`, with an ellipsis if cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Draws wrapped lines into `area`, scrolled so that `selected_line` sits
/// in the upper half of the pane.
pub fn render_scrolled(
    frame: &mut Frame,
    area: Rect,
    lines: Vec<Line<'static>>,
    selected_line: usize,
) {
    let skip = selected_line.saturating_sub(area.height.saturating_sub(1) as usize / 2);
    render_from(frame, area, lines, skip);
}

/// Draws wrapped lines into `area`, starting `skip` lines down.
pub fn render_from(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>, skip: usize) {
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((skip as u16, 0)),
        area,
    );
}

/// Keeps row `selected` visible in a window of `height` rows.
pub fn scroll_offset(selected: usize, height: usize) -> usize {
    if height == 0 {
        return selected;
    }
    selected.saturating_sub(height - 1)
}

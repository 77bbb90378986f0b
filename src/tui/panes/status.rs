//! The status bar (what is being studied and where the agent stands) and
//! the hint bar (keys, generated from the command table).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::View;
use crate::agent::{GateMode, Phase};
use crate::tui::app::Mode;

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// Human name of the agent's phase.
pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::NotStarted => "starting",
        Phase::Observing => "observing",
        Phase::Hypothesising => "hypothesising",
        Phase::Designing => "designing",
        Phase::Running => "running",
        Phase::Updating => "updating",
        Phase::Reviewing => "reviewing",
        Phase::Concluding => "concluding",
        Phase::Done => "done",
    }
}

fn gate_name(gate: GateMode) -> &'static str {
    match gate {
        GateMode::Auto => "auto",
        GateMode::Review => "review",
        GateMode::Step => "step",
    }
}

/// Formats a token count compactly (`18.2k`).
pub fn tokens(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n >= 1_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// Draws the one-line status bar. What needs attention comes first, so
/// that a narrow terminal cuts the identity at the end, never the badges.
pub fn render(frame: &mut Frame, area: Rect, view: &View) {
    let s = view.state;
    let theme = view.theme;
    let plain = |text: String| Span::styled(text, theme.status_bar());
    let mut spans = Vec::new();
    if s.paused {
        spans.push(Span::styled(" ⏸ PAUSED ", theme.paused_badge()));
    }
    let waiting = s.pending_approvals().len();
    if waiting > 0 {
        spans.push(Span::styled(
            format!(" AWAITING APPROVAL ({waiting}) "),
            theme.awaiting_badge(),
        ));
    }
    if let Mode::Replay { at, total } = view.app.mode {
        spans.push(Span::styled(
            format!(" REPLAY {at}/{total} "),
            theme.awaiting_badge(),
        ));
    }
    let busy = !s.inflight.is_empty() && !s.is_done();
    let spinner = if busy {
        SPINNER[(view.tick % 8) as usize]
    } else {
        "·"
    };
    let cost = s
        .usage
        .cost_usd
        .map_or(String::new(), |c| format!(" · ${c:.3}"));
    let secs = s.elapsed_ms() / 1000;
    spans.push(plain(format!(
        " {spinner} {} │ round {}/{} · {} │ tokens {}{cost} · {:02}:{:02} │ feature {} · {} · {} · {} · {}",
        phase_name(s.phase),
        s.round,
        s.config.max_rounds,
        gate_name(s.config.gate),
        tokens(s.total_tokens()),
        secs / 60,
        secs % 60,
        s.feature,
        view.info.model,
        view.info.sae,
        view.info.hook,
        view.info.reasoner,
    )));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.status_bar()),
        area,
    );
}

/// Draws the bottom hint bar, or the flash message when there is one.
pub fn hints(frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
    let line = match &view.app.flash {
        Some(msg) => Line::from(Span::styled(format!(" {msg}"), theme.awaiting_badge())),
        None => {
            let replay = matches!(view.app.mode, Mode::Replay { .. });
            let mut spans = Vec::new();
            for (i, (key, label)) in view.app.keymap.hints(replay).into_iter().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(" · ", theme.dim()));
                }
                spans.push(Span::styled(key, theme.title()));
                spans.push(Span::styled(format!(" {label}"), theme.dim()));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

//! Lays the exploration screen out and draws overlays on top.
//!
//! Small terminals (80x24) get the four panes stacked two over two with
//! compact heights; large ones give the heatmap panes more room.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::Overlay;
use super::form::Form;
use super::panes::{self, View};

/// Where each pane goes for a given terminal size.
pub fn pane_areas(area: Rect) -> (Rect, [Rect; 4], Rect) {
    let [status, body, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let tall = body.height >= 40;
    let [top, experiments, log] = Layout::vertical(if tall {
        [
            Constraint::Percentage(38),
            Constraint::Percentage(40),
            Constraint::Percentage(22),
        ]
    } else {
        [
            Constraint::Percentage(40),
            Constraint::Percentage(35),
            Constraint::Percentage(25),
        ]
    })
    .areas(body);
    let [examples, hypotheses] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(top);
    (status, [examples, hypotheses, experiments, log], hints)
}

/// Draws one frame; records pane areas in the app for mouse hits.
pub fn draw(frame: &mut Frame, view: &View, areas_out: &mut [Rect; 4]) {
    let (status, areas, hints) = pane_areas(frame.area());
    *areas_out = areas;
    panes::status_bar(frame, status, view);
    panes::examples(frame, areas[0], view);
    panes::hypotheses(frame, areas[1], view);
    panes::experiments(frame, areas[2], view);
    panes::log(frame, areas[3], view);
    panes::hint_bar(frame, hints, view);
    match &view.app.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, view),
        Overlay::Form(form) => form_popup(frame, view, form),
        Overlay::ConfirmQuit => confirm_quit(frame, view),
    }
}

/// A rectangle centred in `area`, at most `w` x `h`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn popup(frame: &mut Frame, view: &View, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(view.theme.border(true))
        .title(Span::styled(format!(" {title} "), view.theme.title()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn help(frame: &mut Frame, view: &View) {
    let replay = matches!(view.app.mode, super::app::Mode::Replay { .. });
    let rows = view.app.keymap.help_rows(replay);
    let key_width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = rows
        .into_iter()
        .map(|(keys, doc)| {
            Line::from(vec![
                Span::styled(format!(" {keys:>key_width$}  "), view.theme.title()),
                Span::styled(doc, view.theme.text()),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        " Keys can be remapped in the config file's [keymap] table. Any key closes this.",
        view.theme.dim(),
    )));
    let h = lines.len() as u16 + 2;
    popup(frame, view, centred(frame.area(), 72, h), "Keys", lines);
}

fn form_popup(frame: &mut Frame, view: &View, form: &Form) {
    let mut lines = Vec::new();
    for (i, field) in form.fields.iter().enumerate() {
        let active = i == form.active;
        lines.push(Line::from(Span::styled(
            format!("{}{}", if active { "▸ " } else { "  " }, field.label),
            if active {
                view.theme.title()
            } else {
                view.theme.dim()
            },
        )));
        let (before, after): (String, String) = {
            let chars: Vec<char> = field.value.chars().collect();
            let cut = field.cursor().min(chars.len());
            (chars[..cut].iter().collect(), chars[cut..].iter().collect())
        };
        let mut spans = vec![Span::styled(format!("  {before}"), view.theme.text())];
        if active {
            spans.push(Span::styled("▏", view.theme.title()));
        }
        spans.push(Span::styled(after, view.theme.text()));
        lines.push(Line::from(spans));
        lines.push(Line::from(Span::styled(
            format!("  {}", field.hint),
            view.theme.dim(),
        )));
    }
    lines.push(Line::from(Span::styled(
        "Enter submit · Tab next field · Esc cancel",
        view.theme.dim(),
    )));
    let h = lines.len() as u16 + 4;
    let area = centred(frame.area(), 76, h);
    popup(frame, view, area, &form.title, lines);
}

fn confirm_quit(frame: &mut Frame, view: &View) {
    let lines = vec![
        Line::from(Span::styled(
            "The agent is still running.",
            view.theme.text(),
        )),
        Line::from(Span::styled(
            "Quit now? The session log is saved; `sage resume` continues it.",
            view.theme.text(),
        )),
        Line::from(Span::styled(
            "y quit · any other key stay",
            view.theme.dim(),
        )),
    ];
    popup(frame, view, centred(frame.area(), 70, 5), "Quit?", lines);
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::agent::{AgentState, Event, GateMode, UserAction};
    use crate::tui::app::{App, Mode};
    use crate::tui::keymap::Keymap;
    use crate::tui::panes::SessionInfo;
    use crate::tui::testing::scripted_session;
    use crate::tui::theme::Theme;

    fn info() -> SessionInfo {
        SessionInfo {
            model: "gpt2".into(),
            sae: "gpt2-small-res-jb".into(),
            hook: "blocks.8.hook_resid_pre".into(),
            reasoner: "heuristic".into(),
        }
    }

    fn render(state: &AgentState, app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
        let theme = Theme::load("dark", false).unwrap();
        let info = info();
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut areas = app.areas;
        let view = View {
            state,
            app,
            theme: &theme,
            info: &info,
            tick: 0,
        };
        terminal.draw(|f| draw(f, &view, &mut areas)).unwrap();
        app.areas = areas;
        terminal
    }

    fn screen(state: &AgentState, app: &mut App, w: u16, h: u16) -> String {
        render(state, app, w, h).backend().to_string()
    }

    fn live() -> App {
        App::new(Keymap::default(), Mode::Live)
    }

    #[test]
    fn exploration_screen_mid_session() {
        let (agent, _) = scripted_session(GateMode::Auto, 6);
        let state = agent.state();
        assert!(!state.hypotheses.is_empty() && !state.experiments.is_empty());
        insta::assert_snapshot!("mid_session_80x24", screen(state, &mut live(), 80, 24));
        insta::assert_snapshot!("mid_session_200x60", screen(state, &mut live(), 200, 60));
    }

    #[test]
    fn finished_session_shows_the_conclusion() {
        let (agent, _) = scripted_session(GateMode::Auto, usize::MAX);
        insta::assert_snapshot!(
            "concluded_200x60",
            screen(agent.state(), &mut live(), 200, 60)
        );
    }

    #[test]
    fn recorded_evaluation_is_charted_under_the_conclusion() {
        use crate::agent::{EvalMetric, EvalScore, Evaluation};
        let (mut agent, _) = scripted_session(GateMode::Auto, usize::MAX);
        let score = |explainer: &str, metric, value: Option<f64>| EvalScore {
            explainer: explainer.into(),
            metric,
            value,
            low: value,
            high: value,
        };
        let evaluation = Evaluation {
            judge: "heuristic rule (offline)".into(),
            seed: 0,
            scores: vec![
                score("sage", EvalMetric::Generative, Some(0.9)),
                score("sage", EvalMetric::Predictive, Some(0.85)),
                score("one-shot", EvalMetric::Generative, Some(0.4)),
                score("one-shot", EvalMetric::Predictive, None),
                score("control", EvalMetric::Generative, Some(0.1)),
            ],
        };
        let _ = agent.handle(Event::Evaluated {
            evaluation,
            at_ms: 1_764_000_200_000,
        });
        let text = screen(agent.state(), &mut live(), 200, 60);
        assert!(
            text.contains("EVALUATION · heuristic rule (offline)"),
            "{text}"
        );
        for row in [
            "sage     gen",
            "one-shot pred",
            "control  gen",
            "missing",
            "0.85",
        ] {
            assert!(text.contains(row), "{row} not in\n{text}");
        }
        insta::assert_snapshot!("evaluated_200x60", text);
    }

    #[test]
    fn approvals_and_pause_are_impossible_to_miss() {
        let (mut agent, _) = scripted_session(GateMode::Review, usize::MAX);
        assert!(!agent.state().pending_approvals().is_empty());
        let _ = agent.handle(Event::User {
            action: UserAction::Pause,
            at_ms: 1_764_000_100_000,
        });
        let text = screen(agent.state(), &mut live(), 80, 24);
        assert!(text.contains("PAUSED"), "{text}");
        assert!(text.contains("AWAITING APPROVAL"), "{text}");
        insta::assert_snapshot!("awaiting_paused_80x24", text);
    }

    #[test]
    fn help_overlay_lists_the_keymap() {
        let (agent, _) = scripted_session(GateMode::Auto, 3);
        let mut app = live();
        app.overlay = Overlay::Help;
        let text = screen(agent.state(), &mut app, 100, 40);
        for doc in [
            "pause or resume the agent",
            "approve the selected waiting item",
            "quit",
        ] {
            assert!(text.contains(doc), "missing {doc}: {text}");
        }
        insta::assert_snapshot!("help_100x40", text);
    }

    #[test]
    fn replay_mode_is_marked_in_the_status_bar() {
        let (agent, events) = scripted_session(GateMode::Auto, usize::MAX);
        let mut app = App::new(
            Keymap::default(),
            Mode::Replay {
                at: events.len(),
                total: events.len(),
            },
        );
        let text = screen(agent.state(), &mut app, 120, 30);
        assert!(
            text.contains(&format!("REPLAY {}/{}", events.len(), events.len())),
            "{text}"
        );
    }

    /// Text from a reasoner or server holding terminal escape sequences is
    /// drawn as cells with the control characters dropped: nothing the TUI
    /// writes can retitle or recolour the terminal.
    #[test]
    fn control_characters_in_agent_text_never_reach_the_screen() {
        let (agent, _) = scripted_session(GateMode::Auto, 6);
        let mut state = agent.state().clone();
        let hostile = "\u{1b}]0;owned\u{7}\u{1b}[31mRED\u{9b}2Jlabel";
        state.hypotheses[0].description = hostile.into();
        state.experiments[0].text = hostile.into();
        let terminal = render(&state, &mut live(), 200, 60);
        let buffer = terminal.backend().buffer();
        assert!(
            buffer
                .content()
                .iter()
                .all(|cell| !cell.symbol().contains(char::is_control)),
            "a control character reached a cell"
        );
        let text = terminal.backend().to_string();
        assert!(text.contains("RED"), "the printable part is shown: {text}");
    }

    #[test]
    fn pane_areas_tile_the_screen_at_both_sizes() {
        for (w, h) in [(80, 24), (200, 60)] {
            let area = Rect::new(0, 0, w, h);
            let (status, panes, hints) = pane_areas(area);
            assert_eq!((status.height, hints.height), (1, 1));
            let covered: u32 = panes.iter().map(|r| r.area()).sum();
            assert_eq!(covered, (w as u32) * (h as u32 - 2));
            assert!(panes.iter().all(|r| r.height >= 5), "{panes:?}");
        }
    }
}

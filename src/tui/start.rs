//! The start screen `sage` opens with: pick a preset (or the model + SAE
//! given on the command line), a feature (by index, at random, or from the
//! preset's list of live features), the reasoner and the gate mode; or pick
//! a recent session to resume or replay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::theme::Theme;
use crate::agent::GateMode;

/// Something the start screen can launch.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// Short name (`demo`, `synthetic`, `gpt2-small-res-jb`).
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// Why it cannot run here, with the command that fixes it; `None` if ready.
    pub missing: Option<String>,
    /// Features known to fire (index, max activation), strongest first.
    pub live_features: Vec<(u32, f32)>,
    /// Number of features, for random picks and range checks.
    pub n_features: u32,
    /// The feature suggested first (the demo's chosen default); `None`:
    /// the strongest live feature.
    pub default_feature: Option<u32>,
}

/// A saved session, as listed on the start screen.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentSession {
    /// Session id.
    pub id: String,
    /// One summary line (feature, status, label, date).
    pub summary: String,
}

/// How the feature to explore was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureChoice {
    /// A given index.
    Index(u32),
    /// Drawn at random from the live features (or all features) by the caller.
    Random,
}

/// What the researcher picked.
#[derive(Debug, Clone, PartialEq)]
pub enum StartChoice {
    /// Explore a feature in a new session.
    New {
        /// Index into the presets.
        preset: usize,
        /// The feature.
        feature: FeatureChoice,
        /// Reasoner spec.
        reasoner: String,
        /// Gate mode.
        gate: GateMode,
    },
    /// Continue an interrupted session.
    Resume(String),
    /// Watch a saved session, read-only.
    Replay(String),
    /// Leave.
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Preset,
    Feature,
    Reasoner,
    Gate,
    Sessions,
}

const ROWS: [Row; 5] = [
    Row::Preset,
    Row::Feature,
    Row::Reasoner,
    Row::Gate,
    Row::Sessions,
];

/// The start screen's state.
#[derive(Debug, Clone)]
pub struct StartScreen {
    presets: Vec<Preset>,
    recent: Vec<RecentSession>,
    preset: usize,
    feature: String,
    reasoner: String,
    gate: GateMode,
    row: usize,
    session: usize,
    live: usize,
    message: Option<String>,
}

impl StartScreen {
    /// A start screen over these presets and sessions, with a default reasoner.
    pub fn new(presets: Vec<Preset>, recent: Vec<RecentSession>, reasoner: &str) -> StartScreen {
        let mut screen = StartScreen {
            presets,
            recent,
            preset: 0,
            feature: String::new(),
            reasoner: reasoner.to_string(),
            gate: GateMode::Auto,
            row: 0,
            session: 0,
            live: 0,
            message: None,
        };
        screen.suggest_feature();
        screen
    }

    fn suggest_feature(&mut self) {
        self.live = 0;
        let preset = self.presets.get(self.preset);
        let suggested = preset.and_then(|p| {
            p.default_feature
                .or_else(|| p.live_features.first().map(|(f, _)| *f))
        });
        self.feature = suggested.map_or_else(|| "random".to_string(), |f| f.to_string());
    }

    /// Applies one key press; `Some` once the researcher has decided.
    pub fn handle_key(&mut self, key: &KeyEvent) -> Option<StartChoice> {
        self.message = None;
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(StartChoice::Quit);
        }
        let row = ROWS[self.row];
        match key.code {
            KeyCode::Esc => return Some(StartChoice::Quit),
            KeyCode::Char('q') if !matches!(row, Row::Feature | Row::Reasoner) => {
                return Some(StartChoice::Quit);
            }
            KeyCode::Tab | KeyCode::Down => self.row = (self.row + 1) % ROWS.len(),
            KeyCode::BackTab | KeyCode::Up => self.row = (self.row + ROWS.len() - 1) % ROWS.len(),
            KeyCode::Left | KeyCode::Right => {
                let forward = key.code == KeyCode::Right;
                self.cycle(row, forward);
            }
            KeyCode::Char('j') if row == Row::Sessions => self.cycle(row, true),
            KeyCode::Char('k') if row == Row::Sessions => self.cycle(row, false),
            KeyCode::Char('r') if row == Row::Sessions => {
                return self
                    .recent
                    .get(self.session)
                    .map(|s| StartChoice::Replay(s.id.clone()));
            }
            KeyCode::Enter if row == Row::Sessions => {
                return self
                    .recent
                    .get(self.session)
                    .map(|s| StartChoice::Resume(s.id.clone()));
            }
            KeyCode::Enter => return self.start(),
            KeyCode::Backspace => {
                if let Some(field) = self.text_field(row) {
                    field.pop();
                }
            }
            KeyCode::Char(c) => {
                if let Some(field) = self.text_field(row) {
                    field.push(c);
                }
            }
            _ => {}
        }
        None
    }

    fn text_field(&mut self, row: Row) -> Option<&mut String> {
        match row {
            Row::Feature => Some(&mut self.feature),
            Row::Reasoner => Some(&mut self.reasoner),
            _ => None,
        }
    }

    fn cycle(&mut self, row: Row, forward: bool) {
        let step = |i: usize, n: usize| {
            if n == 0 {
                0
            } else if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            }
        };
        match row {
            Row::Preset => {
                self.preset = step(self.preset, self.presets.len());
                self.suggest_feature();
            }
            Row::Feature => {
                // Arrows walk the preset's list of live features.
                let live = self
                    .presets
                    .get(self.preset)
                    .map_or(&[][..], |p| &p.live_features[..]);
                if !live.is_empty() {
                    self.live = step(self.live, live.len());
                    self.feature = live[self.live].0.to_string();
                }
            }
            Row::Gate => {
                let gates = [GateMode::Auto, GateMode::Review, GateMode::Step];
                let i = gates.iter().position(|g| *g == self.gate).unwrap_or(0);
                self.gate = gates[step(i, 3)];
            }
            Row::Sessions => self.session = step(self.session, self.recent.len()),
            Row::Reasoner => {}
        }
    }

    fn start(&mut self) -> Option<StartChoice> {
        let preset = self.presets.get(self.preset)?;
        if let Some(missing) = &preset.missing {
            self.message = Some(missing.clone());
            return None;
        }
        let text = self.feature.trim();
        let feature = if text.eq_ignore_ascii_case("random") || text.is_empty() {
            FeatureChoice::Random
        } else {
            match text.parse::<u32>() {
                Ok(i) if i < preset.n_features => FeatureChoice::Index(i),
                _ => {
                    self.message = Some(format!(
                        "feature must be `random` or an index in 0..={}",
                        preset.n_features.saturating_sub(1)
                    ));
                    return None;
                }
            }
        };
        if self.reasoner.trim().is_empty() {
            self.message = Some(
                "name a reasoner: `heuristic` or an LLM spec such as openai:gpt-4o-mini".into(),
            );
            return None;
        }
        Some(StartChoice::New {
            preset: self.preset,
            feature,
            reasoner: self.reasoner.trim().to_string(),
            gate: self.gate,
        })
    }

    /// Draws the start screen.
    pub fn render(&self, frame: &mut Frame, theme: &Theme) {
        let [top, body, bottom] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Min(0),
            Constraint::Length(2),
        ])
        .areas(frame.area());
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled("sage", theme.title())),
                Line::from(Span::styled(
                    "explain SAE features by experiment: pick what to explore",
                    theme.dim(),
                )),
            ]),
            top,
        );
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        self.render_form(frame, left, theme);
        self.render_sessions(frame, right, theme);
        let help = match &self.message {
            Some(m) => Line::from(Span::styled(m.clone(), theme.awaiting_badge())),
            None => Line::from(Span::styled(
                "↑↓ move · ←→ change · type to edit · Enter start (on a session: resume) · r replay · Esc quit",
                theme.dim(),
            )),
        };
        frame.render_widget(Paragraph::new(help).wrap(Wrap { trim: true }), bottom);
    }

    fn render_form(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border(ROWS[self.row] != Row::Sessions))
            .title(Span::styled(" New session ", theme.title()));
        let preset = self.presets.get(self.preset);
        let gate = match self.gate {
            GateMode::Auto => "auto: nothing waits for you",
            GateMode::Review => "review: hypotheses and the conclusion wait for approval",
            GateMode::Step => "step: every proposed step waits for approval",
        };
        let mut lines = Vec::new();
        let mut row = |r: Row, label: &str, value: String| {
            let active = ROWS[self.row] == r;
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{}{label:<9}", if active { "▸ " } else { "  " }),
                    if active { theme.title() } else { theme.dim() },
                ),
                Span::styled(
                    value,
                    if active {
                        theme.selection()
                    } else {
                        theme.text()
                    },
                ),
            ]));
        };
        row(
            Row::Preset,
            "preset",
            format!("◂ {} ▸", preset.map_or("none", |p| p.name.as_str())),
        );
        row(Row::Feature, "feature", self.feature.clone());
        row(Row::Reasoner, "reasoner", self.reasoner.clone());
        row(Row::Gate, "gate", format!("◂ {gate} ▸"));
        if let Some(p) = preset {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                p.description.clone(),
                theme.text(),
            )));
            if let Some(missing) = &p.missing {
                lines.push(Line::from(Span::styled(
                    missing.clone(),
                    theme.paused_badge(),
                )));
            }
            if !p.live_features.is_empty() {
                let list: Vec<String> = p
                    .live_features
                    .iter()
                    .take(12)
                    .map(|(f, m)| format!("{f} ({m:.1})"))
                    .collect();
                lines.push(Line::from(Span::styled(
                    format!("live features (←→ on feature): {}", list.join(", ")),
                    theme.dim(),
                )));
            }
        }
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            area,
        );
    }

    fn render_sessions(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let focused = ROWS[self.row] == Row::Sessions;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border(focused))
            .title(Span::styled(" Recent sessions ", theme.title()));
        let lines: Vec<Line> = if self.recent.is_empty() {
            vec![Line::from(Span::styled(
                "no saved sessions yet",
                theme.dim(),
            ))]
        } else {
            self.recent
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let style = if focused && i == self.session {
                        theme.selection()
                    } else {
                        theme.text()
                    };
                    Line::from(Span::styled(format!("{}  {}", s.id, s.summary), style))
                })
                .collect()
        };
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn presets() -> Vec<Preset> {
        vec![
            Preset {
                name: "demo".into(),
                description: "SmolLM2-135M-Instruct + the demo SAE".into(),
                missing: Some(
                    "the demo pack is not installed: run `bash scripts/install-demo-pack.sh`"
                        .into(),
                ),
                live_features: vec![(12, 8.5), (40, 6.0)],
                n_features: 2048,
                default_feature: None,
            },
            Preset {
                name: "synthetic".into(),
                description: "built-in features with known rules".into(),
                missing: None,
                live_features: vec![(3, 1.0), (5, 1.0)],
                n_features: 25,
                default_feature: None,
            },
        ]
    }

    fn press(screen: &mut StartScreen, code: KeyCode) -> Option<StartChoice> {
        screen.handle_key(&KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn a_missing_pack_names_the_fix_instead_of_starting() {
        let mut s = StartScreen::new(presets(), Vec::new(), "heuristic");
        assert_eq!(press(&mut s, KeyCode::Enter), None);
        assert!(
            s.message
                .as_deref()
                .unwrap_or("")
                .contains("install-demo-pack.sh")
        );
    }

    #[test]
    fn choosing_a_preset_feature_and_gate() {
        let mut s = StartScreen::new(presets(), Vec::new(), "heuristic");
        press(&mut s, KeyCode::Right);
        assert_eq!(
            s.feature, "3",
            "switching preset suggests its strongest live feature"
        );
        press(&mut s, KeyCode::Down);
        press(&mut s, KeyCode::Right);
        assert_eq!(s.feature, "5");
        press(&mut s, KeyCode::Down);
        press(&mut s, KeyCode::Down);
        press(&mut s, KeyCode::Right);
        assert_eq!(
            press(&mut s, KeyCode::Enter),
            Some(StartChoice::New {
                preset: 1,
                feature: FeatureChoice::Index(5),
                reasoner: "heuristic".into(),
                gate: GateMode::Review,
            })
        );
    }

    #[test]
    fn a_preset_with_a_default_feature_suggests_it_first() {
        let mut with_default = presets();
        with_default[1].default_feature = Some(7);
        let mut s = StartScreen::new(with_default, Vec::new(), "heuristic");
        press(&mut s, KeyCode::Right);
        assert_eq!(s.feature, "7");
    }

    #[test]
    fn typed_features_are_range_checked_and_random_is_allowed() {
        let mut s = StartScreen::new(presets(), Vec::new(), "heuristic");
        press(&mut s, KeyCode::Right);
        press(&mut s, KeyCode::Down);
        press(&mut s, KeyCode::Backspace);
        for c in "99".chars() {
            press(&mut s, KeyCode::Char(c));
        }
        assert_eq!(press(&mut s, KeyCode::Enter), None);
        assert!(s.message.as_deref().unwrap_or("").contains("0..=24"));
        press(&mut s, KeyCode::Backspace);
        press(&mut s, KeyCode::Backspace);
        for c in "random".chars() {
            press(&mut s, KeyCode::Char(c));
        }
        assert!(matches!(
            press(&mut s, KeyCode::Enter),
            Some(StartChoice::New {
                feature: FeatureChoice::Random,
                ..
            })
        ));
    }

    #[test]
    fn recent_sessions_resume_or_replay() {
        let recent = vec![
            RecentSession {
                id: "a".into(),
                summary: "feature 3".into(),
            },
            RecentSession {
                id: "b".into(),
                summary: "feature 5".into(),
            },
        ];
        let mut s = StartScreen::new(presets(), recent, "heuristic");
        press(&mut s, KeyCode::BackTab);
        press(&mut s, KeyCode::Char('j'));
        assert_eq!(
            press(&mut s, KeyCode::Char('r')),
            Some(StartChoice::Replay("b".into()))
        );
        assert_eq!(
            press(&mut s, KeyCode::Enter),
            Some(StartChoice::Resume("b".into()))
        );
        assert_eq!(press(&mut s, KeyCode::Esc), Some(StartChoice::Quit));
    }

    #[test]
    fn renders_at_80x24() {
        let s = StartScreen::new(presets(), Vec::new(), "heuristic");
        let theme = Theme::load("dark", false).unwrap();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(|f| s.render(f, &theme)).unwrap();
        insta::assert_snapshot!("start_80x24", terminal.backend().to_string());
    }
}

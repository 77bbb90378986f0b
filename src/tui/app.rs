//! The TUI's own state (focus, selections, overlays) and how commands turn
//! into agent events. Pure: no terminal, no channels, so every key path is
//! unit-testable; the run loop executes the [`AppAction`]s it returns.

use std::collections::BTreeSet;

use crossterm::event::KeyEvent;
use ratatui::layout::{Position, Rect};

use super::form::{Field, Form, FormOutcome, FormPurpose, parse_firing};
use super::keymap::{Command, Keymap};
use crate::agent::{
    AgentState, ExperimentKind, ExperimentStatus, GateMode, HypothesisStatus, Prediction, Target,
    UserAction,
};

/// The four panes of the exploration screen, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    /// Top activating examples.
    Examples,
    /// The hypothesis list.
    Hypotheses,
    /// Designed experiments with their heatmaps.
    Experiments,
    /// The refinement log.
    Log,
}

impl Pane {
    /// Focus order.
    pub const ALL: [Pane; 4] = [
        Pane::Examples,
        Pane::Hypotheses,
        Pane::Experiments,
        Pane::Log,
    ];

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// Whether the screen shows a live session or scrubs a saved one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The agent is running; commands become events.
    Live,
    /// Read-only: showing the state after `at` of `total` events.
    Replay {
        /// Events folded so far.
        at: usize,
        /// Events in the log.
        total: usize,
    },
}

/// A modal layer over the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Nothing: keys go to the panes.
    None,
    /// The key help.
    Help,
    /// A form being filled in.
    Form(Form),
    /// "Quit while the agent runs?"
    ConfirmQuit,
}

/// What the run loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum AppAction {
    /// Send the researcher's action to the agent (it is logged as an event).
    Send(UserAction),
    /// Replay: show the state after this many events.
    Seek(usize),
    /// Replay: jump to the start of the next (`true`) or previous round.
    SeekRound(bool),
    /// Suspend the screen and edit this text in $EDITOR; the purpose says
    /// where the result goes.
    OpenEditor(FormPurpose, Vec<Field>),
    /// Leave the TUI.
    Quit,
}

/// Per-pane cursor: selected row, token cursor, expanded rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneCursor {
    /// Selected row.
    pub selected: usize,
    /// Token under the cursor in the selected row's heatmap.
    pub token: usize,
    /// Rows shown expanded.
    pub expanded: BTreeSet<usize>,
}

/// Everything the TUI remembers between frames.
#[derive(Debug, Clone)]
pub struct App {
    /// The keymap in force.
    pub keymap: Keymap,
    /// Live or replay.
    pub mode: Mode,
    /// Focused pane.
    pub focus: Pane,
    /// One cursor per pane, in `Pane::ALL` order.
    pub cursors: [PaneCursor; 4],
    /// The modal layer.
    pub overlay: Overlay,
    /// A one-line message for the status area (errors, "read-only").
    pub flash: Option<String>,
    /// Where each pane was last drawn, for mouse clicks.
    pub areas: [Rect; 4],
    /// Whether the experiments pane keeps the newest experiment selected
    /// as the agent adds them: on until the researcher moves up from the
    /// newest, on again when they come back down to it.
    pub follow_newest: bool,
}

impl App {
    /// A fresh UI state.
    pub fn new(keymap: Keymap, mode: Mode) -> App {
        App {
            keymap,
            mode,
            focus: Pane::Examples,
            cursors: Default::default(),
            overlay: Overlay::None,
            flash: None,
            areas: [Rect::default(); 4],
            follow_newest: true,
        }
    }

    /// Brings the UI up to a new agent state: in a live session that is
    /// being followed, the newest experiment becomes the selected one, so
    /// the pane scrolls to it.
    pub fn follow(&mut self, state: &AgentState) {
        if !matches!(self.mode, Mode::Live) || !self.follow_newest {
            return;
        }
        let newest = state.experiments.len().saturating_sub(1);
        let cursor = self.cursor_mut(Pane::Experiments);
        if cursor.selected != newest {
            cursor.selected = newest;
            cursor.token = 0;
        }
    }

    /// The cursor of a pane.
    pub fn cursor(&self, pane: Pane) -> &PaneCursor {
        &self.cursors[pane.index()]
    }

    fn cursor_mut(&mut self, pane: Pane) -> &mut PaneCursor {
        &mut self.cursors[pane.index()]
    }

    /// Handles one key press against the current agent state.
    pub fn handle_key(&mut self, key: &KeyEvent, state: &AgentState) -> Vec<AppAction> {
        match &mut self.overlay {
            Overlay::Form(form) => match form.handle_key(key) {
                FormOutcome::Editing => Vec::new(),
                FormOutcome::Cancelled => {
                    self.overlay = Overlay::None;
                    Vec::new()
                }
                FormOutcome::Submitted(values) => {
                    let purpose = form.purpose;
                    self.overlay = Overlay::None;
                    self.submit(purpose, values)
                }
            },
            Overlay::ConfirmQuit => {
                self.overlay = Overlay::None;
                match key.code {
                    crossterm::event::KeyCode::Char('y' | 'Y') => vec![AppAction::Quit],
                    _ => Vec::new(),
                }
            }
            Overlay::Help => {
                self.overlay = Overlay::None;
                Vec::new()
            }
            Overlay::None => match self.keymap.lookup(key) {
                Some(command) => self.run_command(command, state),
                None => Vec::new(),
            },
        }
    }

    /// Runs one command (from a key or a mouse gesture).
    pub fn run_command(&mut self, command: Command, state: &AgentState) -> Vec<AppAction> {
        self.flash = None;
        if let Mode::Replay { at, total } = self.mode
            && let Some(actions) = self.replay_command(command, at, total)
        {
            return actions;
        }
        match command {
            Command::FocusNext => self.focus = Pane::ALL[(self.focus.index() + 1) % 4],
            Command::FocusPrev => self.focus = Pane::ALL[(self.focus.index() + 3) % 4],
            Command::Down => self.move_selection(1, state),
            Command::Up => self.move_selection(-1, state),
            Command::Left => self.move_token(-1, state),
            Command::Right => self.move_token(1, state),
            Command::Expand => {
                let cursor = self.cursor_mut(self.focus);
                let row = cursor.selected;
                if !cursor.expanded.remove(&row) {
                    cursor.expanded.insert(row);
                }
            }
            Command::Help => self.overlay = Overlay::Help,
            Command::Quit => {
                if self.mode == Mode::Live && !state.is_done() {
                    self.overlay = Overlay::ConfirmQuit;
                } else {
                    return vec![AppAction::Quit];
                }
            }
            replay_only if replay_only.is_replay() => {
                self.flash = Some("replay keys work in replay mode".into())
            }
            _ if matches!(self.mode, Mode::Replay { .. }) => {
                self.flash = Some("replay is read-only".into());
            }
            _ => return self.steer(command, state),
        }
        Vec::new()
    }

    fn replay_command(
        &mut self,
        command: Command,
        at: usize,
        total: usize,
    ) -> Option<Vec<AppAction>> {
        let target = match command {
            Command::StepBack => at.saturating_sub(1),
            Command::StepForward => (at + 1).min(total),
            Command::First => 0,
            Command::Last => total,
            Command::RoundBack => return Some(vec![AppAction::SeekRound(false)]),
            Command::RoundForward => return Some(vec![AppAction::SeekRound(true)]),
            _ => return None,
        };
        Some(vec![AppAction::Seek(target)])
    }

    /// Commands that change the agent: each becomes a `UserAction`.
    fn steer(&mut self, command: Command, state: &AgentState) -> Vec<AppAction> {
        let send = |a| vec![AppAction::Send(a)];
        match command {
            Command::TogglePause => send(if state.paused {
                UserAction::Resume
            } else {
                UserAction::Pause
            }),
            Command::CycleGate => send(UserAction::SetGate {
                mode: match state.config.gate {
                    GateMode::Auto => GateMode::Review,
                    GateMode::Review => GateMode::Step,
                    GateMode::Step => GateMode::Auto,
                },
            }),
            Command::ConcludeNow => send(UserAction::ConcludeNow),
            Command::Approve => match self.approvable(state) {
                Some(target) => send(UserAction::Approve { target }),
                None => {
                    self.flash = Some("nothing is waiting for approval".into());
                    Vec::new()
                }
            },
            Command::Reject => {
                match self
                    .selected_target(state)
                    .or_else(|| self.approvable(state))
                {
                    Some(target) => {
                        self.overlay = Overlay::Form(Form::new(
                            format!("Reject {}", target_name(target)),
                            FormPurpose::Reject(target),
                            vec![Field::new("reason", "the reasoner is told this", "")],
                        ));
                    }
                    None => self.flash = Some("select a hypothesis or experiment to reject".into()),
                }
                Vec::new()
            }
            Command::Edit | Command::EditExternal => match self.edit_form(state) {
                Some(form) if command == Command::EditExternal => {
                    vec![AppAction::OpenEditor(form.purpose, form.fields)]
                }
                Some(form) => {
                    self.overlay = Overlay::Form(form);
                    Vec::new()
                }
                None => {
                    self.flash =
                        Some("select a hypothesis, or an experiment that has not run yet".into());
                    Vec::new()
                }
            },
            Command::NewHypothesis => {
                self.overlay = Overlay::Form(Form::new(
                    "New hypothesis",
                    FormPurpose::NewHypothesis,
                    vec![
                        Field::new("description", "what the feature responds to", ""),
                        Field::new("prediction", "where it should and should not fire", ""),
                    ],
                ));
                Vec::new()
            }
            Command::NewExperiment => {
                match self.selected_hypothesis(state) {
                    Some(h) => {
                        self.overlay = Overlay::Form(Form::new(
                            format!("New experiment for {h}"),
                            FormPurpose::NewExperiment(h),
                            vec![
                                Field::new("text", "the text to run", ""),
                                Field::new(
                                    "fires on",
                                    "substrings that should fire, separated by | (empty: control)",
                                    "",
                                ),
                            ],
                        ));
                    }
                    None => self.flash = Some("there is no hypothesis to test yet".into()),
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Turns submitted form values into agent actions.
    pub fn submit(&mut self, purpose: FormPurpose, values: Vec<String>) -> Vec<AppAction> {
        let get = |i: usize| values.get(i).cloned().unwrap_or_default();
        let action = match purpose {
            FormPurpose::Reject(target) => UserAction::Reject {
                target,
                reason: get(0).trim().to_string(),
            },
            FormPurpose::EditHypothesis(id) => UserAction::EditHypothesis {
                id,
                description: Some(get(0)).filter(|s| !s.trim().is_empty()),
                prediction: Some(get(1)).filter(|s| !s.trim().is_empty()),
            },
            FormPurpose::EditExperiment(id) => UserAction::EditExperiment {
                id,
                text: get(0),
                prediction: Prediction {
                    firing: parse_firing(&get(1)),
                    strength: None,
                },
            },
            FormPurpose::NewHypothesis => UserAction::AddHypothesis {
                description: get(0),
                prediction: get(1),
            },
            FormPurpose::NewExperiment(hypothesis) => {
                let firing = parse_firing(&get(1));
                UserAction::AddExperiment {
                    hypothesis,
                    text: get(0),
                    kind: if firing.is_empty() {
                        ExperimentKind::Control
                    } else {
                        ExperimentKind::Positive
                    },
                    prediction: Prediction {
                        firing,
                        strength: None,
                    },
                }
            }
        };
        if let Some(problem) = empty_field(&action) {
            self.flash = Some(problem.into());
            return Vec::new();
        }
        vec![AppAction::Send(action)]
    }

    fn edit_form(&self, state: &AgentState) -> Option<Form> {
        match self.focus {
            Pane::Experiments => {
                let e = state
                    .experiments
                    .get(self.cursor(Pane::Experiments).selected)?;
                let editable = matches!(
                    e.status,
                    ExperimentStatus::Proposed
                        | ExperimentStatus::AwaitingApproval
                        | ExperimentStatus::Approved
                );
                editable.then(|| {
                    Form::new(
                        format!("Edit {}", e.id),
                        FormPurpose::EditExperiment(e.id),
                        vec![
                            Field::new("text", "the text to run", e.text.clone()),
                            Field::new(
                                "fires on",
                                "substrings that should fire, separated by | (empty: control)",
                                e.prediction.firing.join(" | "),
                            ),
                        ],
                    )
                })
            }
            _ => {
                let h = state.hypothesis(self.selected_hypothesis(state)?)?;
                Some(Form::new(
                    format!("Edit {}", h.id),
                    FormPurpose::EditHypothesis(h.id),
                    vec![
                        Field::new(
                            "description",
                            "what the feature responds to",
                            h.description.clone(),
                        ),
                        Field::new(
                            "prediction",
                            "where it should and should not fire",
                            h.prediction.clone(),
                        ),
                    ],
                ))
            }
        }
    }

    /// The hypothesis the researcher is pointing at: the selected one in the
    /// hypotheses pane, the tested one in the experiments pane, else the
    /// newest open one.
    pub fn selected_hypothesis(&self, state: &AgentState) -> Option<crate::agent::HypothesisId> {
        match self.focus {
            Pane::Hypotheses => state
                .hypotheses
                .get(self.cursor(Pane::Hypotheses).selected)
                .map(|h| h.id),
            Pane::Experiments => state
                .experiments
                .get(self.cursor(Pane::Experiments).selected)
                .map(|e| e.hypothesis),
            _ => None,
        }
        .or_else(|| {
            state
                .hypotheses
                .iter()
                .rev()
                .find(|h| h.status.is_open() || h.status == HypothesisStatus::Proposed)
                .map(|h| h.id)
        })
    }

    fn selected_target(&self, state: &AgentState) -> Option<Target> {
        match self.focus {
            Pane::Hypotheses => state
                .hypotheses
                .get(self.cursor(Pane::Hypotheses).selected)
                .map(|h| Target::Hypothesis(h.id)),
            Pane::Experiments => state
                .experiments
                .get(self.cursor(Pane::Experiments).selected)
                .map(|e| Target::Experiment(e.id)),
            _ => None,
        }
    }

    /// The item `a` approves: the selected one if it waits, else the oldest waiting.
    fn approvable(&self, state: &AgentState) -> Option<Target> {
        let waiting = state.pending_approvals();
        self.selected_target(state)
            .filter(|t| waiting.contains(t))
            .or_else(|| waiting.first().copied())
    }

    fn rows(&self, pane: Pane, state: &AgentState) -> usize {
        match pane {
            Pane::Examples => state.exemplars.as_ref().map_or(0, |e| e.top.len()),
            Pane::Hypotheses => state.hypotheses.len(),
            Pane::Experiments => state.experiments.len(),
            Pane::Log => state.log.len(),
        }
    }

    fn move_selection(&mut self, delta: isize, state: &AgentState) {
        let rows = self.rows(self.focus, state);
        let cursor = self.cursor_mut(self.focus);
        let max = rows.saturating_sub(1) as isize;
        cursor.selected = (cursor.selected as isize + delta).clamp(0, max) as usize;
        cursor.token = 0;
        if self.focus == Pane::Experiments {
            self.follow_newest = self.cursor(Pane::Experiments).selected as isize == max;
        }
    }

    fn move_token(&mut self, delta: isize, state: &AgentState) {
        let tokens = match self.focus {
            Pane::Examples => state
                .exemplars
                .as_ref()
                .and_then(|e| e.top.get(self.cursor(Pane::Examples).selected))
                .map_or(0, |x| x.record.tokens.len()),
            Pane::Experiments => state
                .experiments
                .get(self.cursor(Pane::Experiments).selected)
                .and_then(|e| e.result.as_ref())
                .map_or(0, |r| r.tokens.len()),
            _ => 0,
        };
        let cursor = self.cursor_mut(self.focus);
        let max = tokens.saturating_sub(1) as isize;
        cursor.token = (cursor.token as isize + delta).clamp(0, max) as usize;
    }

    /// Mouse: a click focuses the pane under it; the wheel scrolls it.
    pub fn handle_mouse(
        &mut self,
        column: u16,
        row: u16,
        scroll: Option<isize>,
        state: &AgentState,
    ) {
        let hit = Pane::ALL
            .into_iter()
            .zip(self.areas)
            .find(|(_, area)| area.contains(Position::new(column, row)));
        if let Some((pane, _)) = hit {
            self.focus = pane;
            if let Some(delta) = scroll {
                self.move_selection(delta, state);
            }
        }
    }
}

fn target_name(target: Target) -> String {
    match target {
        Target::Hypothesis(id) => id.to_string(),
        Target::Experiment(id) => id.to_string(),
        Target::Conclusion => "the conclusion".into(),
    }
}

/// Refuses actions with a required field left blank.
fn empty_field(action: &UserAction) -> Option<&'static str> {
    match action {
        UserAction::Reject { reason, .. } if reason.is_empty() => {
            Some("a rejection needs a reason: the reasoner is told it")
        }
        UserAction::AddHypothesis { description, .. } if description.trim().is_empty() => {
            Some("a hypothesis needs a description")
        }
        UserAction::AddExperiment { text, .. } | UserAction::EditExperiment { text, .. }
            if text.trim().is_empty() =>
        {
            Some("an experiment needs a text")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::agent::{ExperimentId, HypothesisId};
    use crate::tui::testing::scripted_session;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn code(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(app: &mut App, state: &AgentState, text: &str) {
        for c in text.chars() {
            assert!(app.handle_key(&key(c), state).is_empty());
        }
    }

    fn waiting_state() -> AgentState {
        scripted_session(GateMode::Review, usize::MAX)
            .0
            .state()
            .clone()
    }

    #[test]
    fn approve_picks_the_selected_waiting_item_or_the_oldest() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Live);
        let h = |n| Target::Hypothesis(HypothesisId(n));
        assert_eq!(
            app.handle_key(&key('a'), &state),
            vec![AppAction::Send(UserAction::Approve { target: h(1) })]
        );
        app.handle_key(&code(KeyCode::Tab), &state);
        app.handle_key(&key('j'), &state);
        assert_eq!(
            app.handle_key(&key('a'), &state),
            vec![AppAction::Send(UserAction::Approve { target: h(2) })]
        );
    }

    #[test]
    fn reject_asks_for_a_reason_and_sends_it() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Live);
        app.handle_key(&code(KeyCode::Tab), &state);
        assert!(app.handle_key(&key('x'), &state).is_empty());
        assert!(matches!(app.overlay, Overlay::Form(_)));
        // An empty reason is refused, not sent.
        assert!(app.handle_key(&code(KeyCode::Enter), &state).is_empty());
        assert!(app.flash.as_deref().unwrap_or("").contains("reason"));
        app.handle_key(&key('x'), &state);
        typed(&mut app, &state, "too broad");
        assert_eq!(
            app.handle_key(&code(KeyCode::Enter), &state),
            vec![AppAction::Send(UserAction::Reject {
                target: Target::Hypothesis(HypothesisId(1)),
                reason: "too broad".into()
            })]
        );
        assert_eq!(app.overlay, Overlay::None);
    }

    #[test]
    fn editing_a_hypothesis_in_place_sends_the_new_wording() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Live);
        app.handle_key(&code(KeyCode::Tab), &state);
        app.handle_key(&key('e'), &state);
        for _ in 0..4 {
            app.handle_key(&code(KeyCode::Backspace), &state);
        }
        typed(&mut app, &state, "\"on\"");
        let sent = app.handle_key(&code(KeyCode::Enter), &state);
        let AppAction::Send(UserAction::EditHypothesis {
            id, description, ..
        }) = &sent[0]
        else {
            panic!("expected an edit, got {sent:?}");
        };
        assert_eq!(*id, HypothesisId(1));
        assert_eq!(
            description.as_deref(),
            Some("month names after \"in\" or \"on\"")
        );
    }

    #[test]
    fn pending_experiments_can_be_edited_and_new_ones_injected() {
        let (agent, _) = scripted_session(GateMode::Step, usize::MAX);
        let state = agent.state().clone();
        let mut app = App::new(Keymap::default(), Mode::Live);
        // Step gate: hypotheses wait first; approve them all.
        let approvals: Vec<_> = state.pending_approvals();
        assert!(!approvals.is_empty());
        app.focus = Pane::Hypotheses;
        let sent = app.handle_key(&key('n'), &state);
        assert!(sent.is_empty());
        typed(&mut app, &state, "Due in May.");
        app.handle_key(&code(KeyCode::Tab), &state);
        typed(&mut app, &state, "May");
        assert_eq!(
            app.handle_key(&code(KeyCode::Enter), &state),
            vec![AppAction::Send(UserAction::AddExperiment {
                hypothesis: HypothesisId(1),
                text: "Due in May.".into(),
                prediction: Prediction {
                    firing: vec!["May".into()],
                    strength: None
                },
                kind: ExperimentKind::Positive,
            })]
        );
        let (finished, _) = scripted_session(GateMode::Auto, 6);
        let mut state = finished.state().clone();
        state.experiments[0].status = ExperimentStatus::AwaitingApproval;
        app.focus = Pane::Experiments;
        app.handle_key(&key('e'), &state);
        app.handle_key(&code(KeyCode::Tab), &state);
        app.handle_key(
            &KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
            &state,
        );
        let sent = app.handle_key(&code(KeyCode::Enter), &state);
        assert_eq!(
            sent,
            vec![AppAction::Send(UserAction::EditExperiment {
                id: ExperimentId(1),
                text: state.experiments[0].text.clone(),
                prediction: Prediction::default(),
            })]
        );
    }

    #[test]
    fn pause_gate_conclude_and_new_hypothesis_become_events() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Live);
        assert_eq!(
            app.handle_key(&key(' '), &state),
            vec![AppAction::Send(UserAction::Pause)]
        );
        let mut paused = state.clone();
        paused.paused = true;
        assert_eq!(
            app.handle_key(&key(' '), &paused),
            vec![AppAction::Send(UserAction::Resume)]
        );
        assert_eq!(
            app.handle_key(&key('g'), &state),
            vec![AppAction::Send(UserAction::SetGate {
                mode: GateMode::Step
            })]
        );
        assert_eq!(
            app.handle_key(&key('c'), &state),
            vec![AppAction::Send(UserAction::ConcludeNow)]
        );
        app.handle_key(&key('h'), &state);
        typed(&mut app, &state, "digits");
        assert_eq!(
            app.handle_key(&code(KeyCode::Enter), &state),
            vec![AppAction::Send(UserAction::AddHypothesis {
                description: "digits".into(),
                prediction: String::new()
            })]
        );
    }

    #[test]
    fn quitting_a_running_session_asks_first() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Live);
        assert!(app.handle_key(&key('q'), &state).is_empty());
        assert_eq!(app.overlay, Overlay::ConfirmQuit);
        assert!(app.handle_key(&key('n'), &state).is_empty());
        app.handle_key(&key('q'), &state);
        assert_eq!(app.handle_key(&key('y'), &state), vec![AppAction::Quit]);
        let done = scripted_session(GateMode::Auto, usize::MAX)
            .0
            .state()
            .clone();
        assert_eq!(app.handle_key(&key('q'), &done), vec![AppAction::Quit]);
    }

    #[test]
    fn replay_is_read_only_and_scrubs() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Replay { at: 5, total: 9 });
        assert_eq!(app.handle_key(&key(']'), &state), vec![AppAction::Seek(6)]);
        assert_eq!(app.handle_key(&key('['), &state), vec![AppAction::Seek(4)]);
        assert_eq!(
            app.handle_key(&code(KeyCode::Home), &state),
            vec![AppAction::Seek(0)]
        );
        assert_eq!(
            app.handle_key(&code(KeyCode::End), &state),
            vec![AppAction::Seek(9)]
        );
        assert_eq!(
            app.handle_key(&key('}'), &state),
            vec![AppAction::SeekRound(true)]
        );
        assert!(app.handle_key(&key('a'), &state).is_empty());
        assert_eq!(app.flash.as_deref(), Some("replay is read-only"));
        assert_eq!(app.handle_key(&key('q'), &state), vec![AppAction::Quit]);
    }

    #[test]
    fn mouse_clicks_focus_the_pane_under_the_pointer() {
        let state = waiting_state();
        let mut app = App::new(Keymap::default(), Mode::Live);
        app.areas = [
            Rect::new(0, 1, 40, 10),
            Rect::new(40, 1, 40, 10),
            Rect::new(0, 11, 80, 6),
            Rect::new(0, 17, 80, 6),
        ];
        app.handle_mouse(50, 3, None, &state);
        assert_eq!(app.focus, Pane::Hypotheses);
        app.handle_mouse(50, 3, Some(1), &state);
        assert_eq!(app.cursor(Pane::Hypotheses).selected, 1);
    }

    #[test]
    fn the_experiments_pane_follows_the_newest_experiment_until_the_user_scrolls_up() {
        let full = scripted_session(GateMode::Auto, usize::MAX)
            .0
            .state()
            .clone();
        let fewer = scripted_session(GateMode::Auto, 6).0.state().clone();
        assert!(!fewer.experiments.is_empty());
        assert!(fewer.experiments.len() < full.experiments.len());

        let mut app = App::new(Keymap::default(), Mode::Live);
        app.focus = Pane::Experiments;
        app.follow(&fewer);
        assert_eq!(
            app.cursor(Pane::Experiments).selected,
            fewer.experiments.len() - 1
        );
        app.follow(&full);
        let newest = full.experiments.len() - 1;
        assert_eq!(app.cursor(Pane::Experiments).selected, newest, "followed");

        app.handle_key(&code(KeyCode::Up), &full);
        assert_eq!(app.cursor(Pane::Experiments).selected, newest - 1);
        app.follow(&full);
        assert_eq!(
            app.cursor(Pane::Experiments).selected,
            newest - 1,
            "the user's place is kept"
        );
        app.handle_key(&code(KeyCode::Down), &full);
        assert!(app.follow_newest, "back at the newest, following again");

        let mut replay = App::new(Keymap::default(), Mode::Replay { at: 1, total: 2 });
        replay.follow(&full);
        assert_eq!(
            replay.cursor(Pane::Experiments).selected,
            0,
            "replay never jumps"
        );
    }
}

//! The TUI's event loop: one biased `select!` over terminal input, agent
//! state snapshots and a frame interval. The agent runs elsewhere (the
//! session driver); this loop only draws and forwards the researcher's
//! actions, so model and network work never block input or drawing.

use std::io::Write;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
    MouseEventKind,
};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{mpsc, watch};

use super::app::{App, AppAction, Mode};
use super::form::Field;
use super::keymap::Keymap;
use super::panes::{SessionInfo, View};
use super::replay::ReplayCursor;
use super::screen;
use super::start::{StartChoice, StartScreen};
use super::theme::Theme;
use crate::agent::{AgentState, Event, UserAction};

/// Why the TUI stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be read or written.
    #[error("terminal error: {0}")]
    Terminal(#[from] std::io::Error),
    /// $EDITOR could not be run.
    #[error("could not run the editor `{editor}`: {reason}; set $EDITOR to an editor on your PATH")]
    Editor {
        /// The editor command.
        editor: String,
        /// What went wrong.
        reason: String,
    },
}

/// How the TUI looks and which keys it binds.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Colours.
    pub theme: Theme,
    /// Key bindings.
    pub keymap: Keymap,
    /// What the session studies, for the status bar.
    pub info: SessionInfo,
}

/// Frame-time and key-to-screen latency measurements from one TUI run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FrameStats {
    /// Frames drawn.
    pub frames: u64,
    /// Mean time to draw a frame, in microseconds.
    pub mean_frame_us: f64,
    /// Slowest frame, in microseconds.
    pub max_frame_us: u64,
    /// Keys handled.
    pub keys: u64,
    /// Mean time from a key arriving to its frame being on screen, µs.
    pub mean_key_to_screen_us: f64,
    /// Slowest key-to-screen time, µs.
    pub max_key_to_screen_us: u64,
    #[serde(skip)]
    frame_total_us: u64,
    #[serde(skip)]
    key_total_us: u64,
}

impl FrameStats {
    fn frame(&mut self, took: Duration) {
        let us = took.as_micros() as u64;
        self.frames += 1;
        self.frame_total_us += us;
        self.max_frame_us = self.max_frame_us.max(us);
        self.mean_frame_us = self.frame_total_us as f64 / self.frames as f64;
    }

    fn key(&mut self, took: Duration) {
        let us = took.as_micros() as u64;
        self.keys += 1;
        self.key_total_us += us;
        self.max_key_to_screen_us = self.max_key_to_screen_us.max(us);
        self.mean_key_to_screen_us = self.key_total_us as f64 / self.keys as f64;
    }
}

/// Restores the terminal when dropped, so every exit path (including `?`
/// and panics, which ratatui's hook covers) leaves a usable shell.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<(DefaultTerminal, TerminalGuard), TuiError> {
        let terminal = ratatui::try_init()?;
        crossterm::execute!(std::io::stdout(), EnableMouseCapture)?;
        Ok((terminal, TerminalGuard))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

const FRAME: Duration = Duration::from_millis(100);

/// Shows a live session: draws every snapshot the driver publishes and
/// sends the researcher's actions back to it. Returns when the researcher
/// quits; the driver keeps its own lifetime.
pub async fn run_live(
    options: TuiOptions,
    mut states: watch::Receiver<AgentState>,
    actions: mpsc::Sender<UserAction>,
) -> Result<FrameStats, TuiError> {
    let (mut terminal, _guard) = TerminalGuard::enter()?;
    let mut input = EventStream::new();
    let mut ui = Ui::new(options, Mode::Live, states.borrow_and_update().clone());
    let mut frames = tokio::time::interval(FRAME);
    let mut driver_alive = true;
    loop {
        ui.draw(&mut terminal)?;
        tokio::select! {
            biased;
            event = input.next() => {
                let Some(event) = event else { break };
                for action in ui.input(event?) {
                    match action {
                        AppAction::Send(a) => {
                            if actions.send(a).await.is_err() {
                                ui.app.flash = Some("the session has ended; nothing more to steer".into());
                            }
                        }
                        AppAction::OpenEditor(purpose, fields) => {
                            let values = edit_externally(&mut terminal, &fields)?;
                            for follow in ui.app.submit(purpose, values) {
                                if let AppAction::Send(a) = follow {
                                    let _ = actions.send(a).await;
                                }
                            }
                        }
                        AppAction::Quit => return Ok(ui.stats),
                        AppAction::Seek(_) | AppAction::SeekRound(_) => {}
                    }
                }
            }
            changed = states.changed(), if driver_alive => {
                driver_alive = changed.is_ok();
                ui.state = states.borrow_and_update().clone();
                ui.app.follow(&ui.state);
            }
            _ = frames.tick() => ui.tick += 1,
        }
    }
    Ok(ui.stats)
}

/// Scrubs through a saved session, read-only: every pane shows the state
/// after the chosen number of events.
pub async fn run_replay(options: TuiOptions, events: Vec<Event>) -> Result<FrameStats, TuiError> {
    let mut cursor = ReplayCursor::new(events);
    let total = cursor.total();
    cursor.seek(total);
    let (mut terminal, _guard) = TerminalGuard::enter()?;
    let mut input = EventStream::new();
    let mut ui = Ui::new(
        options,
        Mode::Replay { at: total, total },
        cursor.state().clone(),
    );
    loop {
        ui.draw(&mut terminal)?;
        let Some(event) = input.next().await else {
            break;
        };
        for action in ui.input(event?) {
            let target = match action {
                AppAction::Seek(n) => n,
                AppAction::SeekRound(forward) => cursor.round_boundary(forward),
                AppAction::Quit => return Ok(ui.stats),
                AppAction::Send(_) | AppAction::OpenEditor(..) => continue,
            };
            cursor.seek(target);
            ui.app.mode = Mode::Replay {
                at: cursor.at(),
                total,
            };
            ui.state = cursor.state().clone();
        }
    }
    Ok(ui.stats)
}

/// Shows the start screen until the researcher picks something. The
/// terminal is restored before returning, so the caller can load a model
/// (with a progress bar) before the exploration screen opens.
pub async fn run_start(theme: &Theme, mut screen: StartScreen) -> Result<StartChoice, TuiError> {
    let (mut terminal, _guard) = TerminalGuard::enter()?;
    let mut input = EventStream::new();
    loop {
        terminal.draw(|frame| screen.render(frame, theme))?;
        let Some(event) = input.next().await else {
            return Ok(StartChoice::Quit);
        };
        if let TermEvent::Key(key) = event?
            && key.kind == KeyEventKind::Press
            && let Some(choice) = screen.handle_key(&key)
        {
            return Ok(choice);
        }
    }
}

/// The parts of a running TUI that both loops share.
struct Ui {
    options: TuiOptions,
    app: App,
    state: AgentState,
    tick: u64,
    stats: FrameStats,
    key_at: Option<Instant>,
}

impl Ui {
    fn new(options: TuiOptions, mode: Mode, state: AgentState) -> Ui {
        let mut app = App::new(options.keymap.clone(), mode);
        app.follow(&state);
        Ui {
            app,
            options,
            state,
            tick: 0,
            stats: FrameStats::default(),
            key_at: None,
        }
    }

    fn draw(&mut self, terminal: &mut DefaultTerminal) -> Result<(), TuiError> {
        let started = Instant::now();
        let mut areas = self.app.areas;
        let view = View {
            state: &self.state,
            app: &self.app,
            theme: &self.options.theme,
            info: &self.options.info,
            tick: self.tick,
        };
        terminal.draw(|frame| screen::draw(frame, &view, &mut areas))?;
        self.app.areas = areas;
        self.stats.frame(started.elapsed());
        if let Some(at) = self.key_at.take() {
            self.stats.key(at.elapsed());
        }
        Ok(())
    }

    /// Turns one terminal event into app actions.
    fn input(&mut self, event: TermEvent) -> Vec<AppAction> {
        match event {
            TermEvent::Key(key) if key.kind == KeyEventKind::Press => {
                self.key_at = Some(Instant::now());
                self.app.handle_key(&key, &self.state)
            }
            TermEvent::Mouse(mouse) => {
                let scroll = match mouse.kind {
                    MouseEventKind::ScrollDown => Some(1),
                    MouseEventKind::ScrollUp => Some(-1),
                    MouseEventKind::Down(_) => None,
                    _ => return Vec::new(),
                };
                self.app
                    .handle_mouse(mouse.column, mouse.row, scroll, &self.state);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// Suspends the screen, lets the researcher edit the fields in $EDITOR
/// (one `# label` header per field), and reads the values back.
fn edit_externally(
    terminal: &mut DefaultTerminal,
    fields: &[Field],
) -> Result<Vec<String>, TuiError> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    let fail = |reason: String| TuiError::Editor {
        editor: editor.clone(),
        reason,
    };
    let mut file = tempfile::Builder::new()
        .prefix("sage-edit-")
        .suffix(".md")
        .tempfile()?;
    for field in fields {
        writeln!(
            file,
            "# {} ({})\n{}\n",
            field.label, field.hint, field.value
        )?;
    }
    file.flush()?;
    ratatui::restore();
    let status = std::process::Command::new(&editor)
        .arg(file.path())
        .status();
    *terminal = ratatui::try_init()?;
    crossterm::execute!(std::io::stdout(), EnableMouseCapture)?;
    let status = status.map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("it exited with {status}")));
    }
    let text = std::fs::read_to_string(file.path())?;
    Ok(parse_edited(&text, fields.len()))
}

/// Reads back a file written by [`edit_externally`]: the text under each
/// `# ` header, trimmed, in order.
pub fn parse_edited(text: &str, fields: usize) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("# ") {
            values.push(String::new());
        } else if let Some(current) = values.last_mut() {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(line.trim());
        }
    }
    values.iter_mut().for_each(|v| *v = v.trim().to_string());
    values.resize(fields, String::new());
    values
}

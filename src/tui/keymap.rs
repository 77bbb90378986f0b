//! Commands as data, and the keymap that binds keys to them.
//!
//! Every action the TUI can take is a [`Command`] with a name and a one-line
//! doc. The default bindings live in one table; the config file's `[keys]`
//! table can rebind any command by name. The `?` overlay and the bottom hint
//! bar are generated from the same table, so they never drift.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Something the researcher can ask the TUI to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// Pause or resume the agent.
    TogglePause,
    /// Approve the selected item waiting for approval.
    Approve,
    /// Reject the selected item, with a reason.
    Reject,
    /// Edit the selected hypothesis or pending experiment in place.
    Edit,
    /// Edit the selected item in $EDITOR.
    EditExternal,
    /// Inject a new experiment for the selected hypothesis.
    NewExperiment,
    /// Add a new hypothesis.
    NewHypothesis,
    /// Cycle the gate mode auto → review → step.
    CycleGate,
    /// Conclude now with what the agent has.
    ConcludeNow,
    /// Move focus to the next pane.
    FocusNext,
    /// Move focus to the previous pane.
    FocusPrev,
    /// Move the selection down.
    Down,
    /// Move the selection up.
    Up,
    /// Move the token cursor left.
    Left,
    /// Move the token cursor right.
    Right,
    /// Expand or collapse the selected item.
    Expand,
    /// Show or hide the key help.
    Help,
    /// Quit (asks first while the agent is running).
    Quit,
    /// Replay: go back one event.
    StepBack,
    /// Replay: go forward one event.
    StepForward,
    /// Replay: go back to the previous round.
    RoundBack,
    /// Replay: go forward to the next round.
    RoundForward,
    /// Replay: go to the first event.
    First,
    /// Replay: go to the last event.
    Last,
}

/// One row of the command table: name (as used in the config file), doc,
/// default keys, and whether it belongs in the bottom hint bar.
struct CommandSpec {
    command: Command,
    name: &'static str,
    doc: &'static str,
    keys: &'static [&'static str],
    hint: Option<&'static str>,
}

const COMMANDS: &[CommandSpec] = &[
    spec(
        Command::TogglePause,
        "toggle_pause",
        "pause or resume the agent",
        &["space"],
        Some("pause"),
    ),
    spec(
        Command::Approve,
        "approve",
        "approve the selected waiting item",
        &["a"],
        Some("approve"),
    ),
    spec(
        Command::Reject,
        "reject",
        "reject the selected item, with a reason",
        &["x"],
        Some("reject"),
    ),
    spec(
        Command::Edit,
        "edit",
        "edit the selected hypothesis or pending experiment",
        &["e"],
        Some("edit"),
    ),
    spec(
        Command::EditExternal,
        "edit_external",
        "edit the selected item in $EDITOR",
        &["E"],
        None,
    ),
    spec(
        Command::NewExperiment,
        "new_experiment",
        "inject an experiment for the selected hypothesis",
        &["n"],
        Some("new exp"),
    ),
    spec(
        Command::NewHypothesis,
        "new_hypothesis",
        "add your own hypothesis",
        &["h"],
        Some("new hyp"),
    ),
    spec(
        Command::CycleGate,
        "cycle_gate",
        "cycle the gate mode: auto, review, step",
        &["g"],
        Some("gate"),
    ),
    spec(
        Command::ConcludeNow,
        "conclude",
        "conclude now with what the agent has",
        &["c"],
        Some("conclude"),
    ),
    spec(
        Command::FocusNext,
        "focus_next",
        "focus the next pane",
        &["tab"],
        None,
    ),
    spec(
        Command::FocusPrev,
        "focus_prev",
        "focus the previous pane",
        &["backtab"],
        None,
    ),
    spec(
        Command::Down,
        "down",
        "move the selection down",
        &["j", "down"],
        None,
    ),
    spec(
        Command::Up,
        "up",
        "move the selection up",
        &["k", "up"],
        None,
    ),
    spec(
        Command::Left,
        "left",
        "move the token cursor left",
        &["left"],
        None,
    ),
    spec(
        Command::Right,
        "right",
        "move the token cursor right",
        &["right"],
        None,
    ),
    spec(
        Command::Expand,
        "expand",
        "expand or collapse the selected item",
        &["enter"],
        None,
    ),
    spec(
        Command::Help,
        "help",
        "show or hide this help",
        &["?"],
        Some("help"),
    ),
    spec(
        Command::Quit,
        "quit",
        "quit (asks while the agent is running)",
        &["q"],
        Some("quit"),
    ),
    spec(
        Command::StepBack,
        "step_back",
        "replay: one event back",
        &["["],
        None,
    ),
    spec(
        Command::StepForward,
        "step_forward",
        "replay: one event forward",
        &["]"],
        None,
    ),
    spec(
        Command::RoundBack,
        "round_back",
        "replay: previous round",
        &["{"],
        None,
    ),
    spec(
        Command::RoundForward,
        "round_forward",
        "replay: next round",
        &["}"],
        None,
    ),
    spec(
        Command::First,
        "first",
        "replay: first event",
        &["home"],
        None,
    ),
    spec(Command::Last, "last", "replay: last event", &["end"], None),
];

const fn spec(
    command: Command,
    name: &'static str,
    doc: &'static str,
    keys: &'static [&'static str],
    hint: Option<&'static str>,
) -> CommandSpec {
    CommandSpec {
        command,
        name,
        doc,
        keys,
        hint,
    }
}

impl Command {
    fn spec(self) -> &'static CommandSpec {
        COMMANDS
            .iter()
            .find(|s| s.command == self)
            .unwrap_or(&COMMANDS[0])
    }

    /// The command's name as written in the config file's `[keys]` table.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// One line saying what the command does.
    pub fn doc(self) -> &'static str {
        self.spec().doc
    }

    /// Whether the command only makes sense while replaying.
    pub fn is_replay(self) -> bool {
        matches!(
            self,
            Command::StepBack
                | Command::StepForward
                | Command::RoundBack
                | Command::RoundForward
                | Command::First
                | Command::Last
        )
    }
}

/// Why a `[keys]` table could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    /// The command name is not in the table.
    #[error("unknown command `{0}` in [keys]; known commands: {names}", names = COMMANDS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "))]
    UnknownCommand(String),
    /// The key could not be parsed.
    #[error(
        "cannot read key `{0}` in [keys]: use a character (`a`, `A`, `?`) or a name such as space, tab, backtab, enter, esc, up, down, left, right, home, end, pageup, pagedown, f1..f12, optionally prefixed with ctrl- or alt-"
    )]
    BadKey(String),
}

/// A key as the keymap sees it: the code plus ctrl/alt (shift is folded
/// into the character, so `E` means shift-e).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    code: KeyCodeOrd,
    ctrl: bool,
    alt: bool,
}

/// `KeyCode` is not `Ord`; this is the subset the keymap binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeOrd {
    Char(char),
    Named(&'static str),
    F(u8),
}

const NAMED: [(&str, KeyCode); 13] = [
    ("space", KeyCode::Char(' ')),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
];

impl Key {
    /// Parses `a`, `E`, `?`, `space`, `ctrl-c`, `alt-enter`, `f5`.
    pub fn parse(text: &str) -> Result<Key, KeymapError> {
        let bad = || KeymapError::BadKey(text.to_string());
        let (mut ctrl, mut alt, mut rest) = (false, false, text);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCodeOrd::Char(c),
            _ => {
                if let Some(n) = rest.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                    if (1..=12).contains(&n) {
                        KeyCodeOrd::F(n)
                    } else {
                        return Err(bad());
                    }
                } else {
                    let (name, _) = NAMED.iter().find(|(n, _)| *n == rest).ok_or_else(bad)?;
                    match *name {
                        "space" => KeyCodeOrd::Char(' '),
                        other => KeyCodeOrd::Named(other),
                    }
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }

    /// Converts a terminal key event, if it is one the keymap can bind.
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        let code = match event.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            other => NAMED
                .iter()
                .find(|(_, c)| *c == other)
                .map(|(n, _)| KeyCodeOrd::Named(n))?,
        };
        Some(Key {
            code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// How the key is written in help text and config files.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeOrd::Char(' ') => "space".to_string(),
            KeyCodeOrd::Char(c) => c.to_string(),
            KeyCodeOrd::Named(n) => n.to_string(),
            KeyCodeOrd::F(n) => format!("f{n}"),
        };
        format!(
            "{}{}{base}",
            if self.ctrl { "ctrl-" } else { "" },
            if self.alt { "alt-" } else { "" }
        )
    }
}

/// Keys bound to commands: the defaults with the config's overrides on top.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<Key, Command>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut bindings = BTreeMap::new();
        for spec in COMMANDS {
            for key in spec.keys {
                if let Ok(k) = Key::parse(key) {
                    bindings.insert(k, spec.command);
                }
            }
        }
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with `overrides` (command name → keys) applied: a
    /// command named there loses its default keys and gets the given ones.
    pub fn with_overrides(
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::default();
        for (name, keys) in overrides {
            let spec = COMMANDS
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| KeymapError::UnknownCommand(name.clone()))?;
            map.bindings.retain(|_, c| *c != spec.command);
            for key in keys {
                map.bindings.insert(Key::parse(key)?, spec.command);
            }
        }
        Ok(map)
    }

    /// The command bound to a key event, if any. Ctrl-C always quits, so a
    /// remapping can never trap the researcher.
    pub fn lookup(&self, event: &KeyEvent) -> Option<Command> {
        if event.code == KeyCode::Char('c') && event.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Command::Quit);
        }
        self.bindings.get(&Key::from_event(event)?).copied()
    }

    /// The keys bound to a command, as labels.
    pub fn keys_for(&self, command: Command) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|(_, c)| **c == command)
            .map(|(k, _)| k.label())
            .collect()
    }

    /// Rows for the `?` overlay: keys, command doc; replay commands only in replay.
    pub fn help_rows(&self, replay: bool) -> Vec<(String, &'static str)> {
        COMMANDS
            .iter()
            .filter(|s| replay || !s.command.is_replay())
            .map(|s| (self.keys_for(s.command).join(" / "), s.doc))
            .collect()
    }

    /// Items of the bottom hint bar: `key label` pairs.
    pub fn hints(&self, replay: bool) -> Vec<(String, &'static str)> {
        COMMANDS
            .iter()
            .filter(|s| {
                replay == s.command.is_replay()
                    || s.command == Command::Quit
                    || s.command == Command::Help
            })
            .filter_map(|s| {
                let label = s.hint.or(if replay { Some(s.name) } else { None })?;
                let key = self.keys_for(s.command).into_iter().next()?;
                Some((key, label))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn default_keys_match_the_documented_bindings() {
        let map = Keymap::default();
        let cases = [
            (KeyCode::Char(' '), Command::TogglePause),
            (KeyCode::Char('a'), Command::Approve),
            (KeyCode::Char('x'), Command::Reject),
            (KeyCode::Char('e'), Command::Edit),
            (KeyCode::Char('E'), Command::EditExternal),
            (KeyCode::Char('n'), Command::NewExperiment),
            (KeyCode::Char('h'), Command::NewHypothesis),
            (KeyCode::Char('g'), Command::CycleGate),
            (KeyCode::Char('c'), Command::ConcludeNow),
            (KeyCode::Tab, Command::FocusNext),
            (KeyCode::BackTab, Command::FocusPrev),
            (KeyCode::Char('j'), Command::Down),
            (KeyCode::Down, Command::Down),
            (KeyCode::Char('k'), Command::Up),
            (KeyCode::Enter, Command::Expand),
            (KeyCode::Char('?'), Command::Help),
            (KeyCode::Char('q'), Command::Quit),
            (KeyCode::Char('['), Command::StepBack),
            (KeyCode::Char('}'), Command::RoundForward),
            (KeyCode::Home, Command::First),
            (KeyCode::End, Command::Last),
        ];
        for (code, command) in cases {
            assert_eq!(
                map.lookup(&press(code, KeyModifiers::NONE)),
                Some(command),
                "{code:?}"
            );
        }
        assert_eq!(
            map.lookup(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(
            map.lookup(&press(KeyCode::Char('z'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn overrides_replace_a_commands_keys() {
        let mut o = BTreeMap::new();
        o.insert(
            "approve".to_string(),
            vec!["y".to_string(), "ctrl-a".to_string()],
        );
        let map = Keymap::with_overrides(&o).unwrap();
        assert_eq!(
            map.lookup(&press(KeyCode::Char('a'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            map.lookup(&press(KeyCode::Char('y'), KeyModifiers::NONE)),
            Some(Command::Approve)
        );
        assert_eq!(
            map.lookup(&press(KeyCode::Char('a'), KeyModifiers::CONTROL)),
            Some(Command::Approve)
        );
        let mut keys = map.keys_for(Command::Approve);
        keys.sort();
        assert_eq!(keys, vec!["ctrl-a", "y"]);
    }

    #[test]
    fn bad_overrides_are_errors_that_list_the_valid_forms() {
        let mut o = BTreeMap::new();
        o.insert("teleport".to_string(), vec!["t".to_string()]);
        let err = Keymap::with_overrides(&o).unwrap_err().to_string();
        assert!(err.contains("toggle_pause"), "{err}");
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), vec!["hyper-q".to_string()]);
        assert!(matches!(
            Keymap::with_overrides(&o),
            Err(KeymapError::BadKey(_))
        ));
    }

    #[test]
    fn help_is_generated_from_the_table() {
        let map = Keymap::default();
        let live = map.help_rows(false);
        assert!(
            live.iter()
                .any(|(k, d)| k == "space" && d.contains("pause"))
        );
        assert!(!live.iter().any(|(_, d)| d.starts_with("replay")));
        assert_eq!(map.help_rows(true).len(), COMMANDS.len());
        let hints = map.hints(false);
        assert!(hints.contains(&("a".to_string(), "approve")));
        assert!(hints.contains(&("q".to_string(), "quit")));
    }
}

//! Commands as data, and the keymap that binds keys to them.
//!
//! Every action the TUI can take is a [`Command`] with a name and a one-line
//! doc. The default bindings live in one table; the config file's `[keymap]`
//! table can rebind any command by name. The `?` overlay and the bottom hint
//! bar are generated from the same table, so they never drift.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Declares [`Command`] and its table in one place: each row is the
/// variant, its config-file name, its doc (used both as the variant's doc
/// comment and in the help overlay), its default keys, its label in the
/// bottom hint bar (if any) and whether it only works in replay. The
/// table's order is the enum's, so a command's row is found by index.
macro_rules! commands {
    ($($variant:ident, $name:literal, $doc:literal, [$($key:literal),*], $hint:expr, $replay:literal;)*) => {
        /// Something the researcher can ask the TUI to do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Command {
            $(#[doc = $doc] $variant,)*
        }

        const COMMANDS: &[CommandSpec] = &[
            $(CommandSpec {
                command: Command::$variant,
                name: $name,
                doc: $doc,
                keys: &[$($key),*],
                hint: $hint,
                replay: $replay,
            },)*
        ];
    };
}

/// One row of the command table.
struct CommandSpec {
    command: Command,
    name: &'static str,
    doc: &'static str,
    keys: &'static [&'static str],
    hint: Option<&'static str>,
    replay: bool,
}

commands! {
    TogglePause, "toggle_pause", "pause or resume the agent", ["space"], Some("pause"), false;
    Approve, "approve", "approve the selected waiting item", ["a"], Some("approve"), false;
    Reject, "reject", "reject the selected item, with a reason", ["x"], Some("reject"), false;
    Edit, "edit", "edit the selected hypothesis or pending experiment", ["e"], Some("edit"), false;
    EditExternal, "edit_external", "edit the selected item in $EDITOR", ["E"], None, false;
    NewExperiment, "new_experiment", "inject an experiment for the selected hypothesis", ["n"], Some("new exp"), false;
    NewHypothesis, "new_hypothesis", "add your own hypothesis", ["h"], Some("new hyp"), false;
    CycleGate, "cycle_gate", "cycle the gate mode: auto, review, step", ["g"], Some("gate"), false;
    ConcludeNow, "conclude", "conclude now with what the agent has", ["c"], Some("conclude"), false;
    FocusNext, "focus_next", "focus the next pane", ["tab"], None, false;
    FocusPrev, "focus_prev", "focus the previous pane", ["backtab"], None, false;
    Down, "down", "move the selection down", ["j", "down"], None, false;
    Up, "up", "move the selection up", ["k", "up"], None, false;
    Left, "left", "move the token cursor left", ["left"], None, false;
    Right, "right", "move the token cursor right", ["right"], None, false;
    Expand, "expand", "expand or collapse the selected item", ["enter"], None, false;
    Help, "help", "show or hide this help", ["?"], Some("help"), false;
    Quit, "quit", "quit (asks while the agent is running)", ["q"], Some("quit"), false;
    StepBack, "step_back", "replay: one event back", ["["], None, true;
    StepForward, "step_forward", "replay: one event forward", ["]"], None, true;
    RoundBack, "round_back", "replay: previous round", ["{"], None, true;
    RoundForward, "round_forward", "replay: next round", ["}"], None, true;
    First, "first", "replay: first event", ["home"], None, true;
    Last, "last", "replay: last event", ["end"], None, true;
}

impl Command {
    /// This command's row: the table is generated in the enum's order, so
    /// the discriminant is the index (a unit test holds the two together).
    fn spec(self) -> &'static CommandSpec {
        &COMMANDS[self as usize]
    }

    /// The command's name as written in the config file's `[keymap]` table.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// One line saying what the command does.
    pub fn doc(self) -> &'static str {
        self.spec().doc
    }

    /// Whether the command only makes sense while replaying.
    pub fn is_replay(self) -> bool {
        self.spec().replay
    }

    /// The command named `name` in the config file; an unknown name is an
    /// error that lists the known ones.
    pub fn from_name(name: &str) -> Result<Command, KeymapError> {
        COMMANDS
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.command)
            .ok_or_else(|| KeymapError::UnknownCommand(name.to_string()))
    }
}

/// Why a `[keymap]` table could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    /// The command name is not in the table.
    #[error("unknown command `{0}` in [keymap]; known commands: {names}", names = COMMANDS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "))]
    UnknownCommand(String),
    /// A key bound to a command could not be parsed. The message names
    /// the command and the key's position, never the value: a secret
    /// pasted into the wrong table must not be echoed.
    #[error(
        "cannot read key {position} of `{command}` in [keymap]: use a character (`a`, `A`, `?`) or a name such as space, tab, backtab, enter, esc, up, down, left, right, home, end, pageup, pagedown, f1..f12, optionally prefixed with ctrl- or alt-"
    )]
    BadKey {
        /// The command the key was meant for.
        command: String,
        /// The key's place in the command's list, from 1.
        position: usize,
    },
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
    /// Parses `a`, `E`, `?`, `space`, `ctrl-c`, `alt-enter`, `f5`; `None`
    /// for anything else.
    pub fn parse(text: &str) -> Option<Key> {
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
                        return None;
                    }
                } else {
                    let (name, _) = NAMED.iter().find(|(n, _)| *n == rest)?;
                    match *name {
                        "space" => KeyCodeOrd::Char(' '),
                        other => KeyCodeOrd::Named(other),
                    }
                }
            }
        };
        Some(Key { code, ctrl, alt })
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
                if let Some(k) = Key::parse(key) {
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
            let command = Command::from_name(name)?;
            map.bindings.retain(|_, c| *c != command);
            for (i, key) in keys.iter().enumerate() {
                let key = Key::parse(key).ok_or_else(|| KeymapError::BadKey {
                    command: name.clone(),
                    position: i + 1,
                })?;
                map.bindings.insert(key, command);
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
        o.insert("quit".to_string(), vec!["q".into(), "sk-canary-key".into()]);
        let err = Keymap::with_overrides(&o).unwrap_err();
        assert!(
            matches!(&err, KeymapError::BadKey { command, position: 2 } if command == "quit"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("sk-canary-key"), "{err}");
    }

    #[test]
    fn every_command_finds_its_own_row_and_name() {
        for (i, row) in COMMANDS.iter().enumerate() {
            assert_eq!(row.command as usize, i, "{}", row.name);
            assert_eq!(row.command.name(), row.name);
            assert_eq!(Command::from_name(row.name).unwrap(), row.command);
        }
        assert!(matches!(
            Command::from_name("teleport"),
            Err(KeymapError::UnknownCommand(_))
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

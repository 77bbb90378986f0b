//! A small modal form: one or more labelled text fields, edited in place.
//!
//! Used for reject reasons, in-place edits and injected hypotheses or
//! experiments. Tab moves between fields, Enter submits, Esc cancels.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One labelled text field with a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// What the field asks for.
    pub label: &'static str,
    /// A hint shown under the field.
    pub hint: &'static str,
    /// Current text.
    pub value: String,
    /// Cursor position in characters.
    cursor: usize,
}

impl Field {
    /// A field pre-filled with `value`, cursor at the end.
    pub fn new(label: &'static str, hint: &'static str, value: impl Into<String>) -> Field {
        let value = value.into();
        let cursor = value.chars().count();
        Field {
            label,
            hint,
            value,
            cursor,
        }
    }

    /// Cursor position in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn byte_at(&self, char_index: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_index)
            .map_or(self.value.len(), |(b, _)| b)
    }

    fn insert(&mut self, c: char) {
        let at = self.byte_at(self.cursor);
        self.value.insert(at, c);
        self.cursor += 1;
    }

    fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_at(self.cursor);
            self.value.remove(at);
        }
    }

    fn delete(&mut self) {
        if self.cursor < self.value.chars().count() {
            let at = self.byte_at(self.cursor);
            self.value.remove(at);
        }
    }
}

/// What the form is for; decides what happens on submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// A reason for rejecting the target.
    Reject(crate::agent::Target),
    /// New wording for a hypothesis.
    EditHypothesis(crate::agent::HypothesisId),
    /// New text and prediction for a pending experiment.
    EditExperiment(crate::agent::ExperimentId),
    /// The researcher's own hypothesis.
    NewHypothesis,
    /// The researcher's own experiment for a hypothesis.
    NewExperiment(crate::agent::HypothesisId),
}

/// A modal form in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// The form's title.
    pub title: String,
    /// What submitting does.
    pub purpose: FormPurpose,
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// Index of the field being edited.
    pub active: usize,
}

/// The result of feeding a key to a form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormOutcome {
    /// Still editing.
    Editing,
    /// Submitted: the field values in order.
    Submitted(Vec<String>),
    /// Abandoned.
    Cancelled,
}

impl Form {
    /// A form with the given fields, the first one active.
    pub fn new(title: impl Into<String>, purpose: FormPurpose, fields: Vec<Field>) -> Form {
        Form {
            title: title.into(),
            purpose,
            fields,
            active: 0,
        }
    }

    /// Applies one key press.
    pub fn handle_key(&mut self, key: &KeyEvent) -> FormOutcome {
        let n = self.fields.len().max(1);
        let field = match self.fields.get_mut(self.active) {
            Some(f) => f,
            None => return FormOutcome::Cancelled,
        };
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Enter => {
                return FormOutcome::Submitted(
                    self.fields.iter().map(|f| f.value.clone()).collect(),
                );
            }
            KeyCode::Tab | KeyCode::Down => self.active = (self.active + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.active = (self.active + n - 1) % n,
            KeyCode::Left => field.cursor = field.cursor.saturating_sub(1),
            KeyCode::Right => field.cursor = (field.cursor + 1).min(field.value.chars().count()),
            KeyCode::Home => field.cursor = 0,
            KeyCode::End => field.cursor = field.value.chars().count(),
            KeyCode::Backspace => field.backspace(),
            KeyCode::Delete => field.delete(),
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                field.value.clear();
                field.cursor = 0;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => field.insert(c),
            _ => {}
        }
        FormOutcome::Editing
    }
}

/// Splits a prediction field (`May | June`) into the substrings that
/// should fire; an empty field means a negative control.
pub fn parse_firing(text: &str) -> Vec<String> {
    text.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::HypothesisId;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_text(form: &mut Form, text: &str) {
        for c in text.chars() {
            assert_eq!(
                form.handle_key(&key(KeyCode::Char(c))),
                FormOutcome::Editing
            );
        }
    }

    #[test]
    fn typing_editing_and_submitting_fields() {
        let mut form = Form::new(
            "new experiment",
            FormPurpose::NewExperiment(HypothesisId(1)),
            vec![Field::new("text", "", ""), Field::new("fires on", "", "")],
        );
        type_text(&mut form, "We met in Mai");
        form.handle_key(&key(KeyCode::Backspace));
        type_text(&mut form, "y.");
        form.handle_key(&key(KeyCode::Tab));
        type_text(&mut form, "May");
        form.handle_key(&key(KeyCode::Home));
        form.handle_key(&key(KeyCode::Delete));
        type_text(&mut form, "M");
        assert_eq!(
            form.handle_key(&key(KeyCode::Enter)),
            FormOutcome::Submitted(vec!["We met in May.".into(), "May".into()])
        );
    }

    #[test]
    fn prefilled_fields_edit_at_the_end_and_escape_cancels() {
        let mut form = Form::new(
            "edit",
            FormPurpose::NewHypothesis,
            vec![Field::new("description", "", "month names")],
        );
        type_text(&mut form, " é");
        assert_eq!(form.fields[0].value, "month names é");
        assert_eq!(form.fields[0].cursor(), 13);
        assert_eq!(form.handle_key(&key(KeyCode::Esc)), FormOutcome::Cancelled);
    }

    #[test]
    fn firing_lists_split_on_bars() {
        assert_eq!(parse_firing(" May | June |"), vec!["May", "June"]);
        assert!(parse_firing("  ").is_empty());
    }
}

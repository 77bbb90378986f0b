//! The token heatmap: one text drawn token by token, each token's
//! background proportional to its activation. Used by the examples, the
//! experiments and the replay panes alike.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::theme::Theme;

/// One text with per-token activations, ready to draw.
#[derive(Debug, Clone)]
pub struct TokenHeatmap<'a> {
    tokens: &'a [String],
    values: &'a [f32],
    scale: f32,
    selected: Option<usize>,
    predicted: &'a [usize],
    theme: &'a Theme,
}

impl<'a> TokenHeatmap<'a> {
    /// A heatmap of `tokens` with `values`, coloured relative to `scale`
    /// (normally the feature's top activation, so panes are comparable).
    pub fn new(tokens: &'a [String], values: &'a [f32], scale: f32, theme: &'a Theme) -> Self {
        TokenHeatmap {
            tokens,
            values,
            scale,
            selected: None,
            predicted: &[],
            theme,
        }
    }

    /// Highlights the token under the cursor.
    pub fn selected(mut self, index: Option<usize>) -> Self {
        self.selected = index;
        self
    }

    /// Underlines the tokens a prediction said would fire.
    pub fn predicted(mut self, indices: &'a [usize]) -> Self {
        self.predicted = indices;
        self
    }

    /// Index of the strongest token (first one on ties), if any fired.
    pub fn max_index(&self) -> Option<usize> {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
                Some((_, b)) if b >= v => best,
                _ => Some((i, v)),
            })
            .map(|(i, _)| i)
    }

    /// The spans, one per token, in order (no wrapping).
    pub fn spans(&self) -> Vec<Span<'static>> {
        let max = self.max_index();
        self.tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let value = self.values.get(i).copied().unwrap_or(0.0);
                let intensity = if self.scale > 0.0 {
                    value / self.scale
                } else {
                    0.0
                };
                let mut style: Style = self.theme.heat(intensity.max(0.0));
                if Some(i) == max {
                    style = style.add_modifier(Modifier::BOLD);
                }
                if self.predicted.contains(&i) {
                    style = style.add_modifier(Modifier::UNDERLINED);
                }
                if Some(i) == self.selected {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                Span::styled(display_token(token), style)
            })
            .collect()
    }

    /// The heatmap as one logical line; wrap it with a `Paragraph`.
    pub fn line(&self) -> Line<'static> {
        Line::from(self.spans())
    }
}

impl Widget for TokenHeatmap<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        Paragraph::new(self.line())
            .wrap(Wrap { trim: false })
            .render(area, buf);
    }
}

/// How a token is shown: control characters made visible, nothing dropped,
/// so what the researcher sees is what the model saw.
pub fn display_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    for c in token.chars() {
        match c {
            '\n' => out.push('↵'),
            '\t' => out.push('⇥'),
            '\r' => out.push('␍'),
            c if c.is_control() => out.push('�'),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push('∅');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    fn theme() -> Theme {
        Theme::load("dark", false).unwrap()
    }

    #[test]
    fn tokens_are_coloured_by_activation_relative_to_scale() {
        let theme = theme();
        let tokens: Vec<String> = ["We", " met", " in", " May"].map(String::from).to_vec();
        let values = [0.0, 0.0, 1.0, 4.0];
        let map = TokenHeatmap::new(&tokens, &values, 4.0, &theme);
        let spans = map.spans();
        assert_eq!(spans.len(), 4);
        assert_eq!(spans[0].style.bg, theme.heat(0.0).bg);
        assert_eq!(spans[2].style.bg, theme.heat(0.25).bg);
        assert_eq!(spans[3].style.bg, Some(Color::Rgb(0xff, 0xff, 0x87)));
        assert_eq!(map.max_index(), Some(3));
        assert!(spans[3].style.add_modifier.contains(Modifier::BOLD));
        assert!(!spans[2].style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn selection_and_predictions_are_marked() {
        let theme = theme();
        let tokens: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let values = [0.0; 3];
        let predicted = [1];
        let spans = TokenHeatmap::new(&tokens, &values, 1.0, &theme)
            .selected(Some(2))
            .predicted(&predicted)
            .spans();
        assert!(spans[1].style.add_modifier.contains(Modifier::UNDERLINED));
        assert!(spans[2].style.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(
            TokenHeatmap::new(&tokens, &values, 1.0, &theme).max_index(),
            None
        );
    }

    #[test]
    fn control_characters_stay_visible() {
        assert_eq!(display_token("\n"), "↵");
        assert_eq!(display_token(" a\tb"), " a⇥b");
        assert_eq!(display_token(""), "∅");
    }

    #[test]
    fn renders_wrapped_into_a_buffer() {
        let theme = theme();
        let tokens: Vec<String> = ["Hello", " world", " again"].map(String::from).to_vec();
        let values = [0.0, 2.0, 0.0];
        let area = Rect::new(0, 0, 8, 3);
        let mut buf = Buffer::empty(area);
        TokenHeatmap::new(&tokens, &values, 2.0, &theme).render(area, &mut buf);
        let row = |y: u16| -> String { (0..8).map(|x| buf[(x, y)].symbol()).collect() };
        assert_eq!(row(0), "Hello   ");
        // Word wrapping moves the space that separated the words to the break.
        assert_eq!(row(1), "world   ");
        assert_eq!(buf[(0, 1)].bg, Color::Rgb(0xff, 0xff, 0x87));
    }
}

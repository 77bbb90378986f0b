//! Colour themes, loaded from `themes/*.toml` (built in) or a user file.
//!
//! A theme names the UI colours, one colour per hypothesis status, and the
//! heatmap's colour stops; `NO_COLOR` turns every colour off and the
//! heatmap falls back to text attributes.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::agent::HypothesisStatus;

/// The themes compiled into the binary, by name.
const BUILT_IN: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// Neither a built-in name nor a readable file.
    #[error(
        "unknown theme `{0}`: use one of dark, light, high-contrast, colorblind, or a path to a .toml theme file"
    )]
    Unknown(String),
    /// The file exists but is not a valid theme.
    #[error("theme file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The parse error.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct ThemeFile {
    name: String,
    ui: UiColours,
    status: StatusColours,
    heatmap: HeatmapColours,
}

#[derive(Debug, Deserialize)]
struct UiColours {
    text: Hex,
    dim: Hex,
    border: Hex,
    focus: Hex,
    title: Hex,
    status_bg: Hex,
    status_text: Hex,
    paused: Hex,
    awaiting: Hex,
    selection_bg: Hex,
}

#[derive(Debug, Deserialize)]
struct StatusColours {
    proposed: Hex,
    testing: Hex,
    confirmed: Hex,
    refined: Hex,
    refuted: Hex,
    uncertain: Hex,
    rejected: Hex,
}

#[derive(Debug, Deserialize)]
struct HeatmapColours {
    stops: Vec<Hex>,
    text_dark: Hex,
    text_light: Hex,
}

/// A `#rrggbb` colour as written in theme files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hex(u8, u8, u8);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let s = String::deserialize(d)?;
        parse_hex(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a colour (expected #rrggbb)"))
        })
    }
}

fn parse_hex(s: &str) -> Option<Hex> {
    let h = s.strip_prefix('#')?;
    if h.len() != 6 || !h.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some(Hex(byte(0)?, byte(2)?, byte(4)?))
}

/// Resolved colours for drawing; `colour == false` means NO_COLOR mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's name.
    pub name: String,
    /// Whether colours are used at all.
    pub colour: bool,
    ui: UiPalette,
    status: [Color; 7],
    heat_stops: Vec<(u8, u8, u8)>,
    heat_text_dark: Color,
    heat_text_light: Color,
}

#[derive(Debug, Clone, PartialEq)]
struct UiPalette {
    text: Color,
    dim: Color,
    border: Color,
    focus: Color,
    title: Color,
    status_bg: Color,
    status_text: Color,
    paused: Color,
    awaiting: Color,
    selection_bg: Color,
}

fn rgb(h: Hex) -> Color {
    Color::Rgb(h.0, h.1, h.2)
}

impl Theme {
    /// Loads a built-in theme by name or a theme file by path. `no_color`
    /// (normally: the `NO_COLOR` variable is set) disables colour.
    pub fn load(name_or_path: &str, no_color: bool) -> Result<Theme, ThemeError> {
        let text = match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            Some((_, text)) => (*text).to_string(),
            None => {
                let path = Path::new(name_or_path);
                if !path.is_file() {
                    return Err(ThemeError::Unknown(name_or_path.to_string()));
                }
                std::fs::read_to_string(path).map_err(|e| ThemeError::Invalid {
                    path: name_or_path.to_string(),
                    reason: e.to_string(),
                })?
            }
        };
        let file: ThemeFile = toml::from_str(&text).map_err(|e| ThemeError::Invalid {
            path: name_or_path.to_string(),
            reason: e.to_string(),
        })?;
        if file.heatmap.stops.len() < 2 {
            return Err(ThemeError::Invalid {
                path: name_or_path.to_string(),
                reason: "heatmap.stops needs at least two colours".into(),
            });
        }
        let s = &file.status;
        Ok(Theme {
            name: file.name,
            colour: !no_color,
            ui: UiPalette {
                text: rgb(file.ui.text),
                dim: rgb(file.ui.dim),
                border: rgb(file.ui.border),
                focus: rgb(file.ui.focus),
                title: rgb(file.ui.title),
                status_bg: rgb(file.ui.status_bg),
                status_text: rgb(file.ui.status_text),
                paused: rgb(file.ui.paused),
                awaiting: rgb(file.ui.awaiting),
                selection_bg: rgb(file.ui.selection_bg),
            },
            status: [
                s.proposed,
                s.testing,
                s.confirmed,
                s.refined,
                s.refuted,
                s.uncertain,
                s.rejected,
            ]
            .map(rgb),
            heat_stops: file.heatmap.stops.iter().map(|h| (h.0, h.1, h.2)).collect(),
            heat_text_dark: rgb(file.heatmap.text_dark),
            heat_text_light: rgb(file.heatmap.text_light),
        })
    }

    /// The names of the built-in themes, for `--help` and errors.
    pub fn built_in_names() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(n, _)| *n)
    }

    fn fg(&self, c: Color) -> Style {
        if self.colour {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Ordinary text.
    pub fn text(&self) -> Style {
        self.fg(self.ui.text)
    }

    /// Secondary text (hints, timestamps).
    pub fn dim(&self) -> Style {
        if self.colour {
            self.fg(self.ui.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    /// A pane border; `focused` panes stand out.
    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.colour) {
            (true, true) => Style::new().fg(self.ui.focus).add_modifier(Modifier::BOLD),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
            (false, _) => self.fg(self.ui.border),
        }
    }

    /// Pane titles.
    pub fn title(&self) -> Style {
        self.fg(self.ui.title).add_modifier(Modifier::BOLD)
    }

    /// The status bar's base style.
    pub fn status_bar(&self) -> Style {
        if self.colour {
            Style::new().fg(self.ui.status_text).bg(self.ui.status_bg)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// The PAUSED badge: impossible to miss.
    pub fn paused_badge(&self) -> Style {
        self.badge(self.ui.paused)
    }

    /// The AWAITING APPROVAL badge.
    pub fn awaiting_badge(&self) -> Style {
        self.badge(self.ui.awaiting)
    }

    fn badge(&self, c: Color) -> Style {
        let base = Style::new().add_modifier(Modifier::BOLD);
        if self.colour {
            base.fg(Color::Black).bg(c)
        } else {
            base.add_modifier(Modifier::REVERSED)
        }
    }

    /// The highlighted row of a list.
    pub fn selection(&self) -> Style {
        if self.colour {
            Style::new().bg(self.ui.selection_bg)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// The colour of a hypothesis status.
    pub fn status(&self, status: &HypothesisStatus) -> Style {
        let i = match status {
            HypothesisStatus::Proposed => 0,
            HypothesisStatus::Testing => 1,
            HypothesisStatus::Confirmed => 2,
            HypothesisStatus::Refined => 3,
            HypothesisStatus::Refuted => 4,
            HypothesisStatus::Uncertain => 5,
            HypothesisStatus::Rejected { .. } => 6,
        };
        self.fg(self.status[i]).add_modifier(Modifier::BOLD)
    }

    /// The style of a token whose activation is `intensity` (0 = silent,
    /// 1 = the feature's max). Colour themes interpolate the heatmap stops;
    /// without colour, firing tokens are shown bold and reversed.
    pub fn heat(&self, intensity: f32) -> Style {
        let t = if intensity.is_finite() {
            intensity.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if !self.colour {
            return if t >= 0.5 {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else if t > 0.0 {
                Style::new().add_modifier(Modifier::UNDERLINED)
            } else {
                Style::new()
            };
        }
        let (r, g, b) = interpolate(&self.heat_stops, t);
        // Perceived brightness decides whether dark or light text reads better.
        let luma = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
        let text = if luma > 140.0 {
            self.heat_text_dark
        } else {
            self.heat_text_light
        };
        Style::new().bg(Color::Rgb(r, g, b)).fg(text)
    }
}

/// Linear interpolation along evenly spaced colour stops.
fn interpolate(stops: &[(u8, u8, u8)], t: f32) -> (u8, u8, u8) {
    let segments = (stops.len() - 1) as f32;
    let pos = t * segments;
    let i = (pos.floor() as usize).min(stops.len() - 2);
    let frac = pos - i as f32;
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * frac).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_loads() {
        for name in Theme::built_in_names() {
            let theme = Theme::load(name, false).unwrap();
            assert_eq!(theme.name, name);
        }
    }

    #[test]
    fn heat_runs_from_the_first_stop_to_the_last() {
        let theme = Theme::load("dark", false).unwrap();
        assert_eq!(theme.heat(0.0).bg, Some(Color::Rgb(0x1c, 0x1c, 0x1c)));
        assert_eq!(theme.heat(1.0).bg, Some(Color::Rgb(0xff, 0xff, 0x87)));
        assert_eq!(theme.heat(7.0).bg, theme.heat(1.0).bg, "clamped above 1");
        assert_eq!(theme.heat(f32::NAN).bg, theme.heat(0.0).bg);
    }

    #[test]
    fn no_color_uses_attributes_only() {
        let theme = Theme::load("dark", true).unwrap();
        for style in [
            theme.heat(1.0),
            theme.text(),
            theme.paused_badge(),
            theme.border(true),
        ] {
            assert_eq!(style.fg, None);
            assert_eq!(style.bg, None);
        }
        assert!(theme.heat(1.0).add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn bad_themes_are_typed_errors() {
        assert!(matches!(
            Theme::load("neon", false),
            Err(ThemeError::Unknown(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "name = \"x\"\n[ui]\ntext = \"red\"\n").unwrap();
        let err = Theme::load(path.to_str().unwrap(), false).unwrap_err();
        assert!(matches!(err, ThemeError::Invalid { .. }), "{err}");
    }
}

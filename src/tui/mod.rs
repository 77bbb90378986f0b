//! The terminal UI: a ratatui view of the agent's state, and the keys that
//! steer it. Nothing outside this module imports ratatui or crossterm.

pub mod app;
pub mod form;
pub mod heatmap;
pub mod keymap;
pub mod panes;
pub mod replay;
pub mod run;
pub mod screen;
pub mod start;
#[cfg(test)]
pub mod testing;
pub mod theme;

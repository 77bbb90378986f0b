//! sage: explain sparse-autoencoder features by experiment.
//!
//! This is the app crate of a three-crate workspace (see
//! `docs/ARCHITECTURE.md`): the pure agent lives in `sage-core` (re-exported
//! here as [`agent`], with its plain data and [`rng`]), the tensor code in
//! `sage-tensor` (re-exported as [`model`], [`sae`], [`train`]). This crate
//! holds everything that touches the world: activation sources, the hub,
//! LLM clients and the reasoners built on them, sessions (the driver and the
//! one writer of session logs), evaluation, reports, the TUI and the CLI.

pub use sage_core::{agent, rng};
pub use sage_tensor::{model, sae, train};

pub mod activation;
pub mod config;
pub mod escape;
pub mod eval;
pub mod fuzz_checks;
pub mod hub;
pub mod llm;
pub mod net;
pub mod open;
pub mod reasoner;
pub mod report;
pub mod session;
pub mod tui;
pub mod words;

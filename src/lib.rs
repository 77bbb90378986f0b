//! sage: explain sparse-autoencoder features by experiment.
//!
//! The crate is organised as a pure core with effects at the edge (see
//! `docs/ARCHITECTURE.md`): `agent` is a sans-IO state machine, `session`
//! drives it and logs every event, and the remaining modules are the
//! instruments the driver calls (models, SAEs, activation sources, LLMs).

pub mod activation;
pub mod agent;
pub mod config;
pub mod eval;
pub mod llm;
pub mod model;
pub mod rng;
pub mod sae;
pub mod session;
pub mod train;
pub mod tui;

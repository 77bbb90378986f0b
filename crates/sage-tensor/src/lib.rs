//! sage's instrument: language models run to a TransformerLens hook
//! ([`model`]), sparse autoencoders over those activations ([`sae`]), and
//! the TopK SAE trainer ([`train`]).
//!
//! This is the only crate of the workspace that sees tensors (candle). It
//! loads from local paths it is given; the app resolves hub ids to files
//! first and hands the results to the agent as plain `f32` data.

pub mod fuzz_checks;
pub mod model;
pub mod sae;
pub mod train;

//! The pure core of sage: the SAGE research agent as a sans-IO state
//! machine ([`agent`]), and the plain data it exchanges with the world
//! ([`activation`] records, [`usage`] of reasoner calls, the seeded
//! [`rng`]).
//!
//! The crate is `no_std` (with `alloc`) and depends on serde, serde_json and
//! thiserror only, so the compiler refuses any use of tokio, reqwest, candle,
//! `std::fs`, `std::time`, threads or OS randomness here: the agent stays a
//! function of the events it is given, and folding a session log into a
//! fresh agent replays it exactly.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

/// The `alloc` types every module uses, imported once (a `no_std` crate has
/// no std prelude to provide them).
mod prelude {
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}

pub mod activation;
pub mod agent;
pub mod rng;
pub mod usage;

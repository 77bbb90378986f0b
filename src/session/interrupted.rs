//! Finding the session a batch run should continue: the newest unfinished
//! session of a feature that was started with the same source, reasoner and
//! configuration. `sage explain` uses it so an interrupted batch resumes
//! where it stopped instead of starting over.

use super::log::SourceRecord;
use super::replay::replay;
use super::store::SessionStore;
use crate::agent::{Agent, AgentConfig};
use crate::net::strip_userinfo;

/// What a resumable session must have been started with.
#[derive(Debug, Clone, Copy)]
pub struct ResumeQuery<'a> {
    /// The feature explained.
    pub feature: u32,
    /// The model, as the source names it.
    pub model: &'a str,
    /// The SAE, as the source names it.
    pub sae: &'a str,
    /// The reasoner spec recorded in the header.
    pub reasoner: &'a str,
    /// The source (logs from before sources were recorded match on model
    /// and SAE names alone).
    pub source: &'a SourceRecord,
    /// The agent configuration.
    pub config: &'a AgentConfig,
}

/// The id of the newest session in `store` that matches `query` and has not
/// concluded, if any. Unreadable logs are passed over.
pub fn interrupted_session(store: &SessionStore, query: &ResumeQuery) -> Option<String> {
    let suffix = format!("-f{}", query.feature);
    let ids = store.ids().ok()?;
    ids.into_iter().rev().find(|id| {
        let own_feature = id.ends_with(&suffix) || id.contains(&format!("{suffix}-"));
        own_feature
            && store.load(id).is_ok_and(|log| {
                let h = &log.header;
                h.feature == query.feature
                    && h.model == query.model
                    && h.sae == query.sae
                    && h.reasoner == strip_userinfo(query.reasoner)
                    && h.source.as_ref().is_none_or(|s| s == query.source)
                    && h.config == *query.config
                    && replay(Agent::new(), &log.entries, None)
                        .conclusion()
                        .is_none()
            })
    })
}

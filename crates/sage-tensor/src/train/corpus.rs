//! The text a training run reads, as the trainer needs it: a fixed list of
//! files, each a sequence of documents. The app implements it over its own
//! corpus reader (plain text, JSONL, directories), so this crate walks no
//! directories and parses no corpus formats of its own.

use std::path::{Path, PathBuf};

/// A training corpus.
pub trait TextCorpus {
    /// The corpus files in a fixed order (the trainer shuffles them with
    /// its seed, so the order only has to be stable).
    fn files(&self) -> Vec<PathBuf>;
    /// Calls `visit` with each document of `file`, in order, until `visit`
    /// returns false or the file ends. The error says what could not be read.
    fn visit_documents(
        &self,
        file: &Path,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), String>;
}

//! Streaming model activations from a corpus, for training.
//!
//! The corpus files are visited in a seeded random order, and from each
//! file only `tokens_per_file` tokens are taken per pass, so a budget much
//! smaller than the corpus still sees every kind of text in it instead of
//! the first few files in path order. Pass `p` takes each file's tokens
//! `p * tokens_per_file ..`; when a pass yields nothing the stream starts
//! again at pass 0, so it never runs dry.
//!
//! Each window of `context` tokens (BOS included when the model has one)
//! runs through the model to the hook. The BOS position is dropped: its
//! residual stream is an attention sink with a norm many times any other
//! token's and would dominate the reconstruction loss.

use std::path::{Path, PathBuf};

use super::TrainError;
use super::corpus::TextCorpus;
use super::rng::Rng;
use crate::model::{HookPoint, HookedModel, ModelTokenizer};

/// Where the activations come from and how they are cut.
pub struct StreamSource<'a> {
    /// The model to run.
    pub model: &'a dyn HookedModel,
    /// Its tokenizer (decides whether a BOS is prepended).
    pub tokenizer: &'a ModelTokenizer,
    /// The hook to read.
    pub hook: HookPoint,
    /// Tokens per window, BOS included.
    pub context: usize,
    /// Tokens taken from each file per pass.
    pub tokens_per_file: usize,
    /// Windows run through the model in one batch.
    pub windows_per_forward: usize,
}

/// An endless stream of activation rows (`d_model` values each).
pub struct ActivationStream<'a> {
    source: StreamSource<'a>,
    corpus: &'a dyn TextCorpus,
    corpus_path: PathBuf,
    files: Vec<PathBuf>,
    next_file: usize,
    pass: usize,
    pass_yielded: bool,
    pending: Vec<Vec<u32>>,
    passes_completed: usize,
}

impl<'a> ActivationStream<'a> {
    /// Fixes the file order of `corpus` (named `corpus_path` in messages).
    pub fn open(
        source: StreamSource<'a>,
        corpus: &'a dyn TextCorpus,
        corpus_path: &Path,
        rng: &mut Rng,
    ) -> Result<ActivationStream<'a>, TrainError> {
        let mut files = corpus.files();
        rng.shuffle(&mut files);
        Ok(ActivationStream {
            source,
            corpus,
            corpus_path: corpus_path.to_path_buf(),
            files,
            next_file: 0,
            pass: 0,
            pass_yielded: false,
            pending: Vec::new(),
            passes_completed: 0,
        })
    }

    /// Number of files in the corpus.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// How many full passes over the files have been made.
    pub fn passes_completed(&self) -> usize {
        self.passes_completed
    }

    /// The next group of rows, flat (`rows * d_model` values), from
    /// `windows_per_forward` windows run through the model as one batch.
    pub fn next_rows(&mut self) -> Result<Vec<f32>, TrainError> {
        while self.pending.len() < self.source.windows_per_forward.max(1) {
            self.read_next_file()?;
        }
        let take = self
            .pending
            .len()
            .min(self.source.windows_per_forward.max(1));
        let batch: Vec<Vec<u32>> = self.pending.drain(..take).collect();
        let bos = self.source.tokenizer.bos_id();
        let inputs: Vec<Vec<u32>> = batch
            .iter()
            .map(|w| bos.into_iter().chain(w.iter().copied()).collect())
            .collect();
        let outputs = self
            .source
            .model
            .run_to_hook_batch(&inputs, self.source.hook)?;
        let skip = usize::from(bos.is_some());
        let mut rows = Vec::new();
        for out in outputs {
            let len = out.dim(0)?;
            let kept = out.narrow(0, skip, len - skip)?;
            rows.extend(kept.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(rows)
    }

    /// Cuts the next file's share of this pass into pending windows; an
    /// error when a whole first pass yields no tokens at all.
    fn read_next_file(&mut self) -> Result<(), TrainError> {
        if self.next_file == self.files.len() {
            self.next_file = 0;
            self.passes_completed += 1;
            if self.pass_yielded {
                self.pass += 1;
            } else if self.pass == 0 {
                return Err(TrainError::NoTokens {
                    path: self.corpus_path.clone(),
                });
            } else {
                self.pass = 0;
            }
            self.pass_yielded = false;
        }
        let path = self.files[self.next_file].clone();
        self.next_file += 1;
        let per_file = self.source.tokens_per_file.max(1);
        let skip = self.pass * per_file;
        let want = skip + per_file;
        let mut ids = Vec::new();
        let mut failed = None;
        let tokenizer = self.source.tokenizer;
        self.corpus
            .visit_documents(&path, &mut |text| {
                if text.trim().is_empty() {
                    return true;
                }
                match tokenizer.encode(text, Some(false)) {
                    Ok(tokens) => ids.extend(tokens),
                    Err(e) => failed = Some(e),
                }
                failed.is_none() && ids.len() < want
            })
            .map_err(TrainError::Corpus)?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        if ids.len() > skip {
            let share = &ids[skip..ids.len().min(want)];
            let body = self
                .source
                .context
                .saturating_sub(usize::from(self.source.tokenizer.bos_id().is_some()))
                .max(1);
            self.pending.extend(share.chunks(body).map(<[u32]>::to_vec));
            self.pass_yielded = true;
        }
        Ok(())
    }
}

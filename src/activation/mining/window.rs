//! Cutting documents into fixed-length token windows, each remembering
//! the file and byte offset it came from.

use std::sync::Arc;

use super::MiningError;
use super::corpus::Document;

/// One token of a document: its id and the byte span of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Vocabulary id.
    pub id: u32,
    /// Byte offset of the token's first byte in the document text.
    pub start: usize,
    /// Byte offset just past the token's text.
    pub end: usize,
}

/// Splits text into tokens with byte spans. The model's tokenizer in real
/// runs; a simple deterministic one in tests.
pub trait WindowTokenizer {
    /// Tokens of `text`, in order, without special tokens (the scorer adds
    /// a BOS if its model wants one).
    fn tokenize(&self, text: &str) -> Result<Vec<Token>, MiningError>;
}

impl WindowTokenizer for tokenizers::Tokenizer {
    fn tokenize(&self, text: &str) -> Result<Vec<Token>, MiningError> {
        let encoding = self
            .encode(text, false)
            .map_err(|e| MiningError::Tokenize(e.to_string()))?;
        Ok(encoding
            .get_ids()
            .iter()
            .zip(encoding.get_offsets())
            .map(|(&id, &(start, end))| Token { id, start, end })
            .collect())
    }
}

/// A run of consecutive tokens from one document: the unit the model
/// scores and the miner ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenWindow {
    /// Position of this window in the corpus's window stream (0, 1, …);
    /// stable across runs, used to break ties and to resume.
    pub seq: u64,
    /// The file it came from.
    pub file: Arc<str>,
    /// Byte offset of the window's first token in the file (for `.jsonl`,
    /// the offset of the record's line).
    pub offset: u64,
    /// Token ids.
    pub ids: Vec<u32>,
    /// Each token's text.
    pub tokens: Vec<String>,
    /// Corpus bytes read once this window's document is done (progress).
    pub corpus_bytes_done: u64,
}

/// Cuts `doc` into windows of at most `size` tokens (the last one of a
/// document may be shorter), numbering them from `first_seq`.
pub fn windows_of(
    doc: &Document,
    tokenizer: &dyn WindowTokenizer,
    size: usize,
    first_seq: u64,
) -> Result<Vec<TokenWindow>, MiningError> {
    let tokens = tokenizer.tokenize(&doc.text)?;
    let size = size.max(1);
    Ok(tokens
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let start = chunk.first().map_or(0, |t| t.start);
            TokenWindow {
                seq: first_seq + i as u64,
                file: doc.file.clone(),
                offset: doc.offset + if doc.exact_offsets { start as u64 } else { 0 },
                ids: chunk.iter().map(|t| t.id).collect(),
                tokens: chunk
                    .iter()
                    .map(|t| doc.text.get(t.start..t.end).unwrap_or("").to_string())
                    .collect(),
                corpus_bytes_done: doc.corpus_bytes_done,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace-separated words; the id is the word's length.
    struct Words;

    impl WindowTokenizer for Words {
        fn tokenize(&self, text: &str) -> Result<Vec<Token>, MiningError> {
            let mut out = Vec::new();
            let mut pos = 0;
            for word in text.split(' ') {
                if !word.is_empty() {
                    out.push(Token {
                        id: word.len() as u32,
                        start: pos,
                        end: pos + word.len(),
                    });
                }
                pos += word.len() + 1;
            }
            Ok(out)
        }
    }

    #[test]
    fn windows_carry_their_file_offset_and_numbering() {
        let doc = Document {
            file: Arc::from("c.txt"),
            offset: 100,
            exact_offsets: true,
            corpus_bytes_done: 0,
            text: "aa bbb c dddd e".to_string(),
        };
        let windows = windows_of(&doc, &Words, 2, 7).unwrap();
        let summary: Vec<(u64, u64, Vec<String>, Vec<u32>)> = windows
            .into_iter()
            .map(|w| (w.seq, w.offset, w.tokens, w.ids))
            .collect();
        assert_eq!(
            summary,
            vec![
                (7, 100, vec!["aa".into(), "bbb".into()], vec![2, 3]),
                (8, 107, vec!["c".into(), "dddd".into()], vec![1, 4]),
                (9, 114, vec!["e".into()], vec![1]),
            ]
        );
    }
}

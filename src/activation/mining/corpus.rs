//! Reading a corpus as a stream of documents: plain text files, `.jsonl`
//! files with a `"text"` field, or a directory of both (recursive, sorted
//! by path, so every run sees the same order). Nothing is read whole: text
//! files are cut into chunks at line ends, so memory stays bounded however
//! large a file is.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::MiningError;
use crate::activation::cache::CacheKey;
use crate::train::TextCorpus;

/// A text chunk grows line by line until it reaches this many bytes.
const CHUNK_TARGET: usize = 8 * 1024;
/// A single line longer than this is cut (at a character boundary).
const CHUNK_LIMIT: usize = 64 * 1024;
/// How much of a file is sniffed for NUL bytes to skip binary files.
const SNIFF_LEN: usize = 8 * 1024;

/// How a corpus file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// UTF-8 text (invalid bytes replaced).
    Text,
    /// One JSON object per line with a `"text"` string.
    Jsonl,
}

/// One file of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusFile {
    /// Where it is.
    pub path: PathBuf,
    /// How to read it.
    pub format: FileFormat,
    /// Size in bytes when the corpus was opened.
    pub size: u64,
    /// Modification time (nanoseconds since the epoch; 0 if unknown).
    pub modified_ns: u128,
    /// Read at most this many bytes from the start of the file (a sampled
    /// corpus); `None` reads it all.
    pub limit: Option<u64>,
}

impl CorpusFile {
    /// The bytes of this file that are read: its size, or less if limited.
    pub fn read_bytes(&self) -> u64 {
        self.limit.map_or(self.size, |l| l.min(self.size))
    }
}

/// The files to mine, in a fixed order.
#[derive(Debug, Clone)]
pub struct Corpus {
    files: Vec<CorpusFile>,
}

/// A piece of a corpus file that is tokenized on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file it came from, as given on the command line (shared by all
    /// documents of the file).
    pub file: Arc<str>,
    /// Byte offset of the document in its file: the chunk start for text,
    /// the line start for `.jsonl`.
    pub offset: u64,
    /// Whether byte positions inside `text` map one-to-one onto the file
    /// (true for text; false for `.jsonl`, where JSON escapes intervene).
    pub exact_offsets: bool,
    /// Bytes of the corpus before this document ends (for progress).
    pub corpus_bytes_done: u64,
    /// The text.
    pub text: String,
}

impl Corpus {
    /// Opens a file or a directory. Directories are walked recursively in
    /// sorted order, skipping hidden entries and binary files (a NUL byte
    /// in the first 8 KiB); `.jsonl` / `.ndjson` files are read as JSON
    /// lines, every other file as text.
    pub fn open(path: &Path) -> Result<Corpus, MiningError> {
        let meta = std::fs::metadata(path).map_err(|_| MiningError::CorpusNotFound {
            path: path.to_path_buf(),
        })?;
        let mut paths = Vec::new();
        if meta.is_dir() {
            walk(path, &mut paths)?;
            paths.retain(|p| !is_binary(p));
        } else {
            paths.push(path.to_path_buf());
        }
        let files = paths
            .into_iter()
            .map(corpus_file)
            .collect::<Result<Vec<_>, _>>()?;
        if files.is_empty() {
            return Err(MiningError::EmptyCorpus {
                path: path.to_path_buf(),
            });
        }
        Ok(Corpus { files })
    }

    /// A corpus of exactly these files, in this order (see
    /// [`Corpus::sample`]).
    pub(super) fn from_files(files: Vec<CorpusFile>) -> Corpus {
        Corpus { files }
    }

    /// The files, in reading order.
    pub fn files(&self) -> &[CorpusFile] {
        &self.files
    }

    /// Total bytes read by a pass over the corpus.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(CorpusFile::read_bytes).sum()
    }

    /// Identifies the corpus content by each file's path, size and
    /// modification time. This is what makes a second query instant: it
    /// costs one `stat` per file instead of reading the corpus again. Any
    /// edit changes a file's mtime (and usually its size), so a changed
    /// corpus never reuses a stale result.
    pub fn fingerprint(&self) -> CacheKey {
        CacheKey::from_parts(self.files.iter().flat_map(|f| {
            let mut parts = vec![
                f.path.to_string_lossy().into_owned(),
                f.size.to_string(),
                f.modified_ns.to_string(),
            ];
            parts.extend(f.limit.map(|l| format!("limit={l}")));
            parts
        }))
    }

    /// The documents of every file, in order.
    pub fn documents(&self) -> Documents<'_> {
        Documents {
            files: &self.files,
            next_file: 0,
            current: None,
            bytes_before: 0,
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), MiningError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MiningError::io(dir, e))?;
    let mut children: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()).map_err(|err| MiningError::io(dir, err)))
        .collect::<Result<_, _>>()?;
    children.sort();
    for child in children {
        let hidden = child
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if child.is_dir() {
            walk(&child, out)?;
        } else if child.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

fn is_binary(path: &Path) -> bool {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    match File::open(path) {
        Ok(file) => {
            let _ = file.take(SNIFF_LEN as u64).read_to_end(&mut head);
            head.contains(&0)
        }
        Err(_) => false,
    }
}

fn corpus_file(path: PathBuf) -> Result<CorpusFile, MiningError> {
    let meta = std::fs::metadata(&path).map_err(|e| MiningError::io(&path, e))?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "ndjson") => FileFormat::Jsonl,
        _ => FileFormat::Text,
    };
    Ok(CorpusFile {
        path,
        format,
        size: meta.len(),
        modified_ns,
        limit: None,
    })
}

/// The trainer (`sage train-sae`) reads the same files in the same way as
/// mining does.
impl TextCorpus for Corpus {
    fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    fn visit_documents(
        &self,
        file: &Path,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), String> {
        let one = Corpus::open(file).map_err(|e| e.to_string())?;
        for doc in one.documents() {
            if !visit(&doc.map_err(|e| e.to_string())?.text) {
                break;
            }
        }
        Ok(())
    }
}

/// Streams documents file after file; see [`Corpus::documents`].
pub struct Documents<'a> {
    files: &'a [CorpusFile],
    next_file: usize,
    current: Option<FileReader>,
    bytes_before: u64,
}

struct FileReader {
    name: Arc<str>,
    path: PathBuf,
    format: FileFormat,
    reader: BufReader<File>,
    /// Bytes consumed from the file so far.
    position: u64,
    /// Bytes of the file to read in all (its size, or its limit).
    end: u64,
    /// Lines read so far (for error messages).
    line: u64,
    /// Bytes of an incomplete UTF-8 character carried to the next chunk.
    carry: Vec<u8>,
}

impl Iterator for Documents<'_> {
    type Item = Result<Document, MiningError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                let file = self.files.get(self.next_file)?;
                self.next_file += 1;
                let handle = match File::open(&file.path) {
                    Ok(h) => h,
                    Err(e) => return Some(Err(MiningError::io(&file.path, e))),
                };
                self.current = Some(FileReader {
                    name: Arc::from(file.path.to_string_lossy().as_ref()),
                    path: file.path.clone(),
                    format: file.format,
                    reader: BufReader::with_capacity(64 * 1024, handle),
                    position: 0,
                    end: file.limit.unwrap_or(u64::MAX),
                    line: 0,
                    carry: Vec::new(),
                });
            }
            let reader = self.current.as_mut()?;
            let next = match reader.format {
                FileFormat::Text => reader.next_text_chunk(),
                FileFormat::Jsonl => reader.next_json_line(),
            };
            match next {
                Ok(Some(mut doc)) => {
                    doc.corpus_bytes_done = self.bytes_before + reader.position;
                    return Some(Ok(doc));
                }
                Ok(None) => {
                    self.bytes_before += reader.position;
                    self.current = None;
                }
                Err(e) => {
                    self.current = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl FileReader {
    fn document(&self, offset: u64, exact_offsets: bool, text: String) -> Document {
        Document {
            file: self.name.clone(),
            offset,
            exact_offsets,
            corpus_bytes_done: 0,
            text,
        }
    }

    /// Reads whole lines until the chunk reaches [`CHUNK_TARGET`] bytes
    /// (a single overlong line is cut at [`CHUNK_LIMIT`]).
    fn next_text_chunk(&mut self) -> Result<Option<Document>, MiningError> {
        let start = self.position - self.carry.len() as u64;
        let mut bytes = std::mem::take(&mut self.carry);
        while bytes.len() < CHUNK_TARGET {
            let room = ((CHUNK_LIMIT - bytes.len()) as u64).min(self.end - self.position);
            let read = (&mut self.reader)
                .take(room)
                .read_until(b'\n', &mut bytes)
                .map_err(|e| MiningError::io(&self.path, e))?;
            self.position += read as u64;
            let full = bytes.len() >= CHUNK_LIMIT || self.position >= self.end;
            if read == 0 || (!bytes.ends_with(b"\n") && full) {
                break;
            }
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        // Keep an incomplete trailing character for the next chunk.
        if let Err(e) = std::str::from_utf8(&bytes)
            && e.error_len().is_none()
            && e.valid_up_to() > 0
        {
            self.carry = bytes.split_off(e.valid_up_to());
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Some(self.document(start, true, text)))
    }

    /// Reads the next non-blank line and takes its `"text"` field.
    fn next_json_line(&mut self) -> Result<Option<Document>, MiningError> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let start = self.position;
            if start >= self.end {
                return Ok(None);
            }
            let read = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|e| MiningError::io(&self.path, e))?;
            if read == 0 {
                return Ok(None);
            }
            self.position += read as u64;
            self.line += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let bad = |why: String| MiningError::BadJsonl {
                path: self.path.clone(),
                line: self.line,
                why,
            };
            let value: serde_json::Value =
                serde_json::from_slice(&line).map_err(|e| bad(format!("not JSON ({e})")))?;
            let text = value
                .get("text")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad("no \"text\" string field".to_string()))?;
            return Ok(Some(self.document(start, false, text.to_string())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(corpus: &Corpus) -> Vec<(String, u64, String)> {
        corpus
            .documents()
            .map(|d| d.unwrap())
            .map(|d| {
                let name = Path::new(d.file.as_ref())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (name, d.offset, d.text)
            })
            .collect()
    }

    #[test]
    fn directories_are_walked_sorted_skipping_hidden_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/z.txt"), "zed\n").unwrap();
        std::fs::write(
            dir.path().join("a.jsonl"),
            "{\"text\":\"one\"}\n\n{\"text\":\"two\"}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".hidden"), "no").unwrap();
        std::fs::write(dir.path().join("c.dat"), b"\x00\x01bin").unwrap();
        let corpus = Corpus::open(dir.path()).unwrap();
        assert_eq!(
            texts(&corpus),
            vec![
                ("a.jsonl".to_string(), 0, "one".to_string()),
                ("a.jsonl".to_string(), 16, "two".to_string()),
                ("z.txt".to_string(), 0, "zed\n".to_string()),
            ]
        );
    }

    #[test]
    fn text_files_are_cut_into_line_aligned_chunks_with_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let line = "x".repeat(1000) + "\n";
        let content = line.repeat(20);
        std::fs::write(dir.path().join("t.txt"), &content).unwrap();
        let corpus = Corpus::open(&dir.path().join("t.txt")).unwrap();
        let docs = texts(&corpus);
        // Chunks of whole lines, just past 8 KiB: 9 lines each.
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].2.len(), 9009);
        assert_eq!(docs[1].1, 9009);
        let joined: String = docs.iter().map(|d| d.2.as_str()).collect();
        assert_eq!(joined, content);
        for (_, offset, text) in &docs {
            let at = *offset as usize;
            assert_eq!(&content[at..at + text.len()], text);
        }
    }

    #[test]
    fn an_overlong_line_is_cut_without_splitting_a_character() {
        let dir = tempfile::tempdir().unwrap();
        // 80,001 bytes, no newline: the 64 KiB cut falls inside an "é".
        let content = "a".to_string() + &"é".repeat(40_000);
        std::fs::write(dir.path().join("t.txt"), &content).unwrap();
        let docs = texts(&Corpus::open(&dir.path().join("t.txt")).unwrap());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].2.len(), CHUNK_LIMIT - 1);
        let joined: String = docs.iter().map(|d| d.2.as_str()).collect();
        assert_eq!(joined, content);
        assert_eq!(docs[1].1 as usize, CHUNK_LIMIT - 1);
    }

    #[test]
    fn bad_jsonl_lines_and_missing_paths_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.jsonl"),
            "{\"text\":\"ok\"}\n{\"body\":1}\n",
        )
        .unwrap();
        let corpus = Corpus::open(&dir.path().join("a.jsonl")).unwrap();
        let results: Vec<_> = corpus.documents().collect();
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert!(
            matches!(err, MiningError::BadJsonl { line: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"text\""), "{err}");
        let missing = Corpus::open(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, MiningError::CorpusNotFound { .. }));
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let empty = Corpus::open(&dir.path().join("empty")).unwrap_err();
        assert!(matches!(empty, MiningError::EmptyCorpus { .. }));
    }

    #[test]
    fn fingerprint_changes_when_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.txt");
        std::fs::write(&file, "one").unwrap();
        let before = Corpus::open(dir.path()).unwrap().fingerprint();
        assert_eq!(before, Corpus::open(dir.path()).unwrap().fingerprint());
        std::fs::write(&file, "one two").unwrap();
        assert_ne!(before, Corpus::open(dir.path()).unwrap().fingerprint());
    }
}

//! A bounds-checked walk over a GGUF header before candle reads it.
//! Candle's reader divides by the declared alignment (so `0` panics) and
//! multiplies tensor dimensions unchecked; this walk reads the same layout
//! (magic, counts, metadata, tensor infos) with every length, count,
//! dimension and offset checked against the file, so a malformed file is a
//! typed error and only a sane one reaches candle.

use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::GgmlDType;

/// Most tensors or metadata entries a header may declare.
const MAX_ENTRIES: u64 = 1 << 20;
/// Most dimensions of one tensor (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;
/// Deepest nesting of arrays in metadata.
const MAX_DEPTH: usize = 8;
/// The alignment when the file declares none (the GGUF default).
const DEFAULT_ALIGNMENT: u64 = 32;

/// What the walk found wrong; the message names the part of the header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed GGUF header: {0}")]
pub struct HeaderError(pub String);

fn bad(what: impl Into<String>) -> HeaderError {
    HeaderError(what.into())
}

/// Facts the walk established, for the caller's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFacts {
    /// Tensors declared.
    pub tensors: u64,
    /// The data alignment in force.
    pub alignment: u64,
    /// Where tensor data starts.
    pub data_offset: u64,
}

struct Walker<'a, R> {
    reader: &'a mut R,
    file_len: u64,
    wide: bool,
}

impl<R: Read + Seek> Walker<'_, R> {
    fn position(&mut self) -> Result<u64, HeaderError> {
        self.reader
            .stream_position()
            .map_err(|e| bad(format!("cannot read the file: {e}")))
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], HeaderError> {
        let mut buf = [0u8; N];
        self.reader
            .read_exact(&mut buf)
            .map_err(|_| bad(format!("the file ends inside {what}")))?;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, HeaderError> {
        Ok(u32::from_le_bytes(self.bytes(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, HeaderError> {
        Ok(u64::from_le_bytes(self.bytes(what)?))
    }

    /// A count or length: u32 in version 1, u64 after.
    fn length(&mut self, what: &str) -> Result<u64, HeaderError> {
        if self.wide {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    /// Skips `n` bytes that must lie inside the file.
    fn skip(&mut self, n: u64, what: &str) -> Result<(), HeaderError> {
        let here = self.position()?;
        let end = here
            .checked_add(n)
            .filter(|&end| end <= self.file_len)
            .ok_or_else(|| bad(format!("{what} of {n} bytes runs past the end of the file")))?;
        self.reader
            .seek(SeekFrom::Start(end))
            .map_err(|e| bad(format!("cannot read the file: {e}")))?;
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>, HeaderError> {
        let len = self.length(what)?;
        let here = self.position()?;
        if len > self.file_len.saturating_sub(here) {
            return Err(bad(format!(
                "{what} claims {len} bytes, more than the file holds"
            )));
        }
        let mut text = vec![0u8; len as usize];
        self.reader
            .read_exact(&mut text)
            .map_err(|_| bad(format!("the file ends inside {what}")))?;
        Ok(text)
    }

    /// Skips one metadata value of type `kind`; returns it when it is an
    /// unsigned or signed integer (the alignment is one).
    fn value(&mut self, kind: u32, depth: usize) -> Result<Option<i128>, HeaderError> {
        let fixed = |kind| match kind {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        match kind {
            0 => Ok(Some(i128::from(self.bytes::<1>("a value")?[0]))),
            1 => Ok(Some(i128::from(self.bytes::<1>("a value")?[0] as i8))),
            2 => Ok(Some(i128::from(u16::from_le_bytes(self.bytes("a value")?)))),
            3 => Ok(Some(i128::from(i16::from_le_bytes(self.bytes("a value")?)))),
            4 => Ok(Some(i128::from(self.u32("a value")?))),
            5 => Ok(Some(i128::from(i32::from_le_bytes(self.bytes("a value")?)))),
            10 => Ok(Some(i128::from(self.u64("a value")?))),
            11 => Ok(Some(i128::from(i64::from_le_bytes(self.bytes("a value")?)))),
            8 => self.string("a string value").map(|_| None),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(bad(format!("arrays nested deeper than {MAX_DEPTH}")));
                }
                let element = self.u32("an array's element type")?;
                let count = self.length("an array's length")?;
                match fixed(element) {
                    Some(size) => {
                        let bytes = count.checked_mul(size).ok_or_else(|| {
                            bad(format!("an array of {count} elements overflows"))
                        })?;
                        self.skip(bytes, "an array")?;
                    }
                    None => {
                        // Each element takes at least one byte, so the count
                        // is bounded by the file before the loop runs.
                        let here = self.position()?;
                        if count > self.file_len.saturating_sub(here) {
                            return Err(bad(format!(
                                "an array claims {count} elements, more than the file holds"
                            )));
                        }
                        for _ in 0..count {
                            self.value(element, depth + 1)?;
                        }
                    }
                }
                Ok(None)
            }
            6 | 7 | 12 => {
                let size = fixed(kind).unwrap_or(0);
                self.skip(size, "a value")?;
                Ok(None)
            }
            other => Err(bad(format!("unknown metadata value type {other}"))),
        }
    }
}

/// The ggml type with on-disk id `id` (ggml.h's `ggml_type` numbering, the
/// types candle reads).
fn ggml_type(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// Walks the header of the GGUF file `reader` (of `file_len` bytes) and
/// checks it: known magic and version, counts the file can hold, metadata
/// that stays inside the file, a nonzero power-of-two alignment, tensors
/// of at most four nonzero dimensions with a known type, whole blocks, no
/// overflowing sizes, offsets on the alignment, and data inside the file.
pub fn check_header<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
) -> Result<HeaderFacts, HeaderError> {
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| bad(format!("cannot read the file: {e}")))?;
    let mut w = Walker {
        reader,
        file_len,
        wide: true,
    };
    if &w.bytes::<4>("the magic number")? != b"GGUF" {
        return Err(bad("the file does not start with `GGUF`"));
    }
    let version = w.u32("the version")?;
    w.wide = match version {
        1 => false,
        2 | 3 => true,
        other => return Err(bad(format!("unsupported version {other}"))),
    };
    let tensors = w.length("the tensor count")?;
    let entries = w.length("the metadata count")?;
    for (count, what) in [(tensors, "tensors"), (entries, "metadata entries")] {
        if count > MAX_ENTRIES || count > file_len {
            return Err(bad(format!(
                "{count} {what} declared, more than the file can hold"
            )));
        }
    }
    let mut alignment = DEFAULT_ALIGNMENT;
    for _ in 0..entries {
        let key = w.string("a metadata key")?;
        let kind = w.u32("a metadata value type")?;
        let value = w.value(kind, 0)?;
        if key == b"general.alignment" {
            alignment = value
                .and_then(|v| u64::try_from(v).ok())
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| {
                    bad("`general.alignment` must be a positive power of two (the default is 32)")
                })?;
        }
    }
    let mut infos = Vec::new();
    for _ in 0..tensors {
        let name = String::from_utf8_lossy(&w.string("a tensor name")?).into_owned();
        let n_dims = w.u32("a tensor's dimension count")?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(bad(format!(
                "tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} allowed)"
            )));
        }
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let dim = w.length("a tensor dimension")?;
            elements = elements
                .checked_mul(dim)
                .filter(|_| dim > 0)
                .ok_or_else(|| bad(format!("tensor `{name}` has a zero or overflowing shape")))?;
        }
        let kind = w.u32("a tensor type")?;
        let offset = w.u64("a tensor offset")?;
        infos.push((name, elements, kind, offset));
    }
    let end = w.position()?;
    let data_offset = end.div_ceil(alignment) * alignment;
    for (name, elements, kind, offset) in infos {
        let dtype = ggml_type(kind)
            .ok_or_else(|| bad(format!("tensor `{name}` has unknown type {kind}")))?;
        let block = dtype.block_size() as u64;
        if elements % block != 0 {
            return Err(bad(format!(
                "tensor `{name}` has {elements} elements, not whole blocks of {block}"
            )));
        }
        let size = (elements / block)
            .checked_mul(dtype.type_size() as u64)
            .ok_or_else(|| bad(format!("tensor `{name}` is too large")))?;
        if offset % alignment != 0 {
            return Err(bad(format!(
                "tensor `{name}` starts at offset {offset}, not a multiple of the alignment {alignment}"
            )));
        }
        let fits = data_offset
            .checked_add(offset)
            .and_then(|start| start.checked_add(size))
            .is_some_and(|stop| stop <= file_len);
        if !fits {
            return Err(bad(format!(
                "tensor `{name}` ({size} bytes at offset {offset}) runs past the end of the file; it may be truncated"
            )));
        }
    }
    Ok(HeaderFacts {
        tensors,
        alignment,
        data_offset,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A version-3 header with one u32 `general.alignment` entry and one
    /// f32 tensor of `dims` at `offset`, followed by `data` bytes.
    fn file(alignment: u32, dims: &[u64], offset: u64, data: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        let key = b"general.alignment";
        b.extend_from_slice(&(key.len() as u64).to_le_bytes());
        b.extend_from_slice(key);
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&alignment.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.push(b'w');
        b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        b.resize(b.len().div_ceil(32) * 32 + data, 0);
        b
    }

    fn check(bytes: &[u8]) -> Result<HeaderFacts, HeaderError> {
        check_header(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn a_sane_header_passes() {
        let facts = check(&file(32, &[4, 2], 0, 32)).unwrap();
        assert_eq!((facts.tensors, facts.alignment), (1, 32));
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let cases: [(Vec<u8>, &str); 6] = [
            (file(0, &[4], 0, 16), "alignment"),
            (file(24, &[4], 0, 16), "alignment"),
            (file(32, &[4, 2], 0, 8), "past the end"),
            (file(32, &[4], 1 << 62, 16), "past the end"),
            (file(32, &[u64::MAX, 4], 0, 16), "overflowing"),
            (file(32, &[4], 3, 16), "multiple of the alignment"),
        ];
        for (bytes, expected) in cases {
            let err = check(&bytes).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let mut huge_count = file(32, &[4], 0, 16);
        huge_count[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            check(&huge_count)
                .unwrap_err()
                .to_string()
                .contains("tensors declared")
        );
        assert!(check(b"GGUF").is_err());
        assert!(check(b"").is_err());
    }
}

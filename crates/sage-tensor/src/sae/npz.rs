//! Checks a numpy `.npz` archive before candle reads it. Candle allocates
//! each array from the shape its `.npy` header declares, and the header's
//! own length from a 4-byte field, both before reading a byte of data: a
//! shape larger than the file would reserve gigabytes on its way to an
//! error. Here every member must be stored (not deflated, as `np.savez`
//! writes them), and its header and declared data must fit in the member.

use std::io::Read;
use std::path::Path;

/// The `.npy` magic string.
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
/// Longest `.npy` header accepted (numpy writes well under a kilobyte).
const MAX_HEADER: usize = 1 << 16;

/// Why an archive or one of its members was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NpzError(pub String);

/// Checks one `.npy` member: `head` holds its first bytes (at least the
/// whole header when the member has one), `member_len` its full length.
/// Returns the declared data size in bytes.
pub fn check_npy(head: &[u8], member_len: u64) -> Result<u64, NpzError> {
    let bad = |what: String| NpzError(what);
    if head.len() < NPY_MAGIC.len() + 2 || &head[..NPY_MAGIC.len()] != NPY_MAGIC {
        return Err(bad("not a .npy array (bad magic string)".into()));
    }
    let major = head[NPY_MAGIC.len()];
    let (len_bytes, start) = match major {
        1 => (2, NPY_MAGIC.len() + 2),
        2 | 3 => (4, NPY_MAGIC.len() + 2),
        other => return Err(bad(format!("unsupported .npy version {other}"))),
    };
    let field = head
        .get(start..start + len_bytes)
        .ok_or_else(|| bad("the .npy header is cut short".into()))?;
    let header_len = field
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let data_start = start + len_bytes + header_len;
    if header_len > MAX_HEADER || data_start as u64 > member_len {
        return Err(bad(format!(
            "the .npy header claims {header_len} bytes, more than the array holds"
        )));
    }
    let header = head
        .get(start + len_bytes..data_start)
        .ok_or_else(|| bad("the .npy header is cut short".into()))?;
    let header = String::from_utf8_lossy(header);
    let item = descr_item_size(&header)
        .ok_or_else(|| bad("the .npy header has no readable `descr`".into()))?;
    let shape =
        shape(&header).ok_or_else(|| bad("the .npy header has no readable `shape`".into()))?;
    let bytes = shape
        .iter()
        .try_fold(item, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("the shape {shape:?} overflows")))?;
    let room = member_len - data_start as u64;
    if bytes > room {
        return Err(bad(format!(
            "the shape {shape:?} needs {bytes} bytes but the array holds only {room}; the file is truncated or damaged"
        )));
    }
    Ok(bytes)
}

/// The value of `'key':` in a numpy header dict, from its first non-blank
/// character on.
fn after_key<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    Some(rest.trim_start())
}

/// Bytes per element from `'descr': '<f4'` (the trailing digits).
fn descr_item_size(header: &str) -> Option<u64> {
    let rest = after_key(header, "descr")?.strip_prefix('\'')?;
    let descr = &rest[..rest.find('\'')?];
    let digits: String = descr
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let size: u64 = digits.chars().rev().collect::<String>().parse().ok()?;
    (size > 0).then_some(size)
}

/// The dimensions in `'shape': (a, b, )`.
fn shape(header: &str) -> Option<Vec<u64>> {
    let rest = after_key(header, "shape")?.strip_prefix('(')?;
    rest[..rest.find(')')?]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().ok())
        .collect()
}

/// Checks every member of the archive at `path`.
pub fn check_npz(path: &Path) -> Result<(), NpzError> {
    let file = std::fs::File::open(path).map_err(|e| NpzError(format!("cannot open it: {e}")))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| NpzError(format!("not a readable zip archive ({e})")))?;
    for i in 0..archive.len() {
        let member = archive
            .by_index_raw(i)
            .map_err(|e| NpzError(format!("member {i} cannot be read ({e})")))?;
        let name = member.name().map(|n| n.into_owned()).unwrap_or_default();
        if member.compression() != zip::CompressionMethod::Stored
            || member.size() != member.compressed_size()
        {
            return Err(NpzError(format!(
                "array `{name}` is compressed; sage reads archives written by np.savez: re-save it uncompressed"
            )));
        }
        let size = member.size();
        let mut head = Vec::new();
        member
            .take(MAX_HEADER as u64 + 16)
            .read_to_end(&mut head)
            .map_err(|e| NpzError(format!("array `{name}` cannot be read ({e})")))?;
        check_npy(&head, size).map_err(|e| NpzError(format!("array `{name}`: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: usize) -> Vec<u8> {
        let mut b = NPY_MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    #[test]
    fn shapes_that_fit_pass_and_larger_ones_are_refused() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }";
        let ok = npy(header, 32);
        assert_eq!(check_npy(&ok, ok.len() as u64), Ok(32));
        let short = npy(header, 31);
        let err = check_npy(&short, short.len() as u64).unwrap_err().0;
        assert!(err.contains("needs 32 bytes"), "{err}");
        let huge = npy("{'descr': '<f4', 'shape': (4294967296, 4294967296), }", 8);
        assert!(
            check_npy(&huge, huge.len() as u64)
                .unwrap_err()
                .0
                .contains("overflows")
        );
        let scalar = npy("{'descr': '<f8', 'shape': (), }", 8);
        assert_eq!(check_npy(&scalar, scalar.len() as u64), Ok(8));
    }

    #[test]
    fn broken_headers_are_refused() {
        let mut long = npy("{'descr': '<f4', 'shape': (1,), }", 4);
        long[6] = 2;
        long.splice(8..10, [0xff, 0xff, 0xff, 0x7f]);
        assert!(check_npy(&long, long.len() as u64).is_err());
        assert!(check_npy(b"\x93NUMPY", 6).is_err());
        let no_shape = npy("{'descr': '<f4'}", 4);
        assert!(check_npy(&no_shape, no_shape.len() as u64).is_err());
    }
}

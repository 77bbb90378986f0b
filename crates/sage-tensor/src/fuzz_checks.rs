//! What the fuzz targets (and the corpus-replay test) check on the file
//! formats this crate reads: each function takes arbitrary bytes and
//! panics only when a property fails, so libFuzzer and `cargo test` run
//! the very same code.

use std::io::Cursor;

use candle_core::Device;
use candle_core::quantized::gguf_file;

use crate::model::gguf::header::check_header;
use crate::sae::npz::check_npy;

/// A GGUF header: the bounds walk never panics, and a header it accepts
/// is read by candle, tensors included, without a panic.
pub fn gguf_header(data: &[u8]) {
    let mut reader = Cursor::new(data);
    let Ok(facts) = check_header(&mut reader, data.len() as u64) else {
        return;
    };
    assert!(facts.data_offset <= data.len() as u64 + facts.alignment);
    reader.set_position(0);
    if let Ok(content) = gguf_file::Content::read(&mut reader) {
        let names: Vec<String> = content.tensor_infos.keys().cloned().collect();
        for name in names {
            let _ = content.tensor(&mut reader, &name, &Device::Cpu);
        }
    }
}

/// A safetensors file: candle's reader (the one sage loads shards with)
/// fails or returns tensors whose bytes lie inside the input.
pub fn safetensors_header(data: &[u8]) {
    if let Ok(tensors) = candle_core::safetensors::load_buffer(data, &Device::Cpu) {
        let bytes: usize = tensors
            .values()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum();
        assert!(
            bytes <= data.len(),
            "{bytes} bytes of tensors from {} bytes",
            data.len()
        );
    }
}

/// A `.npy` member: an accepted header declares no more data than follows it.
pub fn npy_header(data: &[u8]) {
    if let Ok(bytes) = check_npy(data, data.len() as u64) {
        assert!(bytes <= data.len() as u64);
    }
}

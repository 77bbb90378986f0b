//! Shape-checked tensor lookup, so a wrong checkpoint fails with the tensor's
//! name, the expected shape and the one found instead of a bare candle error.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use super::ModelError;

/// Fetches `name` under `vb`'s prefix and checks it has exactly `shape`.
/// On the CPU everything but the matrices of the products ([`matrix`]) is
/// f32 whatever the load dtype: norms, embeddings and biases are small, and
/// the residual stream stays f32 (a bf16 load only changes the products).
pub(crate) fn tensor(vb: &VarBuilder, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
    let dtype = if vb.device().is_cpu() {
        DType::F32
    } else {
        vb.dtype()
    };
    lookup(vb, name, shape, dtype)
}

/// A product's weight matrix, in the load dtype (the packed kernels take
/// bf16 as bf16 pairs).
pub(crate) fn matrix(vb: &VarBuilder, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
    lookup(vb, name, shape, vb.dtype())
}

fn lookup(
    vb: &VarBuilder,
    name: &str,
    shape: &[usize],
    dtype: DType,
) -> Result<Tensor, ModelError> {
    let full = match vb.prefix() {
        p if p.is_empty() => name.to_string(),
        p => format!("{p}.{name}"),
    };
    if !vb.contains_tensor(name) {
        return Err(ModelError::MissingWeight {
            name: full,
            expected: shape.to_vec(),
        });
    }
    let t = vb.get_unchecked_dtype(name, dtype)?;
    if t.dims() != shape {
        return Err(ModelError::WeightShape {
            name: full,
            expected: shape.to_vec(),
            found: t.dims().to_vec(),
        });
    }
    Ok(t)
}

/// Descends into `prefix` when the checkpoint nests its tensors there
/// (`transformer.`, `model.`), so both layouts load; `probe` is a tensor
/// name relative to the model root.
pub(crate) fn under_optional_prefix<'a>(
    vb: VarBuilder<'a>,
    prefix: &str,
    probe: &str,
) -> VarBuilder<'a> {
    if vb.contains_tensor(&format!("{prefix}.{probe}")) {
        vb.pp(prefix)
    } else {
        vb
    }
}

/// Looks up rows of an embedding table: `ids` `[b, s]` to `[b, s, d]`.
pub(crate) fn embed(table: &Tensor, ids: &Tensor) -> Result<Tensor, ModelError> {
    let (b, s) = ids.dims2()?;
    Ok(table
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((b, s, table.dim(1)?))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::collections::HashMap;

    fn builder() -> VarBuilder<'static> {
        let t = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        let map = HashMap::from([("block.w".to_string(), t)]);
        VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
    }

    #[test]
    fn a_missing_tensor_is_named_with_its_expected_shape() {
        let err = tensor(&builder().pp("block"), "b", &[3]).unwrap_err();
        assert!(
            matches!(&err, ModelError::MissingWeight { name, expected } if name == "block.b" && expected == &[3]),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_shape_reports_expected_and_found() {
        let err = tensor(&builder().pp("block"), "w", &[3, 2]).unwrap_err();
        assert!(
            matches!(&err, ModelError::WeightShape { name, expected, found }
                if name == "block.w" && expected == &[3, 2] && found == &[2, 3]),
            "{err}"
        );
        assert!(tensor(&builder().pp("block"), "w", &[2, 3]).is_ok());
    }
}

//! `run_to_hook` speed on GPT-2-small-shaped random weights (12 layers,
//! d_model 768, 12 heads) to `blocks.8.hook_resid_pre`, for 1x64, 1x256,
//! 8x64 and 16x64 tokens, with the weights in f32 and in bf16 (`--dtype
//! bf16`: the products' matrices packed as bf16 pairs), next to a plain
//! candle matmul as the hardware reference.
//!
//! The vocabulary is cut to 1024 tokens to keep set-up cheap; it only sizes
//! the embedding table, which is a row lookup and costs nothing measurable.
//! Throughput is reported as FLOP/s (criterion's "elem/s" unit): per token
//! per block 24*d^2 for the projections and MLP plus 4*s*d for attention.
//! `bench/run_to_hook.sh` runs this next to the PyTorch equivalent.

use std::collections::HashMap;
use std::hint::black_box;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sage::model::HookedModel;
use sage::model::gpt2::{Gpt2, Gpt2Config};

const D: usize = 768;
const LAYERS: usize = 12;
const VOCAB: usize = 1024;
const STOP_LAYER: usize = 8;

fn random_gpt2(dtype: DType) -> Gpt2 {
    let dev = Device::Cpu;
    let mut weights = HashMap::new();
    let mut put = |name: String, shape: &[usize]| {
        let t = Tensor::randn(0f32, 0.02, shape, &dev).unwrap();
        weights.insert(name, t);
    };
    put("wte.weight".into(), &[VOCAB, D]);
    put("wpe.weight".into(), &[1024, D]);
    for i in 0..LAYERS {
        for (name, shape) in [
            ("ln_1.weight", vec![D]),
            ("ln_1.bias", vec![D]),
            ("attn.c_attn.weight", vec![D, 3 * D]),
            ("attn.c_attn.bias", vec![3 * D]),
            ("attn.c_proj.weight", vec![D, D]),
            ("attn.c_proj.bias", vec![D]),
            ("ln_2.weight", vec![D]),
            ("ln_2.bias", vec![D]),
            ("mlp.c_fc.weight", vec![D, 4 * D]),
            ("mlp.c_fc.bias", vec![4 * D]),
            ("mlp.c_proj.weight", vec![4 * D, D]),
            ("mlp.c_proj.bias", vec![D]),
        ] {
            put(format!("h.{i}.{name}"), &shape);
        }
    }
    let cfg: Gpt2Config = serde_json::from_value(serde_json::json!({
        "vocab_size": VOCAB, "n_positions": 1024, "n_embd": D, "n_layer": LAYERS, "n_head": 12
    }))
    .unwrap();
    Gpt2::new(&cfg, VarBuilder::from_tensors(weights, dtype, &dev)).unwrap()
}

fn flops(batch: usize, seq: usize) -> u64 {
    let tokens = (batch * seq) as u64;
    let (d, s) = (D as u64, seq as u64);
    STOP_LAYER as u64 * tokens * (24 * d * d + 4 * s * d)
}

fn bench_run_to_hook(c: &mut Criterion) {
    for (name, dtype) in [("f32", DType::F32), ("bf16", DType::BF16)] {
        bench_dtype(c, name, &random_gpt2(dtype));
    }
}

fn bench_dtype(c: &mut Criterion, name: &str, model: &Gpt2) {
    let hook = format!("blocks.{STOP_LAYER}.hook_resid_pre")
        .parse()
        .unwrap();
    let mut group = c.benchmark_group("run_to_hook");
    group.sample_size(10);
    for (batch, seq) in [(1usize, 64usize), (1, 256), (8, 64), (16, 64)] {
        let inputs: Vec<Vec<u32>> = (0..batch)
            .map(|b| {
                (0..seq)
                    .map(|i| ((i * 31 + b * 7) % VOCAB) as u32)
                    .collect()
            })
            .collect();
        group.throughput(Throughput::Elements(flops(batch, seq)));
        group.bench_function(BenchmarkId::new(name, format!("{batch}x{seq}")), |bench| {
            bench.iter(|| {
                if batch == 1 {
                    black_box(model.run_to_hook(&inputs[0], hook).unwrap());
                } else {
                    black_box(model.run_to_hook_batch(&inputs, hook).unwrap());
                }
            })
        });
    }
    group.finish();
}

fn bench_matmul(c: &mut Criterion) {
    let dev = Device::Cpu;
    let (m, k, n) = (512, D, 4 * D);
    let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
    let b = Tensor::randn(0f32, 1.0, (k, n), &dev).unwrap();
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
    group.bench_function("512x768x3072", |bench| {
        bench.iter(|| black_box(a.matmul(&b).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench_run_to_hook, bench_matmul);
criterion_main!(benches);

//! Why GGUF weights are dequantized to f32 at load: candle's quantized CPU
//! matmuls against its f32 matmul at SmolLM2-135M's MLP shapes for a
//! 64-token prefill, and (when the demo pack is installed) a 64-token
//! `run_to_hook` on the real SmolLM2 Q4_1 GGUF as sage loads it.
//!
//! Run: `cargo bench --bench gguf_prefill` (install the model first with
//! `scripts/install-demo-pack.sh`, or the model group is skipped).

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use sage::config::Paths;
use sage::model::{HookPoint, LoadOptions};
use sage::open::load_model;

const TOKENS: usize = 64;

fn matmuls(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut group = c.benchmark_group("prefill_matmul_64_tokens");
    group.sample_size(20);
    for (out_f, in_f) in [(1536usize, 576usize), (576, 1536)] {
        let w = Tensor::randn(0f32, 0.05, (out_f, in_f), &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (TOKENS, in_f), &dev).unwrap();
        let wt = w.t().unwrap();
        group.bench_function(format!("f32_{in_f}x{out_f}"), |b| {
            b.iter(|| x.matmul(&wt).unwrap())
        });
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_0, GgmlDType::Q4_1] {
            let q = QMatMul::from_qtensor(QTensor::quantize(&w, dtype).unwrap()).unwrap();
            group.bench_function(format!("{dtype:?}_{in_f}x{out_f}"), |b| {
                b.iter(|| q.forward(&x).unwrap())
            });
        }
    }
    group.finish();
}

fn smollm2(c: &mut Criterion) {
    let path = Paths::resolve().demo_model();
    if !path.is_file() {
        eprintln!(
            "skipping smollm2 group: {} not found; run scripts/install-demo-pack.sh",
            path.display()
        );
        return;
    }
    let loaded = load_model(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let text = "The State of the Union address of 1862 was delivered in writing. In it, the \
                President discussed emancipation, the war, finances of $1,234,567 and the \
                census of 1860, which counted 31,443,321 people. He proposed amendments to the \
                Constitution and compensation for owners.";
    let ids = loaded.tokenizer.encode(text, Some(false)).unwrap();
    let ids = &ids[..TOKENS];
    let mut group = c.benchmark_group("smollm2_q4_1_dequantized_64_tokens");
    group.sample_size(10);
    for hook in ["blocks.8.hook_resid_pre", "blocks.29.hook_resid_post"] {
        let hook: HookPoint = hook.parse().unwrap();
        group.bench_function(hook.to_string(), |b| {
            b.iter(|| loaded.model.run_to_hook(ids, hook).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, matmuls, smollm2);
criterion_main!(benches);

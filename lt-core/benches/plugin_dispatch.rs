//! Cost of calling a loss through the plugin ABI, against the same loss called directly, and
//! against one ResNet-32 training step (batch 128, CPU, 2 threads) in the same run.
//!
//! Run: `cargo bench -p lt-core --bench plugin_dispatch` (cargo builds plugins/example-loss first).
//! The direct baseline compiles the example plugin's own source file, so both sides run exactly
//! the same tch code and the difference is the dispatch.

#[path = "../../plugins/example-loss/src/poly1.rs"]
#[allow(dead_code)]
mod poly1;

use lt_core::plugin::{DatasetInfo, Plugin, StepCtx};
use lt_plugin::{Config, Loss};
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// The example plugin cargo built for this bench (a dev-dependency of lt-core, so its .so is in
/// target/<profile>/deps, next to the bench executable).
fn example_plugin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.with_file_name("liblt_plugin_example_loss.so");
    assert!(so.is_file(), "{} missing", so.display());
    so
}

/// Median seconds per call of `f` over `rounds` rounds of `n` calls.
fn median_per_call(rounds: usize, n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 4 + 1 {
        f();
    }
    let mut v: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() / n as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn resnet32_step_seconds(k: i64) -> f64 {
    let vs = nn::VarStore::new(Device::Cpu);
    let backbone = lt_core::model::resnet32(&(vs.root() / "backbone"), 3).unwrap();
    let head = lt_core::model::Head::new(&(vs.root() / "head"), 64, k, true).unwrap();
    let x = Tensor::randn([128, 3, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(k, [128], (Kind::Int64, Device::Cpu));
    median_per_call(9, 2, || {
        for mut t in vs.trainable_variables() {
            t.zero_grad();
        }
        let logits = head.forward(&backbone.forward_features(&x, true));
        logits.cross_entropy_for_logits(&y).backward();
    })
}

fn main() {
    tch::set_num_threads(2);
    tch::manual_seed(0);
    let plugin = Plugin::open(&example_plugin()).unwrap();
    let b = 128i64;
    println!("plugin dispatch, Poly-1 loss forward, B={b}, CPU, 2 threads (median per call)");
    let mut worst_overhead = 0f64;
    for k in [10i64, 100] {
        let info = DatasetInfo::for_test(vec![100; k as usize]);
        let cfg = serde_json::json!({"epsilon": 1.0});
        let mut via_abi = plugin.loss("poly1", &cfg, &info).unwrap();
        let mut direct = poly1::Poly1Loss::new(&Config(cfg.clone()), &info).unwrap();
        let logits = Tensor::randn([b, k], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let targets = Tensor::randint(k, [b], (Kind::Int64, Device::Cpu));
        let ctx = StepCtx::default();
        // Alternate the two calls and time each one, so load changes on a busy machine hit both
        // alike; medians of single calls ignore the spikes.
        let n = 1500;
        let (mut d, mut a, mut diff) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n + 100 {
            let t = Instant::now();
            let _ = direct.forward(&logits, &targets, &ctx).unwrap();
            let td = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _ = via_abi.forward(&logits, &targets, &ctx).unwrap();
            let ta = t.elapsed().as_secs_f64();
            if i >= 100 {
                d.push(td);
                a.push(ta);
                diff.push(ta - td);
            }
        }
        let (d, a, diff) = (median(d), median(a), median(diff));
        let bare = median_per_call(7, 3000, || {
            let _ = via_abi.adjust_logits(&logits).unwrap();
        });
        // Conservative: the largest of the three estimates of what the ABI adds.
        worst_overhead = worst_overhead.max(a - d).max(diff).max(bare);
        println!(
            "K={k:>3}: direct {:8.2} us  via ABI {:8.2} us  median paired difference {:+6.2} us  (empty ABI round trip {:.3} us)",
            d * 1e6,
            a * 1e6,
            diff * 1e6,
            bare * 1e6
        );
    }
    let step = resnet32_step_seconds(10);
    println!(
        "resnet32 forward+backward, batch 128, K=10: {:.1} ms",
        step * 1e3
    );
    println!(
        "dispatch overhead per step (one loss call): {:.2} us = {:.4} % of a step",
        worst_overhead.max(0.0) * 1e6,
        100.0 * worst_overhead.max(0.0) / step
    );
}

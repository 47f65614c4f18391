//! Heads, samplers and the optional loss entry points, through the ABI, using the real (small)
//! components of the test-fixture plugin plugins/testdata/misbehaving.

mod plugin_common;

use lt_core::plugin::{Plugin, StepCtx};
use plugin_common::*;
use serde_json::json;
use tch::{Kind, Tensor};

fn plugin() -> Plugin {
    Plugin::open(&misbehaving_plugin()).unwrap()
}

#[test]
fn posthoc_adjustment_and_epoch_hook() {
    let p = plugin();
    let data = dataset(vec![6, 3, 1], 0);
    let mut la = p.loss("posthoc-la", &json!({"tau": 1.0}), &data).unwrap();
    let logits = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).reshape([1, 3]);
    let adj = la
        .adjust_logits(&logits)
        .unwrap()
        .expect("posthoc-la adjusts logits");
    let want = [
        1.0 - (0.6f64).ln(),
        2.0 - (0.3f64).ln(),
        3.0 - (0.1f64).ln(),
    ];
    for (k, w) in want.iter().enumerate() {
        assert!((adj.double_value(&[0, k as i64]) - w).abs() < 1e-5);
    }
    let targets = Tensor::from_slice(&[2i64]);
    let ctx = StepCtx {
        epoch: 4,
        total_epochs: 10,
        stage: 1,
        step: 40,
    };
    // The fixture refuses forward until on_epoch saw this epoch: proves the hook reached it.
    let e = la.forward(&logits, &targets, &ctx).unwrap_err();
    assert!(e.to_string().contains("on_epoch(4) was not called"), "{e}");
    la.on_epoch(&ctx).unwrap();
    let l = la.forward(&logits, &targets, &ctx).unwrap();
    let ce = logits.cross_entropy_for_logits(&targets).double_value(&[]);
    assert!((l.double_value(&[]) - ce).abs() < 1e-6);
}

#[test]
fn linear_head_init_params_and_optimiser_updates() {
    let p = plugin();
    let mut head = p
        .head("linear", &json!({}), &dataset(vec![1, 1, 1], 2))
        .unwrap();
    assert!(head.wants_linear_init() && !head.needs_fit());
    let w = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]).reshape([3, 2]);
    let b = Tensor::from_slice(&[0.5f32, -0.5, 0.0]);
    head.init_from_linear(&w, Some(&b)).unwrap();
    let f = Tensor::from_slice(&[2.0f32, 3.0]).reshape([1, 2]);
    let out = head.forward(&f, false).unwrap();
    assert_eq!(
        Vec::<f32>::try_from(out.reshape([-1])).unwrap(),
        vec![2.5, 2.5, 5.0]
    );

    let params = head.named_tensors().unwrap();
    let names: Vec<_> = params
        .iter()
        .map(|t| (t.name.as_str(), t.trainable))
        .collect();
    assert_eq!(names, vec![("weight", true), ("bias", true)]);
    // A host-side SGD step on the shared tensors changes what the plugin computes.
    let loss = head.forward(&f, true).unwrap().sum(Kind::Float);
    loss.backward();
    tch::no_grad(|| {
        for t in &params {
            let g = t.tensor.grad();
            let _ = t.tensor.shallow_clone().f_sub_(&(g * 0.1)).unwrap();
        }
    });
    let after = head.forward(&f, false).unwrap();
    // d(sum)/dW row = f = (2,3), d/db = 1: each logit drops by 0.1 * (4 + 9 + 1) = 1.4.
    let diff = (&out - &after).reshape([-1]);
    for v in Vec::<f32>::try_from(diff).unwrap() {
        assert!((v - 1.4).abs() < 1e-5, "{v}");
    }
}

#[test]
fn ncm_head_fit() {
    let p = plugin();
    let mut head = p.head("ncm", &json!({}), &dataset(vec![2, 2], 2)).unwrap();
    assert!(head.needs_fit() && !head.wants_linear_init());
    let feats =
        Tensor::from_slice(&[0.0f32, 0.0, 0.0, 2.0, 10.0, 10.0, 10.0, 12.0]).reshape([4, 2]);
    let labels = Tensor::from_slice(&[0i64, 0, 1, 1]);
    head.fit(&feats, &labels).unwrap();
    let means = head.named_tensors().unwrap();
    assert_eq!(means[0].name, "means");
    assert!(!means[0].trainable);
    assert_eq!(
        Vec::<f32>::try_from(means[0].tensor.reshape([-1])).unwrap(),
        vec![0.0, 1.0, 10.0, 11.0]
    );
    let q = Tensor::from_slice(&[1.0f32, 1.0, 9.0, 9.0]).reshape([2, 2]);
    let pred = head.forward(&q, false).unwrap().argmax(-1, false);
    assert_eq!(Vec::<i64>::try_from(pred).unwrap(), vec![0, 1]);
}

#[test]
fn sampler_fills_the_host_buffer() {
    let p = plugin();
    let labels = [2u32, 0, 1, 0, 2];
    let mut s = p
        .sampler("by-class", &json!({}), &dataset(vec![2, 1, 2], 0), &labels)
        .unwrap();
    assert_eq!(s.epoch_indices(0).unwrap(), vec![1, 3, 2, 0, 4]);
    // Epoch 1 starts with class 1.
    assert_eq!(s.epoch_indices(1).unwrap(), vec![2, 0, 4, 1, 3]);
    // The plugin outlives the `Plugin` value while a component holds it.
    drop(p);
    assert_eq!(s.epoch_indices(3).unwrap().len(), 5);
}

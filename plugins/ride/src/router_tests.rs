//! Tests of the router: the BCE by hand, the training targets by hand (a router whose scores
//! are all 0), routing by hand (scores from the top mean logit), gradients against central
//! differences, and the stage switch of the `ride` model.

use super::*;
use crate::model::RideModel;
use lt_plugin::{Config, DatasetInfo, Model, StepCtx};

fn t(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v)
        .reshape([rows, -1])
        .to_kind(Kind::Float)
}

fn values(x: &Tensor) -> Vec<f64> {
    Vec::try_from(x.reshape([-1]).to_kind(Kind::Double)).unwrap()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < tol, "{got:?} vs {want:?}");
    }
}

/// 3 experts, 3 classes, 4-wide features; every router tensor zero except the shared fc's
/// weight on the top mean logit (`w_top`) and its bias `c`: r = w_top * max(mean) + c.
fn router(top: i64, pos_weight: f64, w_top: f64, c: f64) -> Router {
    let r = Router::new(3, (3, 4), top, pos_weight, Device::Cpu).unwrap();
    lt_plugin::tch::no_grad(|| {
        for t in r.tensors() {
            let _ = t.shallow_clone().fill_(0.0);
        }
        let _ = r.fc.0.narrow(1, 0, 1).fill_(w_top);
        let _ = r.fc.1.shallow_clone().fill_(c);
    });
    r
}

fn features() -> Vec<Tensor> {
    (0..3).map(|i| t(&[1.0 + i as f64; 12], 3)).collect()
}

#[test]
fn bce_with_pos_weight_by_hand() {
    // r = [0, 2], t = [1, 0], p = 3: (3 ln 2 + softplus(2)) / 2 = (2.0794415 + 2.1269280) / 2.
    // torch: F.binary_cross_entropy_with_logits(torch.tensor([0., 2.]), torch.tensor([1., 0.]),
    //                                             pos_weight=torch.tensor([3.]))
    let l = bce_with_logits(&t(&[0.0, 2.0], 2), &t(&[1.0, 0.0], 2), 3.0).unwrap();
    close(&[l.double_value(&[])], &[2.1031848], 1e-6);
}

#[test]
fn targets_say_whether_a_later_expert_is_right_where_the_earlier_ones_are_wrong() {
    // Labels [0, 1, 2]. Cumulative argmax after expert 0: [0, 0, 0] -> right [T, F, F];
    // after 1: [0, 1, 1] -> [T, T, F]; after 2: [0, 1, 2] -> [T, T, T].
    // t_0 = [F, T, T], t_1 = [F, F, T]. All scores 0, pos_weight 4: each term is ln 2 times
    // 4 (positive) or 1 (negative): loss_0 = ln2 (1+4+4)/3, loss_1 = ln2 (1+1+4)/3,
    // mean = 2.5 ln 2 = 1.7328680.
    let z = [
        t(&[5.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0], 3),
        t(&[0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 10.0, 0.0], 3),
        t(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0], 3),
    ];
    let y = Tensor::from_slice(&[0i64, 1, 2]);
    let l = router(1, 4.0, 0.0, 0.0).loss(&z, &features(), &y).unwrap();
    close(
        &[l.double_value(&[])],
        &[2.5 * std::f64::consts::LN_2],
        1e-6,
    );
}

#[test]
fn routing_by_hand() {
    // r = max(mean logits so far) - 6. Image 0: max(z0) = 8 -> r = 2, goes on; mean of z0, z1
    // = [9, 5, 0] -> r = 3, goes on; prediction (z0+z1+z2)/3 = [6, 10/3, 1], 3 experts.
    // Image 1: max 5 -> r = -1, stops: [5, 0, 0], 1 expert. Image 2: max 7 -> goes on; mean
    // [3.5, 4, 0] -> r = -2, stops: [3.5, 4, 0], 2 experts.
    let z = [
        t(&[8.0, 0.0, 0.0, 5.0, 0.0, 0.0, 7.0, 0.0, 0.0], 3),
        t(&[10.0, 10.0, 0.0, 9.0, 9.0, 9.0, 0.0, 8.0, 0.0], 3),
        t(&[0.0, 0.0, 3.0, 1.0, 1.0, 1.0, 50.0, 0.0, 0.0], 3),
    ];
    let (mean, used) = router(1, 20.0, 1.0, -6.0).route(&z, &features()).unwrap();
    let third = 10.0 / 3.0;
    close(
        &values(&mean),
        &[6.0, third, 1.0, 5.0, 0.0, 0.0, 3.5, 4.0, 0.0],
        1e-5,
    );
    close(&values(&used), &[3.0, 1.0, 2.0], 1e-9);
}

#[test]
fn gradients_match_finite_differences() {
    let r = Router::new(3, (3, 4), 2, 5.0, Device::Cpu).unwrap();
    r.set_trainable(true);
    let z: Vec<Tensor> = [0.3, -0.2, 0.5]
        .iter()
        .map(|s| Tensor::randn([6, 3], (Kind::Float, Device::Cpu)) + *s)
        .collect();
    let x: Vec<Tensor> = (0..3)
        .map(|_| Tensor::randn([6, 4], (Kind::Float, Device::Cpu)))
        .collect();
    let y = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]);
    r.loss(&z, &x, &y).unwrap().backward();
    let h = 1e-2;
    for (name, p) in [("fc.bias", &r.fc.1), ("hidden0.weight", &r.hidden[0].0)] {
        let g = values(&p.grad());
        for (i, &gi) in g.iter().enumerate().take(3) {
            let flat = p.reshape([-1]);
            let at = |d: f64| {
                lt_plugin::tch::no_grad(|| {
                    let _ = flat.get(i as i64).f_add_scalar_(d);
                });
                let l = lt_plugin::tch::no_grad(|| r.loss(&z, &x, &y).unwrap().double_value(&[]));
                lt_plugin::tch::no_grad(|| {
                    let _ = flat.get(i as i64).f_sub_scalar_(d);
                });
                l
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (fd - gi).abs() < 2e-3 + 1e-2 * gi.abs(),
                "{name}[{i}]: {fd} vs {gi}"
            );
        }
    }
}

fn ride(json: &str) -> RideModel {
    RideModel::new(
        &Config::from_json(json).unwrap(),
        &DatasetInfo::for_test(vec![4; 3]).with_feature_dim(4),
    )
    .unwrap()
}

#[test]
fn stage_two_freezes_the_experts_trains_the_router_and_routes() {
    let mut m = ride(r#"{"router": true, "top_choices": 2}"#);
    assert!(m.trains_on_labels());
    let trainable = |m: &RideModel, prefix: &str| -> Vec<bool> {
        m.named_tensors()
            .into_iter()
            .filter(|n| n.name.starts_with(prefix))
            .map(|n| n.trainable)
            .collect()
    };
    let (x, y, ctx) = (
        features(),
        Tensor::from_slice(&[0i64, 1, 2]),
        StepCtx::default(),
    );
    m.begin_stage(1).unwrap();
    assert_eq!(trainable(&m, "expert"), [true; 3]);
    assert!(trainable(&m, "router.").iter().all(|t| !t));
    assert!(m.forward_train(&x, &y, &ctx).unwrap().loss.is_none());
    // Before the router's stage, evaluation is the plain mean of the experts.
    let before = m.forward(&x, false, &ctx).unwrap();
    let mean = crate::model::mean_logits(&before.experts).unwrap();
    close(&values(&before.logits), &values(&mean), 1e-6);
    assert!(before.used.is_none());
    m.begin_stage(2).unwrap();
    assert_eq!(trainable(&m, "expert"), [false; 3]);
    let names: Vec<String> = m.named_tensors().into_iter().map(|n| n.name).collect();
    assert!(names.contains(&"router.hidden1.weight".to_string()));
    assert!(names.contains(&"router.routing".to_string()));
    let out = m.forward_train(&x, &y, &ctx).unwrap();
    let l = out.loss.expect("the router's loss in stage 2");
    assert_eq!(l.size(), Vec::<i64>::new());
    l.backward();
    // Only the router learns: the experts get no gradient.
    for n in m.named_tensors() {
        let g = n.tensor.grad();
        assert_eq!(g.defined(), n.trainable, "{}", n.name);
    }
    // Evaluation now routes and says how many experts each image used.
    let used = m.forward(&x, false, &ctx).unwrap().used.expect("routed");
    assert!(
        values(&used).iter().all(|&u| (1.0..=3.0).contains(&u)),
        "{used:?}"
    );
}

#[test]
fn a_router_needs_two_experts_and_at_most_k_top_choices() {
    assert!(Router::new(1, (3, 4), 2, 20.0, Device::Cpu)
        .err()
        .unwrap()
        .to_string()
        .contains("at least 2 experts"));
    assert!(Router::new(2, (3, 4), 4, 20.0, Device::Cpu)
        .err()
        .unwrap()
        .to_string()
        .contains("top_choices must be in 1..=3"));
}

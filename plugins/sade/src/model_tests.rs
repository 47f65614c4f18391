use super::*;
use lt_plugin::tch::Device;

fn ctx() -> StepCtx {
    StepCtx {
        epoch: 0,
        total_epochs: 1,
        stage: 1,
        step: 0,
    }
}

fn t2(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v)
        .reshape([rows, -1])
        .to_kind(Kind::Float)
}

fn vals(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.reshape([-1]).to_kind(Kind::Double)).unwrap()
}

fn model(json: &str, k: usize, d: usize) -> SadeModel {
    let data = DatasetInfo::for_test((1..=k as u64).rev().collect()).with_feature_dim(d);
    SadeModel::new(&Config::from_json(json).unwrap(), &data).unwrap()
}

fn tensor(m: &SadeModel, name: &str) -> Tensor {
    m.named_tensors()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .tensor
}

fn set(m: &SadeModel, name: &str, v: &Tensor) {
    lt_plugin::tch::no_grad(|| tensor(m, name).copy_(v));
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert!(got.len() == want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < tol, "{got:?} vs {want:?}");
    }
}

#[test]
fn training_mean_and_evaluation_aggregation_by_hand() {
    let mut m = model("{}", 2, 2);
    let eye = t2(&[1.0, 0.0, 0.0, 1.0], 2);
    for i in 1..=3 {
        set(&m, &format!("expert{i}.weight"), &eye);
    }
    // Branch features (1,0), (0,1), (1,1): cosines (1,0), (0,1), (1/sqrt2, 1/sqrt2), times 30:
    // (30, 0), (0, 30), (21.213203, 21.213203).
    let f = [t2(&[1.0, 0.0], 1), t2(&[0.0, 1.0], 1), t2(&[1.0, 1.0], 1)];
    let r = 30.0 * std::f64::consts::FRAC_1_SQRT_2;
    let out = m.forward(&f, true, &ctx()).unwrap();
    close(&vals(&out.experts[2]), &[r, r], 1e-4);
    // Training: the mean, ((30 + r)/3, (30 + r)/3) = (17.071068, 17.071068).
    close(&vals(&out.logits), &[(30.0 + r) / 3.0; 2], 1e-4);
    // Evaluation before any adaptation: equal weights, the same mean.
    let ev = m.forward(&f, false, &ctx()).unwrap();
    close(&vals(&ev.logits), &[(30.0 + r) / 3.0; 2], 1e-4);
    // w = (0, ln 2, 0): weights (1/4, 1/2, 1/4): (7.5 + r/4, 15 + r/4) = (12.803301, 20.303301).
    // PyTorch: (F.softmax(w, 0)[:, None, None] * torch.stack(experts)).sum(0)
    set(
        &m,
        "aggregation_weight",
        &Tensor::from_slice(&[0.0f32, 2f32.ln(), 0.0]),
    );
    let ev = m.forward(&f, false, &ctx()).unwrap();
    close(&vals(&ev.logits), &[7.5 + r / 4.0, 15.0 + r / 4.0], 1e-4);
    close(&m.expert_weights().unwrap(), &[0.25, 0.5, 0.25], 1e-7);
}

#[test]
fn tensors_names_and_trainable_flags() {
    let m = model("{}", 4, 8);
    let t: Vec<(String, bool)> = m
        .named_tensors()
        .into_iter()
        .map(|t| (t.name, t.trainable))
        .collect();
    let want = [
        ("expert1.weight", true),
        ("expert2.weight", true),
        ("expert3.weight", true),
        ("aggregation_weight", false),
        ("aggregation_momentum", false),
    ];
    assert_eq!(t.len(), want.len());
    for ((n, tr), (wn, wt)) in t.iter().zip(want) {
        assert_eq!((n.as_str(), *tr), (wn, wt));
    }
    assert_eq!((m.branches(), m.adapt_epochs()), (3, 5));
    let lin = model(r#"{"use_norm": false, "test_time_epochs": 0}"#, 4, 8);
    assert_eq!((lin.named_tensors().len(), lin.adapt_epochs()), (8, 0));
    // Gradients reach every expert's classifier through the training mean.
    let mut m = m;
    let f: Vec<Tensor> = (0..3)
        .map(|_| Tensor::randn([5, 8], (Kind::Float, Device::Cpu)))
        .collect();
    let out = m.forward(&f, true, &ctx()).unwrap();
    out.logits.pow_tensor_scalar(2).sum(Kind::Float).backward();
    for i in 1..=3 {
        let g = tensor(&m, &format!("expert{i}.weight")).grad();
        assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}

/// The views of `aggregate_tests::stability_loss_by_hand`: expert 1 differs between the views
/// of row 1, everything else agrees.
fn unstable_expert1_views() -> ([Tensor; 3], [Tensor; 3]) {
    let l3 = 3.0 * 3f64.ln();
    let rest = |a: f64| {
        [
            t2(&[a, 0.0, 0.5, -1.0], 2),
            t2(&[0.0, 0.0, 2.0, 0.0], 2),
            t2(&[0.0, 0.0, -1.0, 1.0], 2),
        ]
    };
    (rest(l3), rest(0.0))
}

#[test]
fn one_adapt_step_by_hand() {
    let mut m = model("{}", 2, 2);
    let (v1, v2) = unstable_expert1_views();
    // At w = 1/3 only row 1, view 1 moves the loss: dz/dw_j = a_j (z_j - zbar) with zbar =
    // (ln 3, 0), i.e. (2 ln 3 / 3, 0) for expert 1 and (-ln 3 / 3, 0) for experts 2, 3; with
    // p = (3/4, 1/4), p' = (1/2, 1/2): dcos/dz = (-0.3/sqrt5, 0.3/sqrt5); the loss is -mean_b cos,
    // so g = (ln 3 / sqrt 5) (0.1, -0.05, -0.05) = (0.0491314, -0.0245657, -0.0245657).
    let g = [0.1, -0.05, -0.05].map(|v| v * 3f64.ln() / 5f64.sqrt());
    // Independently: central differences of the loss (double).
    let f = |w: &[f64]| {
        let d = |v: &[Tensor; 3]| -> Vec<Tensor> {
            v.iter().map(|t| t.to_kind(Kind::Double)).collect()
        };
        stability_loss(&Tensor::from_slice(w), &d(&v1), &d(&v2))
            .unwrap()
            .double_value(&[])
    };
    let h = 1e-6;
    for (i, gi) in g.iter().enumerate() {
        let (mut p, mut q) = ([W0; 3], [W0; 3]);
        p[i] += h;
        q[i] -= h;
        assert!(((f(&p) - f(&q)) / (2.0 * h) - gi).abs() < 1e-8);
    }
    // Nesterov SGD, first step: w1 = w0 - lr (1 + mu) (g + wd w0), lr 0.1, mu 0.9, wd 5e-4:
    // (0.3239667, 0.3379692, 0.3379692). PyTorch (SGD(lr=0.1, momentum=0.9,
    // weight_decay=5e-4, nesterov=True), two steps): [0.32396669, 0.33796915, 0.33796915],
    // then [0.31063327, 0.34456812, 0.34456812].
    let w1: Vec<f64> = g
        .iter()
        .map(|gi| W0 - 0.1 * 1.9 * (gi + 5e-4 * W0))
        .collect();
    m.adapt(&v1, &v2).unwrap();
    close(&vals(&tensor(&m, "aggregation_weight")), &w1, 1e-6);
    close(&w1, &[0.32396669398, 0.33796915301, 0.33796915301], 1e-10);
    m.adapt(&v1, &v2).unwrap();
    close(
        &vals(&tensor(&m, "aggregation_weight")),
        &[0.31063327, 0.34456812, 0.34456812],
        1e-6,
    );
    // adapt_begin resets w and the momentum: the next step is the first step again.
    m.adapt_begin().unwrap();
    close(&vals(&tensor(&m, "aggregation_weight")), &[W0; 3], 1e-7);
    close(&vals(&tensor(&m, "aggregation_momentum")), &[0.0; 3], 1e-12);
    m.adapt(&v1, &v2).unwrap();
    close(&vals(&tensor(&m, "aggregation_weight")), &w1, 1e-6);
}

#[test]
fn weights_move_towards_the_stable_expert() {
    let mut m = model(r#"{"stop_below": 0}"#, 5, 2);
    let pattern = |seed: i64| -> Tensor {
        let v: Vec<f64> = (0..40)
            .map(|i| (((i * 7 + seed * 11) % 13) as f64 - 6.0) * 0.6)
            .collect();
        t2(&v, 8)
    };
    // Expert 3 predicts the same in both views; experts 1 and 2 change their minds.
    let v1 = [pattern(1), pattern(2), pattern(3)];
    let v2 = [pattern(4), pattern(5), pattern(3)];
    let before = stability_loss(&m.weight, &v1, &v2)
        .unwrap()
        .double_value(&[]);
    for _ in 0..30 {
        m.adapt(&v1, &v2).unwrap();
    }
    let a = m.expert_weights().unwrap();
    assert!(a[2] > 0.5 && a[2] > a[0] && a[2] > a[1], "{a:?}");
    let after = stability_loss(&m.weight, &v1, &v2)
        .unwrap()
        .double_value(&[]);
    assert!(after < before, "{after} vs {before}");
    // With the default stop_below 0.05 the adaptation freezes once an expert drops below it.
    let mut s = model("{}", 5, 2);
    let mut steps = 0;
    while s.expert_weights().unwrap().iter().all(|&x| x >= 0.05) && steps < 1000 {
        s.adapt(&v1, &v2).unwrap();
        steps += 1;
    }
    let frozen = vals(&tensor(&s, "aggregation_weight"));
    s.adapt(&v1, &v2).unwrap();
    assert_eq!(
        vals(&tensor(&s, "aggregation_weight")),
        frozen,
        "after {steps} steps"
    );
    s.adapt_begin().unwrap();
    s.adapt(&v1, &v2).unwrap();
    assert_ne!(vals(&tensor(&s, "aggregation_weight")), vec![W0; 3]);
}

#[test]
fn bad_shapes_are_one_line_errors() {
    let mut m = model("{}", 3, 4);
    let f = |b: i64, d: i64| Tensor::zeros([b, d], (Kind::Float, Device::Cpu));
    let cases: Vec<(Vec<Tensor>, &str)> = vec![
        (
            vec![f(2, 4), f(2, 4)],
            "the sade model has 3 branches, got features of 2",
        ),
        (
            vec![f(2, 4), f(2, 4), f(2, 5)],
            "expected features [B,4], got [2, 5]",
        ),
        (
            vec![f(2, 4), f(2, 4), f(3, 4)],
            "branch features differ in batch size",
        ),
    ];
    for (feats, msg) in cases {
        let e = m.forward(&feats, true, &ctx()).unwrap_err().to_string();
        assert!(e.contains(msg) && !e.contains('\n'), "{e}");
    }
    let z = |b: i64, k: i64| Tensor::zeros([b, k], (Kind::Float, Device::Cpu));
    let ok = [z(2, 3), z(2, 3), z(2, 3)];
    let e = m.adapt(&ok[..2], &ok).unwrap_err().to_string();
    assert_eq!(
        e,
        "adapt: view 1 has 2 experts' logits, the sade model has 3"
    );
    let e = m
        .adapt(&ok, &[z(2, 3), z(2, 3), z(2, 4)])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "expected logits [B,3], got [2, 4]");
    let e = m
        .adapt(&ok, &[z(2, 3), z(2, 3), z(1, 3)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("view 2's expert logits differ in shape"), "{e}");
    let e = m
        .adapt(&ok, &[z(1, 3), z(1, 3), z(1, 3)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("the two views' logits differ in shape"), "{e}");
    let data = DatasetInfo::for_test(vec![3, 1]);
    let e = SadeModel::new(&Config::default(), &data)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("needs the number of classes and the feature width"),
        "{e}"
    );
    let e = SadeModel::new(
        &Config::from_json(r#"{"scale": -1}"#).unwrap(),
        &data.with_feature_dim(2),
    );
    assert_eq!(e.err().unwrap().to_string(), "scale must be > 0, got -1");
}

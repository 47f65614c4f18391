use super::*;
use lt_plugin::tch::Kind;

fn t2(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v).reshape([rows, -1])
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.reshape([-1]).to_kind(Kind::Double)).unwrap()
}

#[test]
fn aggregation_by_hand() {
    // w = (0, ln 2, 0): softmax = (1, 2, 1) / 4. Experts (4, 0), (0, 2), (-4, 8):
    // 4/4 + 0/2 - 4/4 = 0 and 0/4 + 2/2 + 8/4 = 3.
    // PyTorch: (F.softmax(w, 0)[:, None, None] * torch.stack(z)).sum(0) -> [[0., 3.]]
    let w = Tensor::from_slice(&[0.0, 2f64.ln(), 0.0]);
    let z = [t2(&[4.0, 0.0], 1), t2(&[0.0, 2.0], 1), t2(&[-4.0, 8.0], 1)];
    let got = values(&aggregate(&w, &z).unwrap());
    assert!(
        (got[0] - 0.0).abs() < 1e-12 && (got[1] - 3.0).abs() < 1e-12,
        "{got:?}"
    );
    // Equal w (the official start, 1/3 each) is the plain mean of the experts.
    let eq = Tensor::from_slice(&[1.0 / 3.0; 3]);
    let mean = values(&aggregate(&eq, &z).unwrap());
    assert!((mean[0] - 0.0).abs() < 1e-12 && (mean[1] - 10.0 / 3.0).abs() < 1e-12);
    let e = aggregate(&w, &z[..2]).unwrap_err().to_string();
    assert_eq!(e, "2 experts' logits for aggregation weights of shape [3]");
}

#[test]
fn stability_loss_by_hand() {
    // Equal weights 1/3. Row 1: view 1 has expert 1 at (3 ln 3, 0), the others 0, so
    // z = (ln 3, 0) and p = (3/4, 1/4); view 2 is all zeros, p' = (1/2, 1/2):
    // cos = (3/8 + 1/8) / (sqrt(10)/4 * sqrt(2)/2) = 2/sqrt 5 = 0.894427191.
    // Row 2: the same logits in both views, cos = 1. Loss = -(2/sqrt 5 + 1)/2 = -0.947213595.
    // PyTorch: -F.cosine_similarity(F.softmax(z1, 1), F.softmax(z2, 1), dim=1).mean()
    let w = Tensor::from_slice(&[1.0 / 3.0; 3]);
    let l3 = 3.0 * 3f64.ln();
    let v1 = [
        t2(&[l3, 0.0, 0.5, -1.0], 2),
        t2(&[0.0, 0.0, 2.0, 0.0], 2),
        t2(&[0.0, 0.0, -1.0, 1.0], 2),
    ];
    let v2 = [
        t2(&[0.0, 0.0, 0.5, -1.0], 2),
        t2(&[0.0, 0.0, 2.0, 0.0], 2),
        t2(&[0.0, 0.0, -1.0, 1.0], 2),
    ];
    let got = stability_loss(&w, &v1, &v2).unwrap().double_value(&[]);
    let want = -(2.0 / 5f64.sqrt() + 1.0) / 2.0;
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert!((want + 0.947_213_595_5).abs() < 1e-10);
    let short = [
        v2[0].narrow(0, 0, 1),
        v2[1].narrow(0, 0, 1),
        v2[2].narrow(0, 0, 1),
    ];
    let e = stability_loss(&w, &v1, &short).unwrap_err().to_string();
    assert_eq!(
        e,
        "the two views' logits differ in shape: [2, 2] and [1, 2]"
    );
}

/// The gradient of the stability loss in w, against central differences (double).
#[test]
fn stability_gradient_matches_finite_differences() {
    let logits = |seed: i64| -> Vec<Tensor> {
        (0..3)
            .map(|e| {
                let v: Vec<f64> = (0..20)
                    .map(|i| (((i * 13 + e * 7 + seed * 5) % 17) as f64 - 8.0) * 0.37)
                    .collect();
                t2(&v, 4)
            })
            .collect()
    };
    let (v1, v2) = (logits(1), logits(2));
    let base = [0.3, -0.2, 0.55];
    let w = Tensor::from_slice(&base).set_requires_grad(true);
    let g = Tensor::run_backward(
        &[stability_loss(&w, &v1, &v2).unwrap()],
        &[&w],
        false,
        false,
    );
    let g = values(&g[0]);
    let f = |v: &[f64]| {
        stability_loss(&Tensor::from_slice(v), &v1, &v2)
            .unwrap()
            .double_value(&[])
    };
    let h = 1e-6;
    for i in 0..3 {
        let (mut p, mut q) = (base, base);
        p[i] += h;
        q[i] -= h;
        let fd = (f(&p) - f(&q)) / (2.0 * h);
        assert!((fd - g[i]).abs() < 1e-9, "[{i}] {fd} vs {}", g[i]);
    }
    // Shifting w by a constant changes nothing (softmax), so the gradient sums to zero.
    assert!(g.iter().sum::<f64>().abs() < 1e-12, "{g:?}");
    assert!(
        g.iter().any(|v| v.abs() > 1e-4),
        "a gradient to test: {g:?}"
    );
}

//! Gradients through the `bbn` model and loss together, against central finite differences in
//! double precision: the classifier's weight and bias and both branches' features.

use crate::loss::BbnLoss;
use crate::model::BbnModel;
use crate::test_support::{cfg, ctx, rng_lock, t2, values};
use lt_plugin::tch::Tensor;
use lt_plugin::{DatasetInfo, FeatureLoss, LossInput, Model, StepCtx};

/// K = 3 classes, D = 2, batch 3.
const K: i64 = 3;
const W0: [f64; 12] = [
    0.3, -0.2, 0.5, 0.1, -0.4, 0.25, -0.1, 0.6, 0.2, 0.05, -0.3, -0.45,
];
const B0: [f64; 3] = [0.1, -0.05, 0.2];
const FC0: [f64; 6] = [0.7, -0.3, 0.2, 0.9, -0.6, 0.4];
const FR0: [f64; 6] = [-0.2, 0.5, 0.8, -0.1, 0.3, 0.35];

/// The loss of model + loss at `ctx` for the given parameters and features (all double).
fn total(v: [&[f64]; 4], ctx: &StepCtx, track: bool) -> (Tensor, Vec<Tensor>) {
    let data = DatasetInfo::for_test(vec![30, 6, 2]).with_feature_dim(2);
    let mut model = BbnModel::new(&cfg("{}"), &data).unwrap();
    let mut loss = BbnLoss::new(&cfg("{}"), &data).unwrap();
    let leaves: Vec<Tensor> = [(v[0], K), (v[1], 1), (v[2], 3), (v[3], 3)]
        .iter()
        .map(|(x, rows)| t2(x, *rows).set_requires_grad(track))
        .collect();
    model.set_parameters(leaves[0].shallow_clone(), leaves[1].reshape([-1]));
    let out = model
        .forward(
            &[leaves[2].shallow_clone(), leaves[3].shallow_clone()],
            true,
            ctx,
        )
        .unwrap();
    let (yc, yr) = (
        Tensor::from_slice(&[0i64, 1, 0]),
        Tensor::from_slice(&[2i64, 2, 1]),
    );
    let mut input = LossInput::new(&out.logits, &yc);
    input.targets2 = Some(&yr);
    (loss.forward(&input, ctx).unwrap(), leaves)
}

#[test]
fn gradients_match_central_differences() {
    let _rng = rng_lock();
    let base: [&[f64]; 4] = [&W0, &B0, &FC0, &FR0];
    // Epoch 3 of 10 (alpha 0.91) and 8 of 10 (alpha 0.36): both terms matter.
    for c in [ctx(3, 10), ctx(8, 10)] {
        let (l, leaves) = total(base, &c, true);
        l.backward();
        let h = 1e-6;
        for (which, leaf) in leaves.iter().enumerate() {
            let g = values(&leaf.grad());
            assert!(g.iter().any(|x| x.abs() > 1e-3), "leaf {which}: {g:?}");
            for i in 0..g.len() {
                let shifted = |delta: f64| {
                    let mut p: Vec<Vec<f64>> = base.iter().map(|x| x.to_vec()).collect();
                    p[which][i] += delta;
                    let refs = [&p[0][..], &p[1][..], &p[2][..], &p[3][..]];
                    total(refs, &c, false).0.double_value(&[])
                };
                let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-8,
                    "leaf {which}[{i}]: {fd} vs {}",
                    g[i]
                );
            }
        }
    }
}

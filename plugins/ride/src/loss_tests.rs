//! Tests of the `ride` loss: the whole loss by hand on 2 experts, 2 classes, 2 samples, the DRW
//! switch, the λ_div = 0 quirk, gradients against central differences, and the errors.

use super::*;
use lt_plugin::tch::Kind;

fn cfg(json: &str) -> Config {
    Config::from_json(json).unwrap()
}

fn ctx(epoch: u32, total: u32) -> StepCtx {
    StepCtx {
        epoch,
        total_epochs: total,
        stage: 1,
        step: 0,
    }
}

fn t(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v).reshape([rows, -1])
}

const Z1: [f64; 4] = [1.0, 0.0, 0.5, 0.5];
const Z2: [f64; 4] = [0.0, 1.0, 1.5, -0.5];
/// counts [3, 1]; beta 0.5, reweight_factor 0.2, T_0 = 2, s = 2 keep the arithmetic by hand.
const SMALL: &str =
    r#"{"s": 2, "beta": 0.5, "reweight_factor": 0.2, "base_diversity_temperature": 2}"#;

fn loss(json: &str) -> RideLoss {
    RideLoss::new(&cfg(json), &DatasetInfo::for_test(vec![3, 1])).unwrap()
}

fn value(l: &mut RideLoss, z1: &[f64], z2: &[f64]) -> f64 {
    let (e1, e2) = (t(z1, 2), t(z2, 2));
    let mean = (&e1 + &e2) / 2.0;
    let y = Tensor::from_slice(&[0i64, 1]);
    let experts = [e1, e2];
    let mut input = LossInput::new(&mean, &y);
    input.experts = &experts;
    l.forward(&input, &ctx(0, 10)).unwrap().double_value(&[])
}

/// The hand computation. Constants for counts [3, 1]:
/// margins 3^-1/4 = 0.759836 -> x 0.5/1 -> m = [0.379918, 0.5];
/// DRW (beta 0.5): (1-b)/(1-b^n) = [0.5/0.875, 1] = [0.571429, 1] -> x 2/1.571429 = [8/11, 14/11];
/// temperatures: p = [0.75, 0.25], u = 0.8 + 0.4 p = [1.1, 0.9], v = [1, 9/11], T = 2 v =
/// [2, 1.636364], mean 1.818182.
/// Expert 1 before DRW: margined rows [1 - 0.759836, 0] and [0.5, 0.5 - 1]; l = softplus(-0.240164)
/// = 0.580249 and softplus(1) = 1.313262 -> CE 0.946756. KL at T = 2 with z̄ = [[.5,.5],[1,0]]:
/// row 0 p = [.5,.5], q = softmax([.5,0]) = [0.622459, 0.377541] -> 0.030927; row 1 p = q_0 row,
/// q = [.5,.5] -> 0.136363 - 0.106061 = 0.030302; batchmean 0.030615.
/// torch (F.cross_entropy / F.kl_div as in model/loss.py RIDELoss.forward, these constants):
/// total 3.382312 before DRW, 3.635505 after.
#[test]
fn whole_loss_by_hand_before_and_after_drw() {
    let mut l = loss(SMALL);
    let before = value(&mut l, &Z1, &Z2);
    // sum_e CE_e - 0.2 * 2^2 * KL_e, CE = [0.946760, 2.483599], KL = [0.030615, 0.029442]
    let want = 0.946_759_656 + 2.483_598_564 - 0.8 * (0.030_614_833 + 0.029_442_421);
    assert!((before - want).abs() < 1e-8, "{before} vs {want}");
    assert!((before - 3.382_312_418).abs() < 1e-8, "{before}");
    l.on_epoch(&ctx(8, 10)).unwrap();
    assert!(l.reweighting());
    let after = value(&mut l, &Z1, &Z2);
    // weighted CE = [1.046715, 2.637686], per-class KL = [0.037874, 0.036081], mean T 20/11.
    let tm2 = (20.0f64 / 11.0).powi(2);
    let want = 1.046_714_756 + 2.637_686_415 - 0.2 * tm2 * (0.037_873_514 + 0.036_081_297);
    assert!((after - want).abs() < 1e-8, "{after} vs {want}");
    assert!((after - 3.635_505_428).abs() < 1e-8, "{after}");
    // The first CE term by hand: (l0 + l1) / 2 with l0 = ln(1 + e^-0.240164), l1 = ln(1 + e).
    let m0 = 0.5 * 3f64.powf(-0.25);
    let ce = ((1.0 + (-(1.0 - 2.0 * m0)).exp()).ln() + (1.0 + 1f64.exp()).ln()) / 2.0;
    assert!((ce - 0.946_759_656).abs() < 1e-8, "{ce}");
}

#[test]
fn zero_diversity_factor_trains_every_expert_on_the_mean() {
    // Official quirk: with additional_diversity_factor 0 the base loss takes z̄ for every expert,
    // so the loss is 2 CE(z̄) = 2 * 1.635245 = 3.270490 (torch value of the same call).
    let mut l = loss(&SMALL.replace('}', r#", "additional_diversity_factor": 0}"#));
    let got = value(&mut l, &Z1, &Z2);
    assert!((got - 3.270_489_733).abs() < 1e-8, "{got}");
}

#[test]
fn drw_switches_at_the_fraction_and_never_when_off() {
    let mut l = loss("{}");
    for (e, on) in [(0, false), (159, false), (160, true), (199, true)] {
        l.on_epoch(&ctx(e, 200)).unwrap();
        assert_eq!(l.reweighting(), on, "epoch {e}");
    }
    let mut off = loss(r#"{"drw": false}"#);
    off.on_epoch(&ctx(199, 200)).unwrap();
    assert!(!off.reweighting());
}

#[test]
fn gradients_match_finite_differences() {
    let mut l = loss(SMALL);
    for epoch in [0u32, 9] {
        l.on_epoch(&ctx(epoch, 10)).unwrap();
        let e1 = t(&Z1, 2).set_requires_grad(true);
        let e2 = t(&Z2, 2).set_requires_grad(true);
        let mean = (&e1 + &e2) / 2.0;
        let y = Tensor::from_slice(&[0i64, 1]);
        let experts = [e1.shallow_clone(), e2.shallow_clone()];
        let mut input = LossInput::new(&mean, &y);
        input.experts = &experts;
        l.forward(&input, &ctx(epoch, 10)).unwrap().backward();
        // z̄ enters only the detached KL target (λ_div != 0), so autograd sees no path through
        // it; the finite differences below hold z̄ fixed accordingly.
        let g1: Vec<f64> = Vec::try_from(e1.grad().reshape([-1])).unwrap();
        let g2: Vec<f64> = Vec::try_from(e2.grad().reshape([-1])).unwrap();
        let h = 1e-6;
        for i in 0..4 {
            for (which, g) in [(0, &g1), (1, &g2)] {
                let mut f = |d: f64| {
                    let (mut a, mut b) = (Z1, Z2);
                    if which == 0 {
                        a[i] += d
                    } else {
                        b[i] += d
                    }
                    fixed_mean_value(&mut l, &a, &b, epoch)
                };
                let fd = (f(h) - f(-h)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-7,
                    "epoch {epoch} e{which}[{i}]: {fd} vs {}",
                    g[i]
                );
            }
        }
    }
}

/// The loss with z̄ the mean of the original experts (the KL target, detached in the official
/// code, does not move), the experts perturbed; λ_div != 0 so the base loss ignores z̄.
fn fixed_mean_value(l: &mut RideLoss, z1: &[f64], z2: &[f64], epoch: u32) -> f64 {
    let mean = (t(&Z1, 2) + t(&Z2, 2)) / 2.0;
    let y = Tensor::from_slice(&[0i64, 1]);
    let experts = [t(z1, 2), t(z2, 2)];
    let mut input = LossInput::new(&mean, &y);
    input.experts = &experts;
    l.forward(&input, &ctx(epoch, 10))
        .unwrap()
        .double_value(&[])
}

#[test]
fn bad_configs_and_inputs_are_one_line_errors() {
    let d = DatasetInfo::for_test(vec![9, 3, 1]);
    for (json, msg) in [
        (r#"{"s": 0}"#, "s must be > 0, got 0"),
        (r#"{"max_m": -1}"#, "max_m must be >= 0"),
        (r#"{"drw_at": 1.5}"#, "drw_at is a fraction of the stage"),
        (r#"{"beta": 1.0}"#, "beta must be in [0, 1)"),
        (
            r#"{"base_diversity_temperature": 0}"#,
            "base_diversity_temperature must be > 0",
        ),
        (
            r#"{"reweight_factor": 5}"#,
            "reweight_factor 5 is too large",
        ),
        (r#"{"temperature": 1}"#, "unknown field `temperature`"),
    ] {
        let e = RideLoss::new(&cfg(json), &d).err().expect(json).to_string();
        assert!(e.contains(msg) && !e.contains('\n'), "{json}: {e}");
    }
    let mut l = RideLoss::new(&cfg("{}"), &d).unwrap();
    assert_eq!(
        l.needs(),
        Needs {
            experts: true,
            ..Needs::default()
        }
    );
    let z = Tensor::zeros([2, 3], (Kind::Float, lt_plugin::tch::Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 2]);
    let e = l.forward(&LossInput::new(&z, &y), &ctx(0, 1)).unwrap_err();
    assert!(e.to_string().contains("needs the experts' logits"), "{e}");
    let narrow = [Tensor::zeros(
        [2, 2],
        (Kind::Float, lt_plugin::tch::Device::Cpu),
    )];
    let mut input = LossInput::new(&z, &y);
    input.experts = &narrow;
    let e = l.forward(&input, &ctx(0, 1)).unwrap_err().to_string();
    assert_eq!(
        e,
        "expert logits [2, 2] differ from the aggregated logits [2, 3]"
    );
    let e = l
        .forward(&LossInput::new(&narrow[0], &y), &ctx(0, 1))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("expected logits [B,3]"), "{e}");
}

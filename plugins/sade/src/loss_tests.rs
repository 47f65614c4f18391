use super::*;
use lt_plugin::tch::Kind;

fn ctx() -> StepCtx {
    StepCtx {
        epoch: 0,
        total_epochs: 1,
        stage: 1,
        step: 0,
    }
}

fn t2(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v).reshape([rows, -1])
}

fn loss(json: &str, counts: Vec<u64>) -> Result<DiverseExpertLoss> {
    DiverseExpertLoss::new(&Config::from_json(json)?, &DatasetInfo::for_test(counts))
}

/// Counts (6, 3, 1): pi = (0.6, 0.3, 0.1), pi~ = (0.1, 0.3, 0.6). Rows z = (1, 0, -1) with y = 2
/// and (0.5, 2, 0) with y = 0; expert 1 sees z, expert 2 z/2, expert 3 -z.
#[test]
fn each_expert_loss_matches_the_formula_by_hand() {
    let mut l = loss("{}", vec![6, 3, 1]).unwrap();
    let z = [1.0, 0.0, -1.0, 0.5, 2.0, 0.0];
    let experts = [t2(&z, 2), t2(&z, 2) * 0.5, t2(&z, 2) * -1.0];
    let y = Tensor::from_slice(&[2i64, 0]);
    let got: Vec<f64> = l
        .expert_losses(&experts, &y)
        .unwrap()
        .iter()
        .map(|t| t.double_value(&[]))
        .collect();
    // Expert 1, plain CE: row 1: ln(e + 1 + 1/e) + 1 = ln 4.086161 + 1 = 2.407606;
    // row 2: ln(e^0.5 + e^2 + 1) - 0.5 = ln 10.037777 - 0.5 = 1.806356; mean 2.106981.
    // Expert 2, CE of z/2 + ln pi: terms pi_c e^{z_c/2}: row 1: 0.6 e^0.5 = 0.989233, 0.3,
    // 0.1 e^-0.5 = 0.060653, CE = ln 1.349886 - ln 0.060653 = 3.102605; row 2: 0.6 e^0.25 =
    // 0.770415, 0.3 e = 0.815485, 0.1, CE = ln 1.685900 - ln 0.770415 = 0.783125; mean 1.942865.
    // Expert 3, CE of -z + ln pi - 2 ln pi~: terms pi_c e^{-z_c} / pi~_c^2: row 1: 0.6/e/0.01 =
    // 22.072766, 0.3/0.09 = 3.333333, 0.1 e/0.36 = 0.755078, CE = ln 26.161177 - ln 0.755078 =
    // 3.545210; row 2: 0.6 e^-0.5/0.01 = 36.391839, 0.3 e^-2/0.09 = 0.451118, 0.1/0.36 = 0.277778,
    // CE = ln 37.120735 - ln 36.391839 = 0.019831; mean 1.782521.
    // PyTorch: F.cross_entropy(z, y), F.cross_entropy(z/2 + pi.log(), y),
    // F.cross_entropy(-z + pi.log() - 2 * pi_rev.log(), y) ->
    // 2.1069808383367636, 1.9428650802103893, 1.782520775202875 (sum 5.832366693750028).
    let want = [2.1069808383367636, 1.9428650802103893, 1.782520775202875];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{got:?}");
    }
    let logits = (&experts[0] + &experts[1] + &experts[2]) / 3.0;
    let mut input = LossInput::new(&logits, &y);
    input.experts = &experts;
    let total = l.forward(&input, &ctx()).unwrap().double_value(&[]);
    assert!((total - 5.832366693750028).abs() < 1e-12, "{total}");
    assert_eq!(
        l.needs(),
        Needs {
            experts: true,
            ..Needs::default()
        }
    );
    // tau = 0: expert 3 is balanced softmax too, so experts 2 and 3 agree on equal logits.
    let l0 = loss(r#"{"tau": 0}"#, vec![6, 3, 1]).unwrap();
    let same = [t2(&z, 2), t2(&z, 2), t2(&z, 2)];
    let v = l0.expert_losses(&same, &y).unwrap();
    assert!((v[1].double_value(&[]) - v[2].double_value(&[])).abs() < 1e-15);
}

#[test]
fn gradient_matches_central_finite_differences() {
    let mut l = loss("{}", vec![50, 9, 4, 1]).unwrap();
    let y = Tensor::from_slice(&[3i64, 0, 1]);
    let base: Vec<f64> = (0..36)
        .map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.21)
        .collect();
    let split = |v: &[f64]| -> Vec<Tensor> { v.chunks(12).map(|c| t2(c, 3)).collect() };
    let f = |l: &mut DiverseExpertLoss, v: &[f64]| -> f64 {
        let e = split(v);
        let logits = e[0].zeros_like();
        let mut input = LossInput::new(&logits, &y);
        input.experts = &e;
        l.forward(&input, &ctx()).unwrap().double_value(&[])
    };
    let leaves: Vec<Tensor> = split(&base)
        .into_iter()
        .map(|t| t.set_requires_grad(true))
        .collect();
    let logits = leaves[0].zeros_like();
    let mut input = LossInput::new(&logits, &y);
    input.experts = &leaves;
    l.forward(&input, &ctx()).unwrap().backward();
    let grad: Vec<f64> = leaves
        .iter()
        .flat_map(|t| Vec::<f64>::try_from(t.grad().reshape([-1])).unwrap())
        .collect();
    let h = 1e-6;
    for i in 0..base.len() {
        let (mut p, mut q) = (base.clone(), base.clone());
        p[i] += h;
        q[i] -= h;
        let fd = (f(&mut l, &p) - f(&mut l, &q)) / (2.0 * h);
        assert!((fd - grad[i]).abs() < 1e-8, "[{i}] {fd} vs {}", grad[i]);
    }
}

#[test]
fn bad_config_and_shapes_are_one_line_errors() {
    for (json, msg) in [
        (r#"{"tau": -1}"#, "tau must be >= 0, got -1"),
        (r#"{"tau": "2"}"#, "`tau` must be a number"),
        (
            r#"{"tua": 2}"#,
            "unknown key `tua` in the sade loss config (known: tau)",
        ),
    ] {
        let e = loss(json, vec![3, 1]).err().expect(json).to_string();
        assert!(e.contains(msg) && !e.contains('\n'), "{json}: {e}");
    }
    let e = loss("{}", vec![3, 0]).err().unwrap().to_string();
    assert!(e.contains("class 1 has no training images"), "{e}");
    let mut l = loss("{}", vec![3, 2, 1]).unwrap();
    let y = Tensor::from_slice(&[0i64, 1]);
    let z = Tensor::zeros([2, 3], (Kind::Double, lt_plugin::tch::Device::Cpu));
    let two = [z.shallow_clone(), z.shallow_clone()];
    let mut input = LossInput::new(&z, &y);
    input.experts = &two;
    let e = l.forward(&input, &ctx()).unwrap_err().to_string();
    assert!(e.contains("needs 3 experts' logits, got 2"), "{e}");
    let wrong = [z.shallow_clone(), z.shallow_clone(), z.narrow(1, 0, 2)];
    input.experts = &wrong;
    let e = l.forward(&input, &ctx()).unwrap_err().to_string();
    assert_eq!(
        e,
        "expected logits [B,3] and targets [B], got [2, 2] and [2]"
    );
}

//! The guide's example plugin (plugins/example-loss), built by cargo (a dev-dependency of
//! lt-core), loaded through the host and used to train a small model.

mod plugin_common;

use lt_core::plugin::{ComponentKind, Plugin, PluginSearch, StepCtx};
use plugin_common::*;
use serde_json::json;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Tensor};

fn load() -> Plugin {
    Plugin::open(&example_plugin()).expect("loading the example plugin")
}

#[test]
fn declares_itself() {
    let p = load();
    let info = p.info();
    assert_eq!(info.name, "example-loss");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.names(ComponentKind::Loss), vec!["poly1"]);
    assert!(info.names(ComponentKind::Head).is_empty());
    assert!(p.recipe().unwrap().contains("loss = \"poly1\""));
    let line = info.to_string();
    assert!(
        line.starts_with("example-loss 0.1.0 [loss:poly1] +recipe - "),
        "{line}"
    );
}

#[test]
fn found_by_name_in_a_search_directory() {
    let p = PluginSearch::new()
        .shared_dir(plugins_dir())
        .load("example-loss")
        .unwrap();
    assert_eq!(p.info().path, example_plugin());
}

#[test]
fn poly1_matches_the_formula_and_backpropagates() {
    let p = load();
    let data = dataset(vec![5, 3, 1], 0);
    let mut poly = p.loss("poly1", &json!({"epsilon": 2.0}), &data).unwrap();
    let logits = Tensor::from_slice(&[2.0f32, 0.5, -1.0, 0.1, 0.2, 0.3])
        .reshape([2, 3])
        .set_requires_grad(true);
    let targets = Tensor::from_slice(&[0i64, 2]);
    let loss = poly
        .forward(&logits, &targets, &StepCtx::default())
        .unwrap();
    // By hand: p_t = softmax(row)[target]; Poly-1 = mean(-ln p_t + 2 (1 - p_t)).
    let poly1 = |row: [f64; 3], t: usize| {
        let z: f64 = row.iter().map(|v| v.exp()).sum();
        let pt = row[t].exp() / z;
        -pt.ln() + 2.0 * (1.0 - pt)
    };
    let want = (poly1([2.0, 0.5, -1.0], 0) + poly1([0.1, 0.2, 0.3], 2)) / 2.0;
    assert!(
        (loss.double_value(&[]) - want).abs() < 1e-6,
        "{} vs {want}",
        loss.double_value(&[])
    );
    loss.backward();
    let g = logits.grad();
    assert!(
        g.abs().sum(Kind::Float).double_value(&[]) > 1e-3,
        "no gradient reached the logits"
    );

    // epsilon = 0 is cross-entropy.
    let mut ce = p.loss("poly1", &json!({"epsilon": 0.0}), &data).unwrap();
    let l0 = ce.forward(&logits, &targets, &StepCtx::default()).unwrap();
    let want_ce = logits.cross_entropy_for_logits(&targets);
    assert!((l0.double_value(&[]) - want_ce.double_value(&[])).abs() < 1e-6);
    // No post-hoc adjustment, and the epoch hook is a no-op.
    assert!(poly.adjust_logits(&logits).unwrap().is_none());
    poly.on_epoch(&StepCtx::default()).unwrap();
}

#[test]
fn trains_a_small_model_with_the_plugin_loss() {
    tch::manual_seed(0);
    // Three 2-D Gaussian classes with a long-tailed count profile 300/60/12.
    let counts = [300i64, 60, 12];
    let centres = [(0.0f64, 2.0f64), (2.0, -1.0), (-2.0, -1.0)];
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for (c, (&n, &(cx, cy))) in counts.iter().zip(&centres).enumerate() {
        let centre = Tensor::from_slice(&[cx as f32, cy as f32]);
        xs.push(Tensor::randn([n, 2], (Kind::Float, tch::Device::Cpu)) * 0.6 + centre);
        ys.push(Tensor::full([n], c as i64, (Kind::Int64, tch::Device::Cpu)));
    }
    let x = Tensor::cat(&xs, 0);
    let y = Tensor::cat(&ys, 0);

    let vs = nn::VarStore::new(tch::Device::Cpu);
    let net = nn::seq()
        .add(nn::linear(vs.root() / "l1", 2, 16, Default::default()))
        .add_fn(|t| t.relu())
        .add(nn::linear(vs.root() / "l2", 16, 3, Default::default()));
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.1)
    .unwrap();

    let p = load();
    let data = dataset(counts.iter().map(|&c| c as u64).collect(), 0);
    let mut loss_fn = p.loss("poly1", &json!({"epsilon": 1.0}), &data).unwrap();
    let mut losses = Vec::new();
    for step in 0..60u64 {
        let ctx = StepCtx {
            epoch: 0,
            total_epochs: 1,
            stage: 1,
            step,
        };
        let loss = loss_fn.forward(&net.forward(&x), &y, &ctx).unwrap();
        losses.push(loss.double_value(&[]));
        opt.backward_step(&loss);
    }
    let acc = net
        .forward(&x)
        .argmax(-1, false)
        .eq_tensor(&y)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last < first * 0.3, "loss went {first} -> {last}");
    assert!(acc > 0.9, "training accuracy {acc}");
}

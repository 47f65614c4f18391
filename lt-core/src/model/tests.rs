//! Parameter counts against torchvision, variable names, BN modes and memory formats.

use super::*;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn arch(name: &str) -> Arch {
    name.parse().unwrap()
}

#[test]
fn the_registry_knows_sizes_and_head_init() {
    let names: Vec<&str> = Arch::all().map(Arch::name).collect();
    assert_eq!(names.len(), 17);
    assert_eq!(arch("ResNet32B").name(), "resnet32b");
    for (name, size, kaiming) in [
        ("resnet20", 32, true),
        ("resnet110b", 32, true),
        ("resnet50", 224, false),
    ] {
        assert_eq!(
            (arch(name).input_size(), arch(name).kaiming_head()),
            (size, kaiming)
        );
    }
    // Every CIFAR ResNet has 64 features, the ImageNet ones more: the head init follows.
    let vs = VarStore::new(Device::Cpu);
    let (bb, _) = build(arch("resnet18"), &vs.root(), 3, 10).unwrap();
    assert_eq!(bb.feature_dim() == 64, arch("resnet18").kaiming_head());
}

fn count(vs: &VarStore, prefix: &str, trainable_only: bool) -> i64 {
    vs.variables()
        .iter()
        .filter(|(n, t)| n.starts_with(prefix) && (!trainable_only || t.requires_grad()))
        .map(|(_, t)| t.numel() as i64)
        .sum()
}

#[test]
fn resnet32_parameter_count_and_shapes() {
    let vs = VarStore::new(Device::Cpu);
    let (bb, head) = build(arch("resnet32"), &vs.root(), 3, 10).unwrap();
    // 464,154 = 463,504 backbone + 650 head (akamaster/MiSLAS ResNet-32 option A: "0.46M").
    assert_eq!(bb.num_parameters(), 463_504);
    assert_eq!(count(&vs, "backbone.", true), 463_504);
    assert_eq!(count(&vs, "head.", true), 650);
    assert_eq!(bb.feature_dim(), 64);
    assert_eq!(bb.batch_norms().len(), 31);
    let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    let f = bb.forward_features(&x, true);
    assert_eq!(f.size(), [4, 64]);
    assert_eq!(head.forward(&f).size(), [4, 10]);
    // Option B adds 1x1 projection convs + BN at the two downsampling blocks.
    let vs_b = VarStore::new(Device::Cpu);
    let (bb_b, _) = build(arch("resnet32b"), &vs_b.root(), 3, 10).unwrap();
    assert_eq!(
        bb_b.num_parameters(),
        463_504 + 16 * 32 + 64 + 32 * 64 + 128
    );
}

#[test]
fn imagenet_resnets_parameter_counts() {
    let vs = VarStore::new(Device::Cpu);
    let (bb, head) = build(arch("resnet50"), &vs.root(), 3, 1000).unwrap();
    // torchvision resnet50: 25,557,032 total, of which fc 2,049,000.
    assert_eq!(bb.num_parameters(), 23_508_032);
    assert_eq!(bb.feature_dim(), 2048);
    assert_eq!(
        head.parameters()
            .iter()
            .map(|(_, t)| t.numel())
            .sum::<usize>(),
        2_049_000
    );
    // torchvision resnext50_32x4d without fc: 22,979,904
    // (sum(p.numel() for n, p in m.named_parameters() if not n.startswith('fc'))).
    let vsx = VarStore::new(Device::Cpu);
    let (bbx, _) = build(arch("resnext50_32x4d"), &vsx.root(), 3, 1000).unwrap();
    assert_eq!(bbx.num_parameters(), 22_979_904);
    assert_eq!(bbx.feature_dim(), 2048);
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    assert_eq!(bbx.forward_features(&x, false).size(), [2, 2048]);
    let vs10 = VarStore::new(Device::Cpu);
    let (bb10, _) = build(arch("resnet10"), &vs10.root(), 3, 1000).unwrap();
    assert_eq!(bb10.feature_dim(), 512);
    // stem 9,536; stages 73,984 + 230,144 + 919,040 + 3,673,088 (hand-counted).
    assert_eq!(bb10.num_parameters(), 4_905_792);
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    assert_eq!(bb10.forward_features(&x, false).size(), [2, 512]);
}

#[test]
fn resnet152_feature_dim() {
    let vs = VarStore::new(Device::Cpu);
    let (bb, _) = build(arch("resnet152"), &vs.root(), 3, 365).unwrap();
    assert_eq!(bb.feature_dim(), 2048);
    // torchvision resnet152: 60,192,808 total, of which fc 2,049,000.
    assert_eq!(bb.num_parameters(), 60_192_808 - 2_049_000);
}

#[test]
fn unknown_name_and_bad_channels_are_errors() {
    let vs = VarStore::new(Device::Cpu);
    let e = "vgg16".parse::<Arch>().unwrap_err();
    assert!(
        e.starts_with("unknown model 'vgg16'; known: resnet20, resnet32,"),
        "{e}"
    );
    let e = build(arch("resnet32"), &vs.root(), 0, 10).unwrap_err();
    assert_eq!(
        e.to_string(),
        "building model 'resnet32': in_channels must be positive, got 0"
    );
    assert!("resnet33".parse::<Arch>().is_err());
}

#[test]
fn variable_names_split_backbone_and_head() {
    let vs = VarStore::new(Device::Cpu);
    let (bb, head) = build(arch("resnet32"), &vs.root(), 1, 7).unwrap();
    let vars = vs.variables();
    assert!(vars.contains_key("backbone.conv1.weight"));
    assert!(vars.contains_key("backbone.layer3.4.bn2.running_var"));
    assert_eq!(head.parameters()[0].0, "head.weight");
    assert_eq!(head.num_classes(), 7);
    assert_eq!(bb.batch_norms()[0].name, "backbone.bn1");
    for (n, _) in bb.parameters() {
        assert!(vars.contains_key(&n), "{n} not in the VarStore");
    }
    assert_eq!(
        vars.len(),
        bb.parameters().len() + 2 + 2 * bb.batch_norms().len()
    );
}

#[test]
fn bn_eval_mode_keeps_running_stats() {
    let vs = VarStore::new(Device::Cpu);
    let (mut bb, _) = build(arch("resnet32"), &vs.root(), 3, 10).unwrap();
    let x = Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
    let before = bb.batch_norms()[0].running_mean.copy();
    bb.set_bn_eval(true);
    let _ = tch::no_grad(|| bb.forward_features(&x, true));
    assert!(bb.batch_norms()[0].running_mean.equal(&before));
    bb.set_bn_eval(false);
    let _ = tch::no_grad(|| bb.forward_features(&x, true));
    assert!(!bb.batch_norms()[0].running_mean.equal(&before));
}

#[test]
fn shifted_bn_updates_running_stats_not_affine() {
    // MiSLAS stage 2: frozen backbone, train-mode forward under no_grad.
    let vs = VarStore::new(Device::Cpu);
    let (bb, head) = build(arch("resnet32"), &vs.root(), 3, 10).unwrap();
    bb.set_trainable(false);
    let params_before: Vec<Tensor> = bb.parameters().iter().map(|(_, t)| t.copy()).collect();
    let stats_before: Vec<Tensor> = bb
        .batch_norms()
        .iter()
        .map(|b| b.running_var.copy())
        .collect();
    let x = Tensor::randn([16, 3, 32, 32], (Kind::Float, Device::Cpu)) * 2.0;
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]);
    let feats = tch::no_grad(|| bb.forward_features(&x, true));
    let loss = head.forward(&feats).cross_entropy_for_logits(&y);
    loss.backward();
    assert!(head.weight.grad().defined());
    for ((n, t), b) in bb.parameters().iter().zip(&params_before) {
        assert!(t.equal(b), "{n} changed");
        assert!(!t.grad().defined(), "{n} got a gradient");
    }
    for (bn, s) in bb.batch_norms().iter().zip(&stats_before) {
        assert!(
            !bn.running_var.equal(s),
            "{} running stats not updated",
            bn.name
        );
    }
}

#[test]
fn bn_affine_freeze_keeps_other_grads() {
    let vs = VarStore::new(Device::Cpu);
    let (bb, head) = build(arch("resnet20"), &vs.root(), 3, 10).unwrap();
    bb.set_bn_affine_trainable(false);
    let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
    head.forward(&bb.forward_features(&x, true))
        .cross_entropy_for_logits(&y)
        .backward();
    for bn in bb.batch_norms() {
        assert!(!bn.weight.grad().defined() && !bn.bias.grad().defined());
    }
    assert!(bb.parameters()[0].1.grad().defined());
}

#[test]
fn channels_last_keeps_variables_and_values() {
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let (mut bb, head) = build(arch("resnet20"), &vs.root(), 3, 10).unwrap();
    let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let eval = |bb: &Backbone| tch::no_grad(|| head.forward(&bb.forward_features(&x, false)));
    let before = eval(&bb);
    let names: Vec<String> = vs.variables().into_keys().collect();
    assert!(!bb.channels_last());
    bb.set_channels_last(true).unwrap();
    assert!(bb.channels_last());
    let mut keys: Vec<String> = vs.variables().into_keys().collect();
    let mut expected = names.clone();
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected);
    for (n, t) in bb.parameters() {
        assert_eq!(crate::ops::is_channels_last(&t), t.dim() == 4, "{n}");
        assert!(t.requires_grad(), "{n}");
    }
    // The VarStore holds the same (re-laid) tensors.
    let conv1 = &vs.variables()["backbone.conv1.weight"];
    assert!(crate::ops::is_channels_last(conv1));
    let cl = eval(&bb);
    assert!(cl.allclose(&before, 1e-4, 1e-5, false));
    // Training works and the gradients follow the weights' layout.
    head.forward(&bb.forward_features(&x, true))
        .cross_entropy_for_logits(&y)
        .backward();
    assert!(crate::ops::is_channels_last(&conv1.grad()));
    // (That forward updated the BN running statistics: compare against the new ones.)
    let trained = eval(&bb);
    bb.set_channels_last(false).unwrap();
    assert!(bb.parameters().iter().all(|(_, t)| t.is_contiguous()));
    assert!(conv1.is_contiguous() && conv1.grad().defined());
    assert!(eval(&bb).allclose(&trained, 1e-4, 1e-5, false));
}

//! Layering, type checks and resume comparisons of configurations.

use super::*;

#[test]
fn layers_and_overrides_resolve() {
    let mut b = Builder::default();
    b.set("dataset=data/x").unwrap();
    b.layer(
        "[stage2]\nloss = \"las\"\nloss_config = { smooth_head = 0.3 }\n",
        "recipe",
    )
    .unwrap();
    b.set("stage1.epochs=30")
        .unwrap()
        .set("stage2.head=lws")
        .unwrap()
        .set("stage1.loss_config.gamma=2.0")
        .unwrap();
    let c = b.build().unwrap();
    assert_eq!(c.stage1.epochs, 30);
    assert_eq!(c.stage1.loss_config["gamma"].as_float(), Some(2.0));
    let s2 = c.stage2.as_ref().unwrap();
    assert_eq!(
        (s2.loss.as_str(), s2.head.as_str(), s2.epochs),
        ("las", "lws", 10)
    );
    assert!(s2.freeze_backbone);
    let again: Config = toml::from_str(&c.to_toml()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn typos_and_bad_values_are_errors() {
    let mut b = Builder::default();
    b.set("dataset=d").unwrap();
    let e = b.set("stage1.epocs=3").unwrap_err().to_string();
    assert!(
        e.starts_with("--set stage1.epocs: unknown field `epocs`"),
        "{e}"
    );
    let mut b = Builder::default();
    b.set("dataset=d").unwrap();
    let e = b.set("stage1.schedule=linear").unwrap_err().to_string();
    assert_eq!(
        e,
        "--set stage1.schedule: expected \"step\", \"cosine\", \"cosine-epoch\" or \"constant\", got \"linear\""
    );
    let e = b.set("model=vgg16").unwrap_err().to_string();
    assert!(
        e.starts_with("--set model: unknown model 'vgg16'; known: resnet20, "),
        "{e}"
    );
    assert!(Builder::default()
        .build()
        .unwrap_err()
        .to_string()
        .contains("no dataset"));
    let mut b = Builder::default();
    b.set("dataset=d")
        .unwrap()
        .set("stage1.batch_size=1")
        .unwrap();
    let e = b.build().unwrap_err().to_string();
    assert!(
        e.starts_with("stage1.batch_size: must be at least 2"),
        "{e}"
    );
}

#[test]
fn every_layer_is_type_checked_and_named() {
    let mut b = Builder::default();
    let e = b
        .layer("[stage1]\nepochs = \"thirty\"\n", "my.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "my.toml: stage1.epochs: invalid type: string \"thirty\", expected usize"
    );
    let e = b.layer("[stage2]\nlos = 1\n", "r.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("r.toml: stage2.los: unknown field"),
        "{e}"
    );
    let e = b.set("seed=-1").unwrap_err().to_string();
    assert_eq!(e, "--set seed: invalid value: integer `-1`, expected u64");
    let e = b.layer("seed = 1\nx = \n", "bad.toml").unwrap_err();
    assert!(
        e.to_string().starts_with("bad.toml: line 2, column 5: "),
        "{e}"
    );
}

#[test]
fn differing_keys_name_what_changes_the_result() {
    let mut b = Builder::default();
    b.set("dataset=d").unwrap();
    let a = b.build().unwrap();
    let recorded: toml::Table = toml::from_str(&a.to_toml()).unwrap();
    b.set("threads=3").unwrap().set("eval_every=1").unwrap();
    b.set("out=elsewhere").unwrap().set("device=cpu").unwrap();
    assert!(b.build().unwrap().differing_keys(&recorded).is_empty());
    b.set("stage1.lr=0.5")
        .unwrap()
        .set("stage2.loss=las")
        .unwrap();
    b.set("stage1.loss_config.gamma=2").unwrap();
    assert_eq!(
        b.build().unwrap().differing_keys(&recorded),
        ["stage1.loss_config.gamma", "stage1.lr", "stage2"]
    );
}

#[test]
fn enums_and_optional_paths_read_as_earlier_versions_wrote_them() {
    let mut b = Builder::default();
    b.set("dataset=d").unwrap();
    let c = b.build().unwrap();
    assert_eq!((c.model, c.init_checkpoint.as_ref()), (None, None));
    assert_eq!(c.stage1.schedule, crate::schedule::ScheduleKind::Step);
    // Written as before: empty strings for "none".
    let text = c.to_toml();
    assert!(text.contains("model = \"\"\n") && text.contains("init_checkpoint = \"\"\n"));
    b.set("model=ResNet32b").unwrap();
    b.set("init_checkpoint=\"s1.safetensors\"").unwrap();
    b.set("stage2.schedule=\"cosine-epoch\"").unwrap();
    let c = b.build().unwrap();
    assert_eq!(c.model.map(|a| a.name()), Some("resnet32b"));
    assert_eq!(c.init_checkpoint, Some("s1.safetensors".into()));
    let s2 = c.stage2.as_ref().unwrap();
    assert_eq!(s2.schedule.rate_iteration(7), 0);
    assert_eq!(c.stage1.schedule.rate_iteration(7), 7);
    let again: Config = toml::from_str(&c.to_toml()).unwrap();
    assert_eq!(again, c);
    // A config.toml of an earlier version, which kept the model name as given, resumes.
    let mut recorded: toml::Table = toml::from_str(&c.to_toml()).unwrap();
    recorded.insert("model".into(), toml::Value::String("ResNet32B".into()));
    assert!(c.differing_keys(&recorded).is_empty());
    recorded.insert("model".into(), toml::Value::String("resnet20".into()));
    assert_eq!(c.differing_keys(&recorded), ["model"]);
}

#[test]
fn a_param_lr_factor_that_is_not_a_number_is_an_error() {
    let mut b = Builder::default();
    b.set("dataset=d").unwrap();
    b.set("stage1.param_lr_factors={ scales = 2, bias = 0.5 }")
        .unwrap();
    let factor = |c: &Config, p: &str| c.stage1.param_lr_factor(p).unwrap();
    let c = b.build().unwrap();
    assert_eq!(
        [
            factor(&c, "scales"),
            factor(&c, "bias"),
            factor(&c, "other")
        ],
        [Some(2.0), Some(0.5), None]
    );
    let e = b
        .set("stage1.param_lr_factors.scales=fast")
        .unwrap()
        .build();
    let e = e.unwrap_err().to_string();
    assert!(
        e.contains("stage1.param_lr_factors.scales: expected a number, got string \"fast\""),
        "{e}"
    );
}

#[test]
fn init_backbone_is_part_of_the_run_and_excludes_init_checkpoint() {
    let mut b = Builder::default();
    b.set("dataset=d").unwrap();
    let plain = b.build().unwrap();
    assert_eq!(plain.init_backbone, None);
    assert!(plain.to_toml().contains("init_backbone = \"\"\n"));
    // A config.toml written before the key existed reads (and resumes) as without it.
    let mut old: toml::Table = toml::from_str(&plain.to_toml()).unwrap();
    old.remove("init_backbone");
    assert_eq!(plain.differing_keys(&old), Vec::<String>::new());
    b.set("init_backbone=\"r50.safetensors\"").unwrap();
    let c = b.build().unwrap();
    assert_eq!(c.init_backbone, Some("r50.safetensors".into()));
    assert_eq!(c.differing_keys(&old), ["init_backbone"]);
    b.set("init_checkpoint=\"s1.safetensors\"").unwrap();
    b.set("stage2.epochs=1").unwrap();
    let e = b.build().unwrap_err().to_string();
    assert!(
        e.contains("init_backbone and init_checkpoint: give one"),
        "{e}"
    );
}

#[test]
fn one_upper_reference_of_the_test_split() {
    let build = |sets: &[&str]| {
        let mut b = Builder::default();
        b.set("dataset=d").unwrap();
        for s in sets {
            b.set(s).unwrap();
        }
        b.build().map_err(|e| e.to_string())
    };
    let c = build(&["upper_from=[\"runs/ce-bal\", \"runs/m-bal\"]"]).unwrap();
    assert_eq!(c.upper_from.len(), 2);
    // A configuration written before upper_from existed reads with none.
    let mut old: toml::Table = toml::from_str(&build(&[]).unwrap().to_toml()).unwrap();
    old.remove("upper_from");
    let read: Config = toml::from_str(&toml::to_string(&old).unwrap()).unwrap();
    assert!(read.upper_from.is_empty());
    assert!(read.differing_keys(&old).is_empty());
    assert_eq!(
        build(&["upper_top1=80.0", "upper_from=[\"a\"]"]).unwrap_err(),
        "upper_top1 and upper_from: give one upper reference"
    );
    assert_eq!(
        build(&["upper_top1=-1.0"]).unwrap_err(),
        "upper_top1: must be a top-1 in percent (> 0), or 0 for none; got -1"
    );
    assert_eq!(
        build(&["upper_top1=80.0", "eval_split=val"]).unwrap_err(),
        "upper_top1/upper_from: relative accuracy is of the balanced test split, but eval_split is 'val'"
    );
}

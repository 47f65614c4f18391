//! MiSLAS (Zhong, Cui, Liu, Jia: "Improving Calibration for Long-Tailed Recognition", CVPR 2021)
//! as an lt-train plugin: the label-aware smoothing loss `las`, the learnable-weight-scaling head
//! `lws`, and the two-stage recipe (stage 1 with mixup; stage 2 with a class-balanced sampler,
//! label-aware smoothing, shifted batch norm and LWS). See README.md for hyper-parameters.

pub mod las;
pub mod lws;

pub use las::LabelAwareSmoothing;

lt_plugin::export_plugin! {
    plugin "mislas", "MiSLAS (Zhong et al., CVPR 2021): label-aware smoothing, learnable weight scaling, two-stage recipe", recipe include_str!("../recipe.toml");
    loss "las" = LabelAwareSmoothing::new, "label-aware smoothing; config: smooth_head (0.3), smooth_tail (0.0), shape (concave|linear|convex|exp), power (exp only)";
    head "lws" = lws::new, "stage-1 linear classifier (weight, bias trainable) times learnable per-class scales (init 1)";
}

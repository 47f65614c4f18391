//! `lt-train --check`: a configuration's plugins and components, without data or training.

use super::components::Plugins;
use super::second;
use crate::config::Config;
use crate::plugin::DatasetInfo;
use crate::Result;
use lt_data::sampler;
use tch::Device;

/// Checks that `cfg` can run without training anything: its plugins load, and every stage's
/// loss, head, samplers and the model plugin exist, accept their configs and fit together
/// (each is built once for a stand-in 100-class long-tailed dataset, imbalance 100, with
/// 64-wide features: as many classes as CIFAR-100, so configs with per-class settings such as
/// RIDE's router's `top_choices = 30` pass). `lt-train --check` runs it, so shipped
/// configs are tested without data.
pub fn check(cfg: &Config) -> Result<()> {
    let plugins = Plugins::load(&cfg.plugins)?;
    let counts: Vec<u64> = (0..100)
        .map(|c| (500.0 * 0.01f64.powf(c as f64 / 99.0)) as u64)
        .collect();
    let labels: Vec<u32> = counts
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c as u32, n as usize))
        .collect();
    let info = DatasetInfo {
        num_classes: counts.len(),
        class_counts: counts,
        feature_dim: 64,
        seed: cfg.seed,
        device: Device::Cpu,
    };
    let mut model = plugins.model(cfg, &info)?;
    let stages = std::iter::once((1, &cfg.stage1)).chain(cfg.stage2.iter().map(|s| (2, s)));
    for (stage, sc) in stages {
        let loss = plugins.loss(stage, sc, &info)?;
        plugins.head(stage, sc, &info)?;
        if let Some(m) = &mut model {
            m.begin_stage(stage)?;
        }
        second::plan(stage, sc, &loss, model.as_ref())?;
        let samplers = [
            (&sc.sampler, &sc.sampler_config),
            (&sc.sampler2, &sc.sampler2_config),
        ];
        for (name, config) in samplers {
            if !name.is_empty() && !sampler::NAMES.contains(&name.as_str()) {
                plugins.sampler(stage, (name, config), &info, &labels)?;
            }
        }
    }
    Ok(())
}

//! Example lt-train plugin: the focal loss, exported through the lt-plugin SDK.
//! `docs/plugin-guide.md` walks through this crate line by line.

mod focal;

use focal::FocalLoss;

lt_plugin::export_plugin! {
    name: "example-loss",
    version: env!("CARGO_PKG_VERSION"),
    description: "Focal loss (Lin et al., ICCV 2017) as a worked plugin example",
    recipe: Some(include_str!("../recipe.toml")),
    losses: {
        "focal" => (FocalLoss::new, "focal loss -(1-p_t)^gamma log p_t; config: gamma (default 2.0, >= 0)"),
    },
    heads: {},
    samplers: {},
}

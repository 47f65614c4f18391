//! Example lt-train plugin: the Poly-1 loss, exported through the lt-plugin SDK.
//! `docs/plugin-guide.md` walks through this crate line by line.

mod poly1;

use poly1::Poly1Loss;

lt_plugin::export_plugin! {
    plugin "example-loss", "Poly-1 loss (Leng et al., ICLR 2022) as a worked plugin example", recipe include_str!("../recipe.toml");
    loss "poly1" = Poly1Loss::new, "Poly-1 loss -log p_t + epsilon (1 - p_t); config: epsilon (default 1.0, >= -1)";
}

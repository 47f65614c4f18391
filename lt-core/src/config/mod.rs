//! Run configuration in TOML. Layers, later ones winning: built-in defaults, the method recipe a
//! plugin carries, a `--config` file, then `--set key=value` overrides from the command line.
//! Unknown keys are errors, so a typo never silently falls back to a default; values with a
//! fixed set of spellings (`amp`, `schedule`, `model`, ...) are enums, refused where they are
//! read with the allowed values in the message.

mod builder;
mod defaults;
mod resume;
mod run;
mod stage;
#[cfg(test)]
mod tests;

pub use builder::Builder;
pub use defaults::{DEFAULTS, STAGE2_DEFAULTS};
pub use resume::RESUME_NEUTRAL_KEYS;
pub use run::{AugmentOnDevice, Config};
pub use stage::StageConfig;

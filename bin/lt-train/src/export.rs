//! `lt-train export`: flags, then `lt_core::weights::export`.

use anyhow::Result;
use clap::Args;
use lt_core::weights::{self, ExportOptions, Format};
use std::path::PathBuf;

/// Flags of `lt-train export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The run directory.
    run: PathBuf,
    /// The checkpoint to export (default: the run's last stage's final checkpoint).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// torchvision (safetensors, torchvision / MiSLAS names, head folded into fc),
    /// safetensors (lt-train names) or torchscript (traced module).
    #[arg(long, default_value = "torchvision")]
    format: Format,
    /// The file to write (default: RUN/export/model-FORMAT.safetensors, .pt for torchscript).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing --out.
    #[arg(long)]
    force: bool,
}

/// Writes the export and prints where.
pub fn run(a: ExportArgs) -> Result<()> {
    let e = weights::export(&ExportOptions {
        run: a.run,
        checkpoint: a.checkpoint,
        format: a.format,
        out: a.out,
        force: a.force,
    })?;
    println!(
        "wrote {} ({} {}, from {})",
        e.path.display(),
        e.arch,
        a.format.as_str(),
        e.checkpoint.display()
    );
    Ok(())
}

//! A checkpoint's model as TorchScript: [`Trained::logits`] traced on one evaluation-shaped
//! image, so any head made of libtorch operations (plugin heads, post-hoc adjustments
//! included) comes along; `torch.jit.load(FILE)(x)` gives the logits of normalised images.

use super::WeightsError;
use crate::train::Trained;
use crate::{Error, Result};
use std::path::Path;
use tch::{CModule, Device, Kind, Tensor};

/// The traced module's bytes are written to a temporary sibling of `out`, synced and renamed.
pub fn write(t: &mut Trained, checkpoint: &Path, out: &Path) -> Result<()> {
    t.freeze()?;
    let x = Tensor::f_rand(t.input_shape()?, (Kind::Float, Device::Cpu))?;
    let mut failed: Option<Error> = None;
    let traced = CModule::create_by_tracing("LtModel", "forward", &[x], &mut |ins| match t
        .logits(&ins[0])
    {
        Ok(l) => vec![l],
        Err(e) => {
            failed = Some(e);
            vec![ins[0].shallow_clone()]
        }
    });
    let trace_error = |reason: String| WeightsError::Trace {
        checkpoint: checkpoint.to_path_buf(),
        reason,
    };
    if let Some(e) = failed {
        return Err(trace_error(e.to_string()).into());
    }
    let module = traced.map_err(|e| trace_error(e.to_string()))?;
    let tmp = lt_data::format::temp_path(out);
    let saved = module.save(&tmp).map_err(Error::from).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, out))
            .map_err(|err| Error::io(out, err))
    });
    if saved.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    saved
}

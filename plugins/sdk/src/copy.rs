//! Copying the stage-1 classifier into a head's own tensors, in place, after a shape check:
//! the body of most `Head::init_from_linear` implementations.

use crate::{Error, Result};
use tch::Tensor;

/// Copies `src` into `dst` in place, keeping `dst`'s identity (tensors already handed to the
/// optimiser keep seeing the values), after checking the shape; `what` names `src` in the error.
pub fn copy_checked(dst: &Tensor, src: &Tensor, what: &str) -> Result<()> {
    if src.size() != dst.size() {
        return Err(Error::InitShape {
            what: what.to_string(),
            got: src.size(),
            expected: dst.size(),
        });
    }
    let src = src.f_to_device(dst.device())?.f_to_kind(dst.kind())?;
    tch::no_grad(|| dst.shallow_clone().f_copy_(&src))?;
    Ok(())
}

/// Copies a stage-1 linear classifier (`weight` [K,D], `bias` [K] or none) into a head's
/// `dst_weight` and `dst_bias`; without a stage-1 bias the head's bias becomes zero.
pub fn copy_linear(
    (dst_weight, dst_bias): (&Tensor, &Tensor),
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<()> {
    copy_checked(dst_weight, weight, "classifier weight")?;
    match bias {
        Some(b) => copy_checked(dst_bias, b, "classifier bias"),
        None => {
            let _ = tch::no_grad(|| dst_bias.shallow_clone().f_zero_())?;
            Ok(())
        }
    }
}

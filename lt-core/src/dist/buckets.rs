//! Gradient averaging and parameter broadcast in flat buckets, as PyTorch's DDP does (without
//! overlapping the backward pass: tch exposes no autograd hooks).

use super::{DistError, ProcessGroup, Result};
use tch::{Device, Kind, Tensor};

/// Bucket size of [`GradSync`], as PyTorch DDP's default.
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// One flat buffer holding a run of same-kind, same-device tensors.
struct Bucket {
    /// (index into the tensor list, offset, numel)
    members: Vec<(usize, i64, i64)>,
    buffer: Tensor,
}

/// Splits `tensors` (in order) into buckets of at most `bucket_bytes` (a larger tensor gets a
/// bucket of its own), one kind and device per bucket.
fn make_buckets(tensors: &[Tensor], bucket_bytes: usize) -> Result<Vec<Bucket>> {
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut cur: Vec<(usize, i64, i64)> = Vec::new();
    let mut cur_key: Option<(Kind, Device)> = None;
    let mut cur_bytes = 0usize;
    let flush = |cur: &mut Vec<(usize, i64, i64)>,
                 key: Option<(Kind, Device)>,
                 buckets: &mut Vec<Bucket>|
     -> Result<()> {
        if let (Some((kind, device)), Some(&(_, off, n))) = (key, cur.last()) {
            let buffer = Tensor::f_zeros([off + n], (kind, device))?;
            buckets.push(Bucket {
                members: std::mem::take(cur),
                buffer,
            });
        }
        Ok(())
    };
    for (i, t) in tensors.iter().enumerate() {
        if !t.defined() {
            return Err(DistError::Usage(format!("parameter {i} is undefined")));
        }
        let key = (t.f_kind()?, t.device());
        let n = t.numel() as i64;
        let bytes = t.numel() * key.0.elt_size_in_bytes();
        if cur_key != Some(key) || (cur_bytes > 0 && cur_bytes + bytes > bucket_bytes) {
            flush(&mut cur, cur_key, &mut buckets)?;
            cur_bytes = 0;
            cur_key = Some(key);
        }
        let off = cur.last().map_or(0, |&(_, o, n)| o + n);
        cur.push((i, off, n));
        cur_bytes += bytes;
    }
    flush(&mut cur, cur_key, &mut buckets)?;
    Ok(buckets)
}

/// Checks that every rank holds the same tensor layout, so that mismatched models fail with a
/// clear error instead of mismatched collectives.
fn check_same_layout(pg: &ProcessGroup, tensors: &[Tensor], what: &str) -> Result<()> {
    let mut sig = [tensors.len() as i64, 0, 0];
    for t in tensors {
        let n = t.numel() as i64;
        sig[1] += n;
        sig[2] = sig[2].wrapping_mul(1_000_003).wrapping_add(n);
    }
    let mine = Tensor::from_slice(&sig);
    let mut theirs = [mine.copy()];
    pg.broadcast(&mut theirs, 0)?;
    let mut got = [0i64; 3];
    theirs[0].f_copy_data(&mut got, 3)?;
    if got != sig {
        return Err(DistError::Usage(format!(
            "{what}: rank {} has {} tensors / {} elements but rank 0 has {} / {} (or a different \
             order): every rank must build the same model",
            pg.rank(),
            sig[0],
            sig[1],
            got[0],
            got[1]
        )));
    }
    Ok(())
}

/// Averages the gradients of a fixed list of parameters across ranks, in ~25 MB flat buckets:
/// call [`GradSync::sync`] after `backward()` and before the optimiser step. Every rank must pass
/// its parameters in the same order (e.g. `VarStore::trainable_variables()`). A parameter whose
/// gradient is undefined on this rank contributes zeros and keeps no gradient.
pub struct GradSync {
    params: Vec<Tensor>,
    buckets: Vec<Bucket>,
}

impl GradSync {
    /// Buckets of [`DEFAULT_BUCKET_BYTES`]; checks that all ranks hold the same layout.
    pub fn new(pg: &ProcessGroup, params: &[Tensor]) -> Result<GradSync> {
        Self::with_bucket_bytes(pg, params, DEFAULT_BUCKET_BYTES)
    }

    pub fn with_bucket_bytes(
        pg: &ProcessGroup,
        params: &[Tensor],
        bucket_bytes: usize,
    ) -> Result<GradSync> {
        check_same_layout(pg, params, "GradSync")?;
        let params: Vec<Tensor> = params.iter().map(Tensor::shallow_clone).collect();
        let buckets = make_buckets(&params, bucket_bytes.max(1))?;
        Ok(GradSync { params, buckets })
    }

    pub fn num_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Replaces every parameter's gradient by its mean over all ranks. All buckets go to c10d
    /// in one call, so Gloo's worker threads reduce several of them at once.
    pub fn sync(&mut self, pg: &ProcessGroup) -> Result<()> {
        let world = pg.world_size() as f64;
        let params = &self.params;
        tch::no_grad(|| -> Result<()> {
            for b in self.buckets.iter_mut() {
                for &(i, off, n) in &b.members {
                    let g = params[i].f_grad()?;
                    let mut slot = b.buffer.f_narrow(0, off, n)?;
                    if g.defined() {
                        slot.f_copy_(&g.f_reshape([-1])?)?;
                    } else {
                        let _ = slot.f_zero_()?;
                    }
                }
            }
            let mut buffers: Vec<Tensor> = self
                .buckets
                .iter()
                .map(|b| b.buffer.shallow_clone())
                .collect();
            pg.all_reduce_sum(&mut buffers)?;
            for b in self.buckets.iter_mut() {
                let _ = b.buffer.f_div_scalar_(world)?;
                for &(i, off, n) in &b.members {
                    let mut g = params[i].f_grad()?;
                    if g.defined() {
                        let src = b.buffer.f_narrow(0, off, n)?.f_view_as(&g)?;
                        g.f_copy_(&src)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Overwrites the parameters with rank 0's values (call once before training).
    pub fn broadcast_parameters(&mut self, pg: &ProcessGroup) -> Result<()> {
        broadcast_in_buckets(pg, &self.params, &mut self.buckets)
    }
}

/// Overwrites `params` on every rank with rank 0's values, in flat buckets; call once before
/// training so that all replicas start from the same weights.
pub fn broadcast_parameters(pg: &ProcessGroup, params: &[Tensor]) -> Result<()> {
    check_same_layout(pg, params, "broadcast_parameters")?;
    let mut buckets = make_buckets(params, DEFAULT_BUCKET_BYTES)?;
    broadcast_in_buckets(pg, params, &mut buckets)
}

fn broadcast_in_buckets(
    pg: &ProcessGroup,
    params: &[Tensor],
    buckets: &mut [Bucket],
) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for b in buckets.iter_mut() {
            if pg.rank() == 0 {
                for &(i, off, n) in &b.members {
                    b.buffer
                        .f_narrow(0, off, n)?
                        .f_copy_(&params[i].f_reshape([-1])?)?;
                }
            }
            pg.broadcast(std::slice::from_mut(&mut b.buffer), 0)?;
            for &(i, off, n) in &b.members {
                let mut p = params[i].shallow_clone();
                let src = b.buffer.f_narrow(0, off, n)?.f_view_as(&p)?;
                p.f_copy_(&src)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_by_size_and_kind() {
        let ts = vec![
            Tensor::zeros([10], (Kind::Float, Device::Cpu)),
            Tensor::zeros([20], (Kind::Float, Device::Cpu)),
            Tensor::zeros([5], (Kind::Double, Device::Cpu)),
            Tensor::zeros([100], (Kind::Double, Device::Cpu)),
        ];
        // 128-byte cap: floats 40 + 80 fit; doubles 40 then 800 (over cap, own bucket).
        let b = make_buckets(&ts, 128).unwrap();
        let layout: Vec<Vec<(usize, i64, i64)>> = b.iter().map(|b| b.members.clone()).collect();
        assert_eq!(
            layout,
            vec![
                vec![(0, 0, 10), (1, 10, 20)],
                vec![(2, 0, 5)],
                vec![(3, 0, 100)]
            ]
        );
        assert_eq!(b[0].buffer.size(), [30]);
        assert_eq!(b[2].buffer.kind(), Kind::Double);
    }
}

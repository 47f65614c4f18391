//! Several branches on a shared trunk (multi-expert models: BBN, RIDE, SADE): the backbone's
//! last stage is the part each branch has its own copy of, as RIDE and SADE duplicate `layer3`
//! of a CIFAR ResNet (BBN duplicates only the last block; see `plugins/bbn/README.md`).
//!
//! Branch 0 is the backbone's own last stage (`backbone.layer3.*`), so single-branch weights
//! load into it; branch i >= 1 is a fresh copy, initialised as the builder initialises, under
//! `backbone.branches.<i>.layer3.*`.

use super::layers::Collector;
use super::Backbone;
use crate::{Error, Result};
use tch::nn;
use tch::Tensor;

impl Backbone {
    /// Index of the first block of the last stage (the blocks named like the last one's stage).
    pub(super) fn last_stage_start(&self) -> usize {
        let last = self.blocks.last().and_then(|b| b.position()).map(|p| p.0);
        self.blocks
            .iter()
            .position(|b| b.position().map(|p| p.0) == last)
            .unwrap_or(self.blocks.len())
    }

    /// Gives the backbone `n` branches in all (`n - 1` new copies of its last stage) under
    /// `path` (the backbone's VarStore path). Call once, before channels-last or an optimiser.
    pub fn add_branches(&mut self, path: &nn::Path, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::Model("a model needs at least one branch".into()));
        }
        if !self.branches.is_empty() {
            return Err(Error::Model("the backbone has branches already".into()));
        }
        let start = self.last_stage_start();
        let mut c = Collector::with_init(self.conv_init);
        for i in 1..n {
            let bp = path / "branches" / i;
            let copy = self.blocks[start..]
                .iter()
                .map(|b| {
                    let (stage, j) = b.position().ok_or_else(|| {
                        Error::Model("a block without a stage name cannot branch".into())
                    })?;
                    b.fresh_like(&mut c, &(&bp / stage.as_str() / j.as_str()))
                })
                .collect::<Result<Vec<_>>>()?;
            self.branches.push(copy);
        }
        self.params.extend(c.params);
        Ok(())
    }

    /// How many branches the backbone has (1 without [`Backbone::add_branches`]).
    pub fn num_branches(&self) -> usize {
        1 + self.branches.len()
    }

    /// Pooled features [N, feature_dim] of branch `i` from the trunk's output.
    pub fn forward_branch(&self, i: usize, trunk: &Tensor, train: bool) -> Tensor {
        let bn_train = train && !self.bn_eval;
        let blocks = match i {
            0 => &self.blocks[self.last_stage_start()..],
            i => &self.branches[i - 1][..],
        };
        let mut out = trunk.shallow_clone();
        for b in blocks {
            out = b.forward(&out, bn_train);
        }
        out.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }

    /// Every branch's pooled features of the same images, the trunk run once.
    pub fn forward_branches(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let t = self.forward_trunk(x, train);
        (0..self.num_branches())
            .map(|i| self.forward_branch(i, &t, train))
            .collect()
    }
}

//! Samplers: which sample indices an epoch visits, and in what order.
//!
//! Every sampler is a pure function of (seed, epoch): the same pair always gives the same
//! order, so a resumed run or another rank sees exactly what the first saw. Randomness comes
//! from [`streams::sampler_epoch`], a SplitMix64 stream owned by this crate (no `rand`
//! dependency, and a stream that never changes under us between crate versions).

use crate::error::{Error, Result};
use crate::rng::streams;

/// Yields the sample indices of each epoch.
pub trait Sampler: Send {
    /// Indices of epoch `epoch`, in visiting order; deterministic from (seed, epoch). The
    /// built-in samplers never fail; a sampler backed by outside code (a plugin) reports its
    /// failure here, as [`Error::Sampler`].
    fn epoch_indices(&mut self, epoch: u64) -> Result<Vec<u32>>;
    fn name(&self) -> &str;
}

/// Every sample once per epoch, in a fresh random order (the usual shuffle).
pub struct InstanceBalanced {
    n: usize,
    seed: u64,
}

impl InstanceBalanced {
    pub fn new(n: usize, seed: u64) -> Self {
        InstanceBalanced { n, seed }
    }
}

impl Sampler for InstanceBalanced {
    fn epoch_indices(&mut self, epoch: u64) -> Result<Vec<u32>> {
        let mut v: Vec<u32> = (0..self.n as u32).collect();
        streams::sampler_epoch(self.seed, epoch).shuffle(&mut v);
        Ok(v)
    }
    fn name(&self) -> &str {
        "instance"
    }
}

/// Draws a class from a per-class distribution, then a sample of that class uniformly, with
/// replacement. All the re-balancing samplers are this with a different class distribution.
pub struct ClassWeighted {
    name: String,
    by_class: Vec<Vec<u32>>,
    /// Class probabilities as a function of the epoch.
    probs: Box<dyn Fn(u64) -> Vec<f64> + Send>,
    epoch_len: usize,
    seed: u64,
}

fn group_by_class(labels: &[u32], num_classes: usize) -> Result<Vec<Vec<u32>>> {
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        let c = by_class.get_mut(l as usize).ok_or_else(|| {
            Error::invalid(format!(
                "sample {i} has label {l}, but there are {num_classes} classes"
            ))
        })?;
        c.push(i as u32);
    }
    if labels.is_empty() {
        return Err(Error::invalid("cannot sample from an empty split"));
    }
    Ok(by_class)
}

impl ClassWeighted {
    /// `weight(n_c, epoch)` gives the unnormalised probability of a class with `n_c` samples;
    /// empty classes are never drawn. Epoch length defaults to the number of samples.
    pub fn new(
        name: &str,
        labels: &[u32],
        num_classes: usize,
        seed: u64,
        weight: impl Fn(f64, u64) -> f64 + Send + 'static,
    ) -> Result<Self> {
        let by_class = group_by_class(labels, num_classes)?;
        let counts: Vec<f64> = by_class.iter().map(|c| c.len() as f64).collect();
        let probs = move |epoch: u64| {
            let w: Vec<f64> = counts
                .iter()
                .map(|&n| {
                    if n > 0.0 {
                        weight(n, epoch).max(0.0)
                    } else {
                        0.0
                    }
                })
                .collect();
            let s: f64 = w.iter().sum();
            w.iter().map(|x| x / s).collect()
        };
        Ok(ClassWeighted {
            name: name.to_string(),
            by_class,
            probs: Box::new(probs),
            epoch_len: labels.len(),
            seed,
        })
    }
    /// Changes how many indices an epoch has (default: the dataset length).
    pub fn with_epoch_len(mut self, len: usize) -> Self {
        self.epoch_len = len;
        self
    }
    /// The class distribution used at `epoch`.
    pub fn class_probs(&self, epoch: u64) -> Vec<f64> {
        (self.probs)(epoch)
    }
}

impl Sampler for ClassWeighted {
    fn epoch_indices(&mut self, epoch: u64) -> Result<Vec<u32>> {
        let p = (self.probs)(epoch);
        let mut cdf = Vec::with_capacity(p.len());
        let mut acc = 0.0;
        for x in p {
            acc += x;
            cdf.push(acc);
        }
        let mut rng = streams::sampler_epoch(self.seed, epoch);
        Ok((0..self.epoch_len)
            .map(|_| {
                let u = rng.unit() * acc;
                let mut c = cdf.partition_point(|&x| x <= u).min(cdf.len() - 1);
                // Rounding can land on an empty class at the end; step back to a real one.
                while self.by_class[c].is_empty() {
                    c -= 1;
                }
                let members = &self.by_class[c];
                members[rng.below(members.len())]
            })
            .collect())
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Class drawn uniformly (1/K), then a sample of it.
pub fn class_balanced(labels: &[u32], num_classes: usize, seed: u64) -> Result<ClassWeighted> {
    ClassWeighted::new("class-balanced", labels, num_classes, seed, |_, _| 1.0)
}

/// Class probability proportional to the square root of its size.
pub fn square_root(labels: &[u32], num_classes: usize, seed: u64) -> Result<ClassWeighted> {
    ClassWeighted::new("sqrt", labels, num_classes, seed, |n, _| n.sqrt())
}

/// Progressively balanced (Kang et al., Decoupling): class probability moves linearly from
/// n_c/N at epoch 0 to 1/K at `total_epochs`, and stays balanced after.
pub fn progressive(
    labels: &[u32],
    num_classes: usize,
    seed: u64,
    total_epochs: u64,
) -> Result<ClassWeighted> {
    let n = labels.len() as f64;
    let k = {
        let by_class = group_by_class(labels, num_classes)?;
        by_class.iter().filter(|c| !c.is_empty()).count() as f64
    };
    let total = total_epochs.max(1) as f64;
    ClassWeighted::new(
        "progressive",
        labels,
        num_classes,
        seed,
        move |nc, epoch| {
            let t = (epoch as f64 / total).min(1.0);
            (1.0 - t) * nc / n + t / k
        },
    )
}

/// Reversed (BBN): class probability proportional to 1/n_c, favouring the tail.
pub fn reversed(labels: &[u32], num_classes: usize, seed: u64) -> Result<ClassWeighted> {
    ClassWeighted::new("reversed", labels, num_classes, seed, |n, _| 1.0 / n)
}

/// Shards another sampler's epoch over `world_size` ranks, like torch's DistributedSampler:
/// the epoch is padded by repeating its start to a multiple of `world_size`, then rank r
/// takes positions r, r + world_size, ... Each rank must use the same inner seed.
pub struct Distributed {
    inner: Box<dyn Sampler>,
    rank: usize,
    world_size: usize,
    name: String,
}

impl Distributed {
    pub fn new(inner: Box<dyn Sampler>, rank: usize, world_size: usize) -> Result<Self> {
        if world_size == 0 || rank >= world_size {
            return Err(Error::invalid(format!(
                "rank {rank} is not in a world of size {world_size}"
            )));
        }
        let name = format!("distributed({})", inner.name());
        Ok(Distributed {
            inner,
            rank,
            world_size,
            name,
        })
    }
}

impl Sampler for Distributed {
    fn epoch_indices(&mut self, epoch: u64) -> Result<Vec<u32>> {
        let all = self.inner.epoch_indices(epoch)?;
        if all.is_empty() {
            return Ok(all);
        }
        let total = all.len().div_ceil(self.world_size) * self.world_size;
        Ok((self.rank..total)
            .step_by(self.world_size)
            .map(|p| all[p % all.len()])
            .collect())
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Names accepted by [`by_name`].
pub const NAMES: &[&str] = &[
    "instance",
    "class-balanced",
    "sqrt",
    "progressive",
    "reversed",
];

/// Builds a built-in sampler from its configuration name.
pub fn by_name(
    name: &str,
    labels: &[u32],
    num_classes: usize,
    seed: u64,
    total_epochs: u64,
) -> Result<Box<dyn Sampler>> {
    Ok(match name {
        "instance" => Box::new(InstanceBalanced::new(labels.len(), seed)),
        "class-balanced" => Box::new(class_balanced(labels, num_classes, seed)?),
        "sqrt" => Box::new(square_root(labels, num_classes, seed)?),
        "progressive" => Box::new(progressive(labels, num_classes, seed, total_epochs)?),
        "reversed" => Box::new(reversed(labels, num_classes, seed)?),
        _ => {
            return Err(crate::names::unknown(
                format!("unknown sampler {name:?}"),
                NAMES,
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long-tailed label list: class c has max(1, 1000 / 2^c) samples.
    fn lt_labels(k: usize) -> Vec<u32> {
        (0..k)
            .flat_map(|c| std::iter::repeat_n(c as u32, (1000 >> c).max(1)))
            .collect()
    }

    #[test]
    fn same_seed_and_epoch_same_order_other_epoch_differs() {
        let labels = lt_labels(6);
        for name in NAMES {
            let mut a = by_name(name, &labels, 6, 7, 10).unwrap();
            let mut b = by_name(name, &labels, 6, 7, 10).unwrap();
            assert_eq!(
                a.epoch_indices(3).unwrap(),
                b.epoch_indices(3).unwrap(),
                "{name}"
            );
            assert_ne!(
                a.epoch_indices(3).unwrap(),
                a.epoch_indices(4).unwrap(),
                "{name}"
            );
            let mut c = by_name(name, &labels, 6, 8, 10).unwrap();
            assert_ne!(
                a.epoch_indices(3).unwrap(),
                c.epoch_indices(3).unwrap(),
                "{name}"
            );
            assert_eq!(a.epoch_indices(0).unwrap().len(), labels.len(), "{name}");
        }
    }

    #[test]
    fn instance_balanced_visits_every_index_once() {
        let mut s = InstanceBalanced::new(1234, 1);
        for e in 0..3 {
            let mut v = s.epoch_indices(e).unwrap();
            assert_ne!(v, (0..1234).collect::<Vec<u32>>(), "not shuffled");
            v.sort_unstable();
            assert_eq!(v, (0..1234).collect::<Vec<u32>>());
        }
    }

    /// Frequency of each class over `epochs` epochs.
    fn class_freq(s: &mut dyn Sampler, labels: &[u32], k: usize, epochs: u64) -> (Vec<f64>, f64) {
        let mut hits = vec![0usize; k];
        let mut total = 0usize;
        for e in 0..epochs {
            for i in s.epoch_indices(e).unwrap() {
                hits[labels[i as usize] as usize] += 1;
                total += 1;
            }
        }
        (
            hits.iter().map(|&h| h as f64 / total as f64).collect(),
            total as f64,
        )
    }

    fn assert_freq_close(freq: &[f64], p: &[f64], total: f64) {
        for (c, (&f, &q)) in freq.iter().zip(p).enumerate() {
            // 5 standard deviations of a binomial proportion.
            let tol = 5.0 * (q * (1.0 - q) / total).sqrt();
            assert!(
                (f - q).abs() <= tol,
                "class {c}: frequency {f:.5}, expected {q:.5} +- {tol:.5}"
            );
        }
    }

    #[test]
    fn class_balanced_frequencies_are_uniform() {
        let labels = lt_labels(8);
        let mut s = class_balanced(&labels, 8, 3).unwrap();
        let (freq, total) = class_freq(&mut s, &labels, 8, 50);
        assert_freq_close(&freq, &[1.0 / 8.0; 8], total);
        // Members of a class are drawn uniformly too: the head class's indices all appear.
        let mut seen = vec![false; labels.len()];
        for e in 0..50 {
            for i in s.epoch_indices(e).unwrap() {
                seen[i as usize] = true;
            }
        }
        assert!(seen.iter().all(|&x| x));
    }

    #[test]
    fn sqrt_reversed_and_progressive_follow_their_distributions() {
        let labels = lt_labels(5);
        let counts: Vec<f64> = (0..5).map(|c| (1000 >> c) as f64).collect();
        let n: f64 = counts.iter().sum();
        let norm = |w: Vec<f64>| {
            let s: f64 = w.iter().sum();
            w.into_iter().map(|x| x / s).collect::<Vec<f64>>()
        };
        let mut s = square_root(&labels, 5, 1).unwrap();
        let (f, t) = class_freq(&mut s, &labels, 5, 30);
        assert_freq_close(&f, &norm(counts.iter().map(|c| c.sqrt()).collect()), t);
        let mut s = reversed(&labels, 5, 1).unwrap();
        let (f, t) = class_freq(&mut s, &labels, 5, 30);
        assert_freq_close(&f, &norm(counts.iter().map(|c| 1.0 / c).collect()), t);

        let p = progressive(&labels, 5, 1, 10).unwrap();
        let inst: Vec<f64> = counts.iter().map(|c| c / n).collect();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(&p.class_probs(0), &inst));
        assert!(close(&p.class_probs(10), &[0.2; 5]));
        assert!(close(&p.class_probs(25), &[0.2; 5]));
        let mid: Vec<f64> = inst.iter().map(|q| 0.5 * q + 0.5 * 0.2).collect();
        assert!(close(&p.class_probs(5), &mid));
    }

    #[test]
    fn distributed_shards_partition_the_padded_epoch() {
        let labels = lt_labels(4); // 1000 + 500 + 250 + 125 = 1875 samples
        for world in [1usize, 2, 3, 4, 7] {
            let mut shards: Vec<Vec<u32>> = (0..world)
                .map(|r| {
                    let inner = by_name("instance", &labels, 4, 9, 1).unwrap();
                    Distributed::new(inner, r, world)
                        .unwrap()
                        .epoch_indices(2)
                        .unwrap()
                })
                .collect();
            let per = labels.len().div_ceil(world);
            assert!(
                shards.iter().all(|s| s.len() == per),
                "world {world}: unequal shards"
            );
            // Interleaving the shards rebuilds the inner epoch followed by its first indices.
            let full = InstanceBalanced::new(labels.len(), 9)
                .epoch_indices(2)
                .unwrap();
            let mut rebuilt = Vec::new();
            for p in 0..per {
                for s in &shards {
                    rebuilt.push(s[p]);
                }
            }
            let padded: Vec<u32> = (0..per * world).map(|p| full[p % full.len()]).collect();
            assert_eq!(rebuilt, padded, "world {world}");
            // Every sample is covered, duplicates only from the padding.
            for s in &mut shards {
                s.sort_unstable();
            }
            let mut all: Vec<u32> = shards.concat();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), labels.len());
        }
        // Reshuffled each epoch.
        let inner = by_name("instance", &labels, 4, 9, 1).unwrap();
        let mut d = Distributed::new(inner, 1, 3).unwrap();
        assert_ne!(d.epoch_indices(0).unwrap(), d.epoch_indices(1).unwrap());
        assert!(Distributed::new(by_name("instance", &labels, 4, 9, 1).unwrap(), 3, 3).is_err());
    }

    #[test]
    fn unknown_name_and_bad_labels_are_errors() {
        let e = by_name("balanced", &[0, 1], 2, 0, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("unknown sampler") && e.contains("class-balanced"),
            "{e}"
        );
        let e = by_name("sqrt", &[0, 5], 2, 0, 1).err().unwrap().to_string();
        assert!(e.contains("label 5"), "{e}");
    }
}

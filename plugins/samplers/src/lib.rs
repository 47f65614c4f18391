//! Samplers as an lt-train plugin, so any stage can pick one with
//! `--plugin samplers --set stage1.sampler=samplers/<name>`.
//!
//! * `sqrt`, `progressive`, `reversed`, `class-balanced`: lt-data's own samplers
//!   (`lt_data::sampler`), wrapped, not re-implemented; they are also built into the trainer under
//!   the same names, and the plugin exists so that a method plugin or a config can name them
//!   explicitly.
//! * `class-aware`: the class-aware sampler of Decoupling (Kang et al., ICLR 2020) and MiSLAS,
//!   which the built-in samplers do not provide (see [`ClassAware`]).
//!
//! Configuration keys (all optional; the trainer currently passes an empty config to plugin
//! samplers, so the defaults are what runs): `total_epochs` (progressive: epochs over which the
//! distribution moves from instance- to class-balanced, default 200 = the trainer's default
//! stage-1 length), `per_class` (class-aware: images taken per drawn class, default 4),
//! `epoch_len` (indices per epoch, default the training-set size).

use lt_data::{rng::Rng, sampler as lts};
use lt_plugin::{Config, DatasetInfo, Error, Result, Sampler};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SamplerConfig {
    total_epochs: u64,
    per_class: usize,
    epoch_len: usize,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            total_epochs: 200,
            per_class: 4,
            epoch_len: 0,
        }
    }
}

impl SamplerConfig {
    fn read(c: &Config, labels: &[u32]) -> Result<SamplerConfig> {
        let mut s: SamplerConfig = c.parse_or_default()?;
        if s.epoch_len == 0 {
            s.epoch_len = labels.len();
        }
        if s.per_class == 0 {
            return Err(Error::Config("per_class must be at least 1".into()));
        }
        Ok(s)
    }
}

fn lt_err(e: lt_data::Error) -> Error {
    Error::External(Box::new(e))
}

/// One of lt-data's class-weighted samplers behind the plugin trait.
pub struct Wrapped(lts::ClassWeighted);

impl Sampler for Wrapped {
    fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>> {
        lts::Sampler::epoch_indices(&mut self.0, epoch as u64).map_err(lt_err)
    }
}

fn wrap(
    make: impl FnOnce(&SamplerConfig) -> lt_data::Result<lts::ClassWeighted>,
    c: &Config,
    labels: &[u32],
) -> Result<Wrapped> {
    let cfg = SamplerConfig::read(c, labels)?;
    Ok(Wrapped(
        make(&cfg).map_err(lt_err)?.with_epoch_len(cfg.epoch_len),
    ))
}

/// Class probability proportional to sqrt(n_c).
pub fn square_root(c: &Config, d: &DatasetInfo, labels: &[u32]) -> Result<Wrapped> {
    wrap(
        |_| lts::square_root(labels, d.num_classes, d.seed),
        c,
        labels,
    )
}

/// Progressively balanced (Kang et al.): from n_c/N at epoch 0 to 1/K at `total_epochs`.
pub fn progressive(c: &Config, d: &DatasetInfo, labels: &[u32]) -> Result<Wrapped> {
    wrap(
        |s| lts::progressive(labels, d.num_classes, d.seed, s.total_epochs),
        c,
        labels,
    )
}

/// Reversed (BBN): class probability proportional to 1/n_c.
pub fn reversed(c: &Config, d: &DatasetInfo, labels: &[u32]) -> Result<Wrapped> {
    wrap(|_| lts::reversed(labels, d.num_classes, d.seed), c, labels)
}

/// Class drawn uniformly, then an image of it uniformly, with replacement.
pub fn class_balanced(c: &Config, d: &DatasetInfo, labels: &[u32]) -> Result<Wrapped> {
    wrap(
        |_| lts::class_balanced(labels, d.num_classes, d.seed),
        c,
        labels,
    )
}

/// Stream id keeping class-aware draws apart from other users of the same seed.
const CLASS_AWARE_STREAM: u64 = 0x4341_5753;

/// The class-aware sampler of Decoupling / MiSLAS (`ClassAwareSampler`, num_samples_cls = 4):
/// the classes are visited in a random order that is reshuffled after each full cycle, and each
/// visit yields the next `per_class` images of that class, whose images are in turn cycled
/// through in an order reshuffled after each full pass (sampling without replacement inside a
/// pass). Per draw this is the class-balanced distribution (each class 1/K, each of its images
/// equally likely), but batches are stratified: every class appears equally often in each run of
/// K * per_class draws. Difference from the official code: its cycle positions carry over from
/// one epoch to the next; here every epoch starts fresh cycles, so an epoch is a pure function of
/// (seed, epoch) like every lt-data sampler.
pub struct ClassAware {
    by_class: Vec<Vec<u32>>,
    per_class: usize,
    epoch_len: usize,
    seed: u64,
}

impl ClassAware {
    pub fn new(
        labels: &[u32],
        num_classes: usize,
        seed: u64,
        per_class: usize,
        epoch_len: usize,
    ) -> Result<Self> {
        let mut by_class = vec![Vec::new(); num_classes];
        for (i, &l) in labels.iter().enumerate() {
            by_class
                .get_mut(l as usize)
                .ok_or_else(|| {
                    Error::Data(format!(
                        "sample {i} has label {l}, but there are {num_classes} classes"
                    ))
                })?
                .push(i as u32);
        }
        by_class.retain(|c| !c.is_empty());
        if by_class.is_empty() {
            return Err(Error::Data("cannot sample from an empty split".into()));
        }
        Ok(ClassAware {
            by_class,
            per_class: per_class.max(1),
            epoch_len,
            seed,
        })
    }

    pub fn from_config(c: &Config, d: &DatasetInfo, labels: &[u32]) -> Result<ClassAware> {
        let cfg = SamplerConfig::read(c, labels)?;
        ClassAware::new(labels, d.num_classes, d.seed, cfg.per_class, cfg.epoch_len)
    }
}

/// Endless walk through `items` in an order reshuffled at every wrap-around.
struct Cycle {
    order: Vec<u32>,
    pos: usize,
}

impl Cycle {
    fn new(items: Vec<u32>) -> Self {
        // Start "at the end", so the first draw shuffles.
        let pos = items.len();
        Cycle { order: items, pos }
    }
    fn next(&mut self, rng: &mut Rng) -> u32 {
        if self.pos == self.order.len() {
            rng.shuffle(&mut self.order);
            self.pos = 0;
        }
        self.pos += 1;
        self.order[self.pos - 1]
    }
}

impl Sampler for ClassAware {
    fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>> {
        let mut rng = Rng::keyed(&[self.seed, epoch as u64, CLASS_AWARE_STREAM]);
        let mut classes = Cycle::new((0..self.by_class.len() as u32).collect());
        let mut members: Vec<Cycle> = self
            .by_class
            .iter()
            .map(|c| Cycle::new(c.clone()))
            .collect();
        let mut out = Vec::with_capacity(self.epoch_len);
        while out.len() < self.epoch_len {
            let c = classes.next(&mut rng) as usize;
            for _ in 0..self.per_class.min(self.epoch_len - out.len()) {
                out.push(members[c].next(&mut rng));
            }
        }
        Ok(out)
    }
}

lt_plugin::export_plugin! {
    plugin "samplers", "Re-balancing samplers: sqrt, progressive, reversed, class-balanced (lt-data's) and class-aware (Decoupling / MiSLAS)";
    sampler "sqrt" = square_root, "class probability proportional to sqrt(n_c) (lt-data)";
    sampler "square-root" = square_root, "alias of sqrt";
    sampler "progressive" = progressive, "progressively balanced, n_c/N to 1/K over total_epochs (default 200) (lt-data)";
    sampler "reversed" = reversed, "class probability proportional to 1/n_c, BBN's reversed sampler (lt-data)";
    sampler "class-balanced" = class_balanced, "class 1/K, then an image uniformly, with replacement (lt-data)";
    sampler "class-aware" = ClassAware::from_config, "Decoupling/MiSLAS class-aware sampler: shuffled class cycle, per_class (4) images per visit";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class c has 400 / 2^c images.
    fn info(k: usize) -> DatasetInfo {
        DatasetInfo::for_test((0..k).map(|c| 400 >> c).collect()).with_seed(5)
    }

    /// Class c has 400 / 2^c images.
    fn labels(k: usize) -> Vec<u32> {
        (0..k)
            .flat_map(|c| std::iter::repeat_n(c as u32, 400 >> c))
            .collect()
    }

    #[test]
    fn wrapped_samplers_give_lt_data_orders() {
        let l = labels(4);
        let c = Config::default();
        type Make = fn(&Config, &DatasetInfo, &[u32]) -> Result<Wrapped>;
        let cases: [(Make, lts::ClassWeighted, u32); 4] = [
            (square_root, lts::square_root(&l, 4, 5).unwrap(), 3),
            (progressive, lts::progressive(&l, 4, 5, 200).unwrap(), 7),
            (reversed, lts::reversed(&l, 4, 5).unwrap(), 0),
            (class_balanced, lts::class_balanced(&l, 4, 5).unwrap(), 1),
        ];
        for (make, mut theirs, epoch) in cases {
            let mut ours = make(&c, &info(4), &l).unwrap();
            assert_eq!(
                ours.epoch_indices(epoch).unwrap(),
                lts::Sampler::epoch_indices(&mut theirs, epoch as u64).unwrap()
            );
        }
        // Config: the progressive horizon and the epoch length.
        let c = Config::from_json(r#"{"total_epochs": 10, "epoch_len": 33}"#).unwrap();
        let v = progressive(&c, &info(4), &l)
            .unwrap()
            .epoch_indices(2)
            .unwrap();
        assert_eq!(v.len(), 33);
        let mut theirs = lts::progressive(&l, 4, 5, 10).unwrap().with_epoch_len(33);
        assert_eq!(v, lts::Sampler::epoch_indices(&mut theirs, 2).unwrap());
        assert!(reversed(
            &Config::from_json(r#"{"epochs": 3}"#).unwrap(),
            &info(4),
            &l
        )
        .is_err());
        assert!(
            square_root(&c, &info(2), &l).is_err(),
            "label 3 with 2 classes must fail"
        );
    }

    #[test]
    fn class_aware_is_stratified_and_cycles_within_classes() {
        let l = labels(4); // 400, 200, 100, 50
        let mut s = ClassAware::from_config(&Config::default(), &info(4), &l).unwrap();
        let v = s.epoch_indices(0).unwrap();
        assert_eq!(v.len(), l.len());
        assert_eq!(v, s.epoch_indices(0).unwrap(), "deterministic");
        assert_ne!(v, s.epoch_indices(1).unwrap());
        // Runs of 4 share a class; each block of 16 = one full class cycle holds each class 4x.
        for block in v.chunks(4) {
            assert!(block.iter().all(|&i| l[i as usize] == l[block[0] as usize]));
        }
        for cycle in v.chunks_exact(16) {
            let mut n = [0; 4];
            for &i in cycle {
                n[l[i as usize] as usize] += 1;
            }
            assert_eq!(n, [4; 4]);
        }
        // Class 3 (50 images) is drawn 750 / 4 = 187 or 188 times: its first 50 draws are
        // distinct (one pass without replacement), and every image appears.
        let tail: Vec<u32> = v.iter().copied().filter(|&i| l[i as usize] == 3).collect();
        let mut first: Vec<u32> = tail[..50].to_vec();
        first.sort_unstable();
        first.dedup();
        assert_eq!(first.len(), 50);
        assert!(ClassAware::new(&[], 3, 0, 4, 10).is_err());
    }
}

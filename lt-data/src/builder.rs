//! `lt-data build`: raw source -> long-tailed split -> split files + manifest, in a temporary
//! directory renamed into place only when everything is written. A build is planned first
//! (source read, every listed image looked up: [`plan`]) and decodes only once nothing is
//! missing or `--skip-missing` allows it ([`Plan::build`]).

use crate::error::{Error, Result};
use crate::format::{Layout, Writer};
use crate::manifest::{Manifest, Skipped, SplitInfo};
use crate::missing;
use crate::ordered;
use crate::output::Output;
use crate::recipe::{self, Recipe};
use crate::source::{self, readahead, Pixels, Resolution, Sample, SourceData};
use crate::split::{self, Compat, Profile};
use crate::stages::StageTimes;
use crate::test_shift::{self, TestShift};
use crate::transcode::{self, Prepared, Target};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How samples are stored in the split files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// Decoded uint8 HWC pixels (needs one shape for the whole split).
    Raw,
    /// Re-encoded JPEG at the given quality.
    Jpeg,
}

impl Store {
    /// Every storage's name, as `--store` takes it.
    pub const NAMES: [&'static str; 2] = ["raw", "jpeg"];
}

impl std::str::FromStr for Store {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "raw" => Ok(Store::Raw),
            "jpeg" => Ok(Store::Jpeg),
            _ => Err(Error::invalid(format!(
                "unknown --store '{s}' ({})",
                Store::NAMES.join(" or ")
            ))),
        }
    }
}

/// Everything `lt-data build` can be asked.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub dataset: String,
    /// Source directory; the recipe's default when `None`.
    pub src: Option<PathBuf>,
    pub out: PathBuf,
    /// Imbalance factor; the recipe's default when `None`.
    pub imbalance: Option<f64>,
    pub seed: u64,
    pub profile: Option<Profile>,
    pub compat: Compat,
    /// Official training list (ImageNet-LT, Places-LT, iNaturalist); replaces the recipe's.
    pub split_file: Option<PathBuf>,
    pub test_file: Option<PathBuf>,
    pub val_file: Option<PathBuf>,
    /// Longest side after resizing, for image sources.
    pub max_side: Option<u32>,
    /// Storage; raw for pixel sources and JPEG for image sources when `None`.
    pub store: Option<Store>,
    pub quality: u8,
    pub skip_bad: bool,
    /// Build from the listed images found when some are missing (counted in the manifest,
    /// listed in `OUT/missing.txt`) instead of stopping before decoding (`crate::missing`).
    pub skip_missing: bool,
    /// Largest image, in pixels, a source image may declare before it is decoded (a
    /// decompression-bomb guard, as PIL's `MAX_IMAGE_PIXELS`).
    pub max_pixels: u64,
    /// Replace `out` even when it holds files lt-data did not write.
    pub force: bool,
    pub progress: bool,
    /// Long-tailed test splits to carve from the balanced test split (`test_shift`), written
    /// as `test-fwd-IF` / `test-bwd-IF`; none when empty.
    pub test_shifts: Vec<TestShift>,
    /// Profile the decoding and writing per stage (read, decode, resize, encode, write).
    pub time_stages: bool,
}

/// PIL's `Image.MAX_IMAGE_PIXELS`: 1024 x 1024 x 1024 / 4 / 3.
pub const DEFAULT_MAX_PIXELS: u64 = 89_478_485;

impl BuildOptions {
    /// Options with the recipe's defaults for `dataset`, written to `out`.
    pub fn new(dataset: &str, out: &Path) -> Self {
        BuildOptions {
            dataset: dataset.to_string(),
            src: None,
            out: out.to_path_buf(),
            imbalance: None,
            seed: 0,
            profile: None,
            compat: Compat::Native,
            split_file: None,
            test_file: None,
            val_file: None,
            max_side: None,
            store: None,
            quality: 90,
            skip_bad: false,
            skip_missing: false,
            max_pixels: DEFAULT_MAX_PIXELS,
            force: false,
            progress: false,
            test_shifts: Vec::new(),
            time_stages: false,
        }
    }
}

/// What a build made, and what it did to leftovers of interrupted builds into the same path.
#[derive(Debug)]
pub struct Built {
    pub manifest: Manifest,
    /// One sentence per leftover recovered or removed (see `output`), and per listed image
    /// skipped as missing.
    pub notes: Vec<String>,
    /// With `time_stages`: the per-stage profile of the decoding and writing
    /// ([`StageTimes::report`]); empty otherwise.
    pub stages: Vec<String>,
}

/// Builds the dataset described by `opts` and returns its manifest.
pub fn build(opts: &BuildOptions) -> Result<Built> {
    plan(opts)?.build()
}

/// A build whose source is read and whose listed images are looked up, before anything is
/// decoded: [`Plan::resolution`] says what was found, [`Plan::build`] goes on. The output path
/// is locked from here on; dropping the plan leaves nothing behind.
pub struct Plan {
    opts: BuildOptions,
    recipe: Recipe,
    src: PathBuf,
    output: Output,
    data: SourceData,
}

/// Reads the recipe and the source of the build `opts` asks for, and locks its output path.
pub fn plan(opts: &BuildOptions) -> Result<Plan> {
    let recipe = recipe::by_name(&opts.dataset)?;
    // The recipe's longer-side limit (ImageNet-LT, Places-LT, iNaturalist: 256) unless given.
    let opts = BuildOptions {
        max_side: opts.max_side.or(recipe.max_side),
        ..opts.clone()
    };
    check_options(&opts)?;
    test_shift::check_requested(&opts.test_shifts)?;
    let src = source_dir(&recipe, &opts)?;
    std::fs::read_dir(&src).map_err(|e| Error::io(&src, e))?;
    let output = Output::prepare(&opts.out, opts.force)?;
    let mut data = read_source(&recipe, &src, &opts)?;
    if let Some(names) = &recipe.class_names {
        if names.len() == data.class_names.len() {
            data.class_names = names.clone();
        }
    }
    Ok(Plan {
        opts,
        recipe,
        src,
        output,
        data,
    })
}

impl Plan {
    /// For list sources, what looking up every listed image found (missing images included).
    pub fn resolution(&self) -> Option<&Resolution> {
        self.data.resolution.as_ref()
    }

    /// Stops on missing images (unless `--skip-missing`), then selects, decodes and writes the
    /// splits and commits the dataset.
    pub fn build(mut self) -> Result<Built> {
        let (opts, data, src) = (&self.opts, &self.data, &self.src);
        let missing = missing::settle(
            data.resolution.as_ref(),
            &self.recipe.name,
            &opts.out,
            self.output.staging(),
            opts.skip_missing,
        )?;
        let k = data.class_names.len();
        if k == 0 || data.train.is_empty() {
            return Err(Error::format(src, "source holds no training images"));
        }
        let imbalance = opts.imbalance.or(self.recipe.imbalance);
        let profile = opts.profile.or(self.recipe.profile);
        // A balanced reference keeps the total of the recipe's long-tailed profile (exp
        // without one).
        let reference = self.recipe.profile.unwrap_or(Profile::Exp);
        let chosen = select_train(data, k, imbalance, (profile, reference), opts)?;
        let (train_idx, profile_used) = (&chosen.indices, chosen.profile);
        let test_missing = missing.get("test").copied().unwrap_or(0);
        let shifts = !opts.test_shifts.is_empty();
        shifts_need_every_test_image(shifts, test_missing, "were not found (--skip-missing)")?;
        let shifted = select_test_shifts(data, k, opts)?;
        let staging = self.output.staging();
        let times = StageTimes::new(transcode::STAGES);
        let started = std::time::Instant::now();
        let (splits, skipped) =
            write_splits(staging, (data, train_idx, &shifted), k, opts, &times)?;
        let stages = match opts.time_stages {
            true => times.report(started.elapsed()),
            false => Vec::new(),
        };
        shifts_need_every_test_image(
            shifts,
            lost_test_images(&splits, &shifted, data.test.len()),
            "failed to decode (--skip-bad)",
        )?;
        let manifest = Manifest {
            profile: profile_used.map(|p| p.name().to_string()),
            imbalance: profile_used.and(imbalance),
            balanced_reference: chosen.balanced,
            ..self.manifest(k, splits, skipped, missing)
        };
        manifest.save(staging)?;
        let mut notes = std::mem::take(&mut self.output.notes);
        notes.extend(skip_note(&manifest, &opts.out));
        let out = opts.out.clone();
        self.output.commit()?;
        notes.extend(missing::remove_stale(&out)?);
        Ok(Built {
            manifest,
            notes,
            stages,
        })
    }

    /// The manifest of the dataset built from this plan, without a profile (the official list
    /// or the source's own distribution); `build` fills in the profile it used.
    fn manifest(
        &self,
        k: usize,
        splits: BTreeMap<String, SplitInfo>,
        skipped: Vec<Skipped>,
        missing_skipped: BTreeMap<String, usize>,
    ) -> Manifest {
        let (recipe, data) = (&self.recipe, &self.data);
        Manifest {
            format_version: crate::format::VERSION,
            created_by: format!("lt-data {}", env!("CARGO_PKG_VERSION")),
            dataset: recipe.name.clone(),
            source_dir: self.src.display().to_string(),
            num_classes: k,
            class_names: data.class_names.clone(),
            profile: None,
            imbalance: None,
            seed: self.opts.seed,
            compat: match self.opts.compat {
                Compat::Native => "native".into(),
                Compat::Ldam => "ldam".into(),
            },
            mean: recipe.mean.clone(),
            std: recipe.std.clone(),
            augment: recipe.augment,
            model: recipe.model.clone(),
            groups: recipe.groups.assign(&splits["train"].counts),
            group_rule: recipe.groups.clone(),
            splits,
            coarse_of_class: data.coarse_of_class.clone(),
            coarse_names: data.coarse_names.clone(),
            source_checksums: data.checksums.iter().cloned().collect(),
            skipped,
            missing_skipped,
            max_side: self.opts.max_side,
            balanced_reference: None,
        }
    }
}

/// How many test images decoding lost (`--skip-bad`): those of the test split, else (which
/// cannot happen, the shifted splits being its images) those of the shifted test splits.
fn lost_test_images(
    splits: &BTreeMap<String, SplitInfo>,
    shifted: &[(String, Vec<usize>)],
    test_len: usize,
) -> usize {
    let lost = |name: &str, want: usize| splits.get(name).map_or(want, |s| want - s.total);
    match lost("test", test_len) {
        0 => shifted.iter().map(|(n, idx)| lost(n, idx.len())).sum(),
        n => n,
    }
}

/// The note of a build that left out missing images (`--skip-missing`): how many per split,
/// and where they are listed.
fn skip_note(m: &Manifest, out: &Path) -> Option<String> {
    if m.missing_skipped.is_empty() {
        return None;
    }
    let per: Vec<String> = m
        .missing_skipped
        .iter()
        .map(|(split, n)| format!("{split} {n}"))
        .collect();
    Some(format!(
        "--skip-missing: left out {} listed images not found under {} ({}); {} lists them",
        m.missing_skipped.values().sum::<usize>(),
        m.source_dir,
        per.join(", "),
        out.join(missing::FILE).display()
    ))
}

/// Refuses option values no recipe can use.
fn check_options(opts: &BuildOptions) -> Result<()> {
    if let Some(f) = opts.imbalance {
        if !f.is_finite() || f < 1.0 {
            return Err(Error::invalid(format!(
                "--imbalance must be a number >= 1, got {f}"
            )));
        }
    }
    if !(1..=100).contains(&opts.quality) {
        return Err(Error::invalid(format!(
            "--quality must be in 1..=100, got {}",
            opts.quality
        )));
    }
    Ok(())
}

/// `--src`, else the recipe's default source directory.
fn source_dir(recipe: &Recipe, opts: &BuildOptions) -> Result<PathBuf> {
    match (&opts.src, &recipe.default_src) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(d)) => Ok(d.clone()),
        (None, None) => Err(Error::invalid(format!(
            "--src is required for dataset '{}'",
            recipe.name
        ))),
    }
}

/// The training samples a build keeps, and how they were chosen.
struct TrainSelection {
    /// Indices into the source's training samples.
    indices: Vec<usize>,
    /// The profile used; `None` when every sample is kept.
    profile: Option<Profile>,
    /// With `Profile::Balanced`: the long-tailed split it is the reference of.
    balanced: Option<split::BalancedReference>,
}

/// The training samples kept: the long-tailed selection when an imbalance factor is set (with
/// `profile`, exp by default; `balanced` keeps the total of `reference`'s split), else every
/// sample (the source's own distribution).
fn select_train(
    data: &SourceData,
    k: usize,
    imbalance: Option<f64>,
    (profile, reference): (Option<Profile>, Profile),
    opts: &BuildOptions,
) -> Result<TrainSelection> {
    let Some(f) = imbalance else {
        if profile == Some(Profile::Balanced) {
            return Err(Error::invalid(format!(
                "--profile balanced needs --imbalance (the long-tailed split it is the reference of); '{}' has no default",
                opts.dataset
            )));
        }
        return Ok(TrainSelection {
            indices: (0..data.train.len()).collect(),
            profile: None,
            balanced: None,
        });
    };
    let profile = profile.unwrap_or(Profile::Exp);
    let labels: Vec<u32> = data.train.iter().map(|s| s.label).collect();
    let mut available = vec![0usize; k];
    for &l in &labels {
        available[l as usize] += 1;
    }
    let (counts, balanced) = match profile {
        Profile::Balanced => {
            let r = split::balanced_reference(reference, &available, f)?;
            (vec![r.per_class; k], Some(r))
        }
        p => (split::class_counts(p, &available, f)?, None),
    };
    Ok(TrainSelection {
        indices: split::select(&labels, k, &counts, opts.seed, opts.compat)?,
        profile: Some(profile),
        balanced,
    })
}

/// (name, indices into the test samples) of every shifted test split asked for.
fn select_test_shifts(
    data: &SourceData,
    k: usize,
    opts: &BuildOptions,
) -> Result<Vec<(String, Vec<usize>)>> {
    if opts.test_shifts.is_empty() {
        return Ok(Vec::new());
    }
    if data.test.is_empty() {
        return Err(Error::invalid(format!(
            "--test-splits: the source of '{}' has no test split to carve them from",
            opts.dataset
        )));
    }
    let labels: Vec<u32> = data.test.iter().map(|s| s.label).collect();
    opts.test_shifts
        .iter()
        .map(|s| Ok((s.name(), s.select(&labels, k, opts.seed, opts.compat)?)))
        .collect()
}

/// A shifted test split (when `shifts` are asked for) is only what its name says if the test
/// split and it lost no image: `lost` test images that `why` (`--skip-missing` or `--skip-bad`
/// may have dropped some).
fn shifts_need_every_test_image(shifts: bool, lost: usize, why: &str) -> Result<()> {
    if !shifts || lost == 0 {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "--test-splits: {lost} test images {why}, so the test split is no longer balanced; the shifted test splits need every test image"
    )))
}

/// The source, the chosen training indices, and the shifted test splits (name, indices).
type Chosen<'a> = (&'a SourceData, &'a [usize], &'a [(String, Vec<usize>)]);

/// Writes the train (the `train_idx` samples), test, shifted test (`shifted`: name and indices
/// into the test samples) and val splits into `dir`, skipping empty ones; their descriptions
/// by name and the images skipped.
fn write_splits(
    dir: &Path,
    (data, train_idx, shifted): Chosen,
    k: usize,
    opts: &BuildOptions,
    times: &StageTimes,
) -> Result<(BTreeMap<String, SplitInfo>, Vec<Skipped>)> {
    let total = train_idx.len()
        + data.test.len()
        + shifted.iter().map(|(_, idx)| idx.len()).sum::<usize>()
        + data.val.as_ref().map_or(0, |v| v.len());
    let bar = progress_bar(total as u64, opts.progress);
    let mut splits = BTreeMap::new();
    let mut skipped = Vec::new();
    let train: Vec<&Sample> = train_idx.iter().map(|&i| &data.train[i]).collect();
    let test: Vec<&Sample> = data.test.iter().collect();
    let val: Option<Vec<&Sample>> = data.val.as_ref().map(|v| v.iter().collect());
    let mut parts = vec![("train", train), ("test", test)];
    for (name, idx) in shifted {
        parts.push((name.as_str(), idx.iter().map(|&i| &data.test[i]).collect()));
    }
    if let Some(v) = val {
        parts.push(("val", v));
    }
    for (name, samples) in parts {
        if samples.is_empty() {
            continue;
        }
        bar.set_prefix(name.to_string());
        let (info, mut bad) = write_split(dir, name, &samples, k as u32, opts, (&bar, times))?;
        skipped.append(&mut bad);
        splits.insert(name.to_string(), info);
    }
    bar.finish_and_clear();
    Ok((splits, skipped))
}

/// Reads the recipe's source with its reader; every label must be one of the recipe's classes.
fn read_source(recipe: &Recipe, src: &Path, opts: &BuildOptions) -> Result<SourceData> {
    // The file given on the command line, else the recipe's under `src`.
    let named = |given: &Option<PathBuf>, default: &Option<PathBuf>| -> Option<PathBuf> {
        given
            .clone()
            .or_else(|| default.as_ref().map(|d| src.join(d)))
    };
    recipe.source.read(&source::Request {
        src,
        recipe: &recipe.name,
        classes: recipe.classes(),
        layout: recipe.layout,
        split_file: opts.split_file.clone(),
        train_list: named(&opts.split_file, &recipe.train_list),
        test_list: named(&opts.test_file, &recipe.test_list),
        val_list: named(&opts.val_file, &recipe.val_list)
            .filter(|p| opts.val_file.is_some() || p.exists()),
        train_json: named(&None, &recipe.train_json),
        test_json: named(&opts.test_file, &recipe.test_json),
    })
}

/// Samples of one split, transcoded in parallel and streamed in input order to
/// `dir/<name>.ltd` as they are ready.
fn write_split(
    dir: &Path,
    name: &str,
    samples: &[&Sample],
    k: u32,
    opts: &BuildOptions,
    progress: (&ProgressBar, &StageTimes),
) -> Result<(SplitInfo, Vec<Skipped>)> {
    let (bar, times) = progress;
    let file = format!("{name}.ltd");
    let path = dir.join(&file);
    let target = match opts.store.unwrap_or(match samples[0].pixels {
        Pixels::File(_) => Store::Jpeg,
        Pixels::Raw { .. } => Store::Raw,
    }) {
        Store::Raw => Target::Raw,
        Store::Jpeg => Target::Jpeg(opts.quality),
    };
    let mut sink = SplitSink::new(&path, name, k, opts.skip_bad);
    let threads = rayon::current_num_threads();
    ordered::map_in_order(
        samples.len(),
        threads,
        8 * threads + 16,
        |i| {
            let ahead = samples.get(i + readahead::IMAGES_AHEAD_PER_THREAD * threads);
            if let Some(Sample {
                pixels: Pixels::File(next),
                ..
            }) = ahead
            {
                readahead::hint(next);
            }
            transcode::prepare(samples[i], target, opts.max_side, opts.max_pixels, times)
        },
        |i, prepared| {
            bar.inc(1);
            times.time(transcode::WRITE, || sink.push(samples[i], prepared))
        },
    )?;
    let (writer, skipped) = sink.finish()?;
    let checksum = writer.finish()?;
    let reader = crate::format::Reader::open(&path)?;
    let (storage, shape) = crate::dataset::describe(reader.layout());
    let info = SplitInfo {
        file,
        total: reader.len(),
        counts: reader.counts().to_vec(),
        checksum: format!("{checksum:08x}"),
        storage: storage.into(),
        shape,
    };
    Ok((info, skipped))
}

/// The writing end of a split: the file is created with the first sample's layout; a sample
/// that failed is skipped (`--skip-bad`) or stops the build.
struct SplitSink<'a> {
    path: &'a Path,
    name: &'a str,
    k: u32,
    skip_bad: bool,
    writer: Option<(Writer, Layout)>,
    skipped: Vec<Skipped>,
}

impl<'a> SplitSink<'a> {
    fn new(path: &'a Path, name: &'a str, k: u32, skip_bad: bool) -> Self {
        SplitSink {
            path,
            name,
            k,
            skip_bad,
            writer: None,
            skipped: Vec::new(),
        }
    }

    fn push(&mut self, s: &Sample, prepared: Result<Prepared>) -> Result<()> {
        let p = match prepared {
            Ok(p) => p,
            Err(e) if self.skip_bad => {
                let path = match &s.pixels {
                    Pixels::File(p) => p.display().to_string(),
                    Pixels::Raw { .. } => String::new(),
                };
                self.skipped.push(Skipped {
                    split: self.name.into(),
                    path,
                    error: e.to_string(),
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if self.writer.is_none() {
            self.writer = Some((Writer::create(self.path, p.layout, self.k)?, p.layout));
        }
        let (writer, layout) = self.writer.as_mut().expect("created above");
        if *layout != p.layout {
            return Err(Error::invalid(format!(
                "{}: raw storage needs one image shape per split, found {:?} and {:?}; use --store jpeg or --max-side",
                source_name(s),
                layout,
                p.layout
            )));
        }
        writer.push(s.label, &p.bytes)
    }

    fn finish(self) -> Result<(Writer, Vec<Skipped>)> {
        let (writer, _) = self.writer.ok_or_else(|| {
            Error::invalid(format!(
                "split '{}': every image failed to decode",
                self.name
            ))
        })?;
        Ok((writer, self.skipped))
    }
}

fn source_name(s: &Sample) -> String {
    match &s.pixels {
        Pixels::File(p) => p.display().to_string(),
        Pixels::Raw { .. } => "source".into(),
    }
}

fn progress_bar(len: u64, visible: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix:>5} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

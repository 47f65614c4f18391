//! The batch loader: a fixed pool of worker threads decodes and augments samples from a
//! memory-mapped split straight into preallocated batch buffers, and hands batches over in
//! order through a bounded prefetch window.
//!
//! - Work is split into chunks of a batch, so all threads fill the same batch in parallel
//!   (low latency to the first batch, no reordering buffer of whole batches).
//! - Buffers come from a [`Pool`] over an [`Allocator`]; a dropped [`Batch`] returns its buffer
//!   to the pool. lt-core plugs in an allocator of pinned-memory tensors this way, without
//!   this crate knowing about tch.
//! - Per-sample randomness is keyed by (seed, epoch, position in the epoch), so output does
//!   not depend on the number of threads or on scheduling.
//! - Dropping the epoch iterator stops and joins its workers.

use crate::augment::{Augment, Dtype, OutSlice, Scratch};
use crate::error::{Error, Result};
use crate::format::Reader;
use crate::rng::streams;
use crate::sampler::Sampler;
use crate::stages::StageTimes;
use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Memory that holds one batch of images.
///
/// Contract: the buffer returned by `bytes_mut` must not move or change length while the
/// storage is alive (workers write through a pointer taken once), and must be 4-byte aligned.
pub trait Storage: Send + 'static {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Lets the allocator's owner get its own type back (e.g. a pinned tensor).
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Hands out batch buffers; called rarely (buffers are recycled).
pub trait Allocator: Send + Sync {
    /// A buffer of exactly `bytes` bytes, 4-byte aligned.
    fn allocate(&self, bytes: usize) -> Result<Box<dyn Storage>>;
}

/// Plain heap memory (a `Vec<f32>`, hence 4-byte aligned).
pub struct HeapAllocator;

struct HeapStorage {
    words: Vec<f32>,
    bytes: usize,
}

impl Storage for HeapStorage {
    fn bytes(&self) -> &[u8] {
        // SAFETY: any initialised f32 memory is valid as bytes; length within the allocation.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.bytes) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; every byte pattern is a valid f32, so writes cannot break it.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.bytes) }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Allocator for HeapAllocator {
    /// Zeroed pages from the allocator (untouched pages cost no memory); a failed allocation is
    /// an error, not an abort.
    fn allocate(&self, bytes: usize) -> Result<Box<dyn Storage>> {
        let words = bytes.div_ceil(4);
        let too_big = || Error::invalid(format!("cannot allocate a batch buffer of {bytes} bytes"));
        let layout = std::alloc::Layout::array::<f32>(words).map_err(|_| too_big())?;
        let words = if words == 0 {
            Vec::new()
        } else {
            // SAFETY: non-zero size; the zeroed memory is valid f32s and is handed to a Vec with
            // the same layout (capacity = length = `words`), which frees it with that layout.
            unsafe {
                let p = std::alloc::alloc_zeroed(layout) as *mut f32;
                if p.is_null() {
                    return Err(too_big());
                }
                Vec::from_raw_parts(p, words, words)
            }
        };
        Ok(Box::new(HeapStorage { words, bytes }))
    }
}

/// Recycles batch buffers of one size across batches and epochs.
pub struct Pool {
    alloc: Arc<dyn Allocator>,
    bytes: usize,
    free: Mutex<Vec<Box<dyn Storage>>>,
    allocated: AtomicUsize,
}

impl Pool {
    fn get(&self) -> Result<Box<dyn Storage>> {
        if let Some(s) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(s);
        }
        let mut s = self.alloc.allocate(self.bytes)?;
        let b = s.bytes_mut();
        if b.len() != self.bytes || !(b.as_ptr() as usize).is_multiple_of(4) {
            return Err(Error::invalid(format!(
                "batch allocator returned {} bytes at alignment {}, need {} bytes 4-byte aligned",
                b.len(),
                1usize << (b.as_ptr() as usize).trailing_zeros().min(12),
                self.bytes
            )));
        }
        self.allocated.fetch_add(1, Ordering::Relaxed);
        Ok(s)
    }
    fn put(&self, s: Box<dyn Storage>) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }
    /// How many buffers the allocator was asked for so far.
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }
}

/// One batch: images (N x C x H x W f32 or N x H x W x C u8), labels, sample indices.
pub struct Batch {
    pub epoch: u64,
    /// Position of the batch within its epoch.
    pub index: usize,
    pub labels: Vec<i64>,
    pub indices: Vec<u32>,
    pub dtype: Dtype,
    /// Image dimensions in the order of `dtype`: [N, C, H, W] or [N, H, W, C].
    pub shape: [usize; 4],
    storage: Option<Box<dyn Storage>>,
    pool: Arc<Pool>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.shape[0]
    }
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }
    /// Image bytes of the `len()` samples (a short last batch uses the start of its buffer).
    pub fn image_bytes(&self) -> &[u8] {
        let n: usize = self.shape.iter().product::<usize>() * self.dtype.elem_bytes();
        &self
            .storage
            .as_ref()
            .expect("storage present until drop")
            .bytes()[..n]
    }
    pub fn images_f32(&self) -> Option<&[f32]> {
        if self.dtype != Dtype::F32Nchw {
            return None;
        }
        // SAFETY: storage is 4-byte aligned (checked by the pool) and was written as f32.
        let (pre, mid, _) = unsafe { self.image_bytes().align_to::<f32>() };
        pre.is_empty().then_some(mid)
    }
    pub fn images_u8(&self) -> Option<&[u8]> {
        (self.dtype == Dtype::U8Nhwc).then(|| self.image_bytes())
    }
    /// The whole buffer (for a pinned tensor, downcast through `as_any`). It is returned to
    /// the pool when the batch drops, so keep the batch alive until any asynchronous copy
    /// out of it has completed.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_deref().expect("storage present until drop")
    }
    pub fn storage_mut(&mut self) -> &mut dyn Storage {
        self.storage
            .as_deref_mut()
            .expect("storage present until drop")
    }
    /// Keeps the buffer instead of recycling it.
    pub fn into_storage(mut self) -> Box<dyn Storage> {
        self.storage.take().expect("storage present until drop")
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(s) = self.storage.take() {
            self.pool.put(s);
        }
    }
}

/// Loader settings.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Worker threads.
    pub threads: usize,
    /// Batches that may be in flight or ready ahead of the consumer.
    pub prefetch: usize,
    /// Drop the last, short batch of an epoch.
    pub drop_last: bool,
    pub aug: Augment,
    /// Keys the per-sample augmentation draws (the sampler has its own seed).
    pub seed: u64,
}

impl LoaderConfig {
    /// Batch 128, one thread per core, prefetch 4, keep the last batch, seed 0.
    pub fn new(aug: Augment) -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        LoaderConfig {
            batch_size: 128,
            threads,
            prefetch: 4,
            drop_last: false,
            aug,
            seed: 0,
        }
    }
}

/// Batches from one split, one epoch at a time.
pub struct Loader {
    reader: Arc<Reader>,
    sampler: Box<dyn Sampler>,
    cfg: LoaderConfig,
    aug: Arc<Augment>,
    pool: Arc<Pool>,
    /// (height, width, channels) of one output image.
    shape: (usize, usize, usize),
    active: Arc<AtomicUsize>,
    /// Where the workers' time goes ([`LOADER_STAGES`]), when asked.
    times: Option<Arc<StageTimes>>,
}

/// The loader's stages: reading a sample's bytes from the mapped file, decoding it (JPEG,
/// PNG), and the augmentation writing it into its batch slot (crop, resize, flip, jitter,
/// normalise: no separate collate, each slot is written in place).
pub const LOADER_STAGES: &[&str] = &["read", "decode", "augment"];

impl Loader {
    pub fn new(
        reader: Arc<Reader>,
        sampler: Box<dyn Sampler>,
        config: LoaderConfig,
        alloc: Arc<dyn Allocator>,
    ) -> Result<Self> {
        if config.batch_size == 0 || config.threads == 0 {
            return Err(Error::invalid(
                "loader needs a batch size and a thread count of at least 1",
            ));
        }
        let shape = config
            .aug
            .out_shape(reader.layout())
            .map_err(|e| Error::format(reader.path(), e.to_string()))?;
        let bytes = [shape.0, shape.1, shape.2, config.aug.dtype().elem_bytes()]
            .iter()
            .try_fold(config.batch_size, |a, &b| a.checked_mul(b))
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "a batch of {} images of {}x{}x{} does not fit in memory",
                    config.batch_size, shape.0, shape.1, shape.2
                ))
            })?;
        let pool = Arc::new(Pool {
            alloc,
            bytes,
            free: Mutex::new(Vec::new()),
            allocated: AtomicUsize::new(0),
        });
        let aug = Arc::new(config.aug.clone());
        Ok(Loader {
            reader,
            sampler,
            cfg: config,
            aug,
            pool,
            shape,
            active: Arc::new(AtomicUsize::new(0)),
            times: None,
        })
    }

    /// From the next epoch on, adds the workers' time per stage ([`LOADER_STAGES`]) to
    /// `times`.
    pub fn time_stages(&mut self, times: Arc<StageTimes>) {
        self.times = Some(times);
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }
    /// (height, width, channels) of one output image.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        self.shape
    }
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
    /// Worker threads currently running (0 once every epoch iterator is dropped).
    pub fn active_workers(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
    pub fn sampler_name(&self) -> &str {
        self.sampler.name()
    }

    /// Starts the workers of epoch `epoch` and returns its batches, in order; a sampler that
    /// cannot give the epoch's indices is the error. An error while loading ends the iteration;
    /// dropping the iterator early stops and joins the workers.
    pub fn epoch(&mut self, epoch: u64) -> Result<EpochIter> {
        let indices = self.sampler.epoch_indices(epoch)?;
        let bs = self.cfg.batch_size;
        let n = indices.len();
        let n_batches = if self.cfg.drop_last {
            n / bs
        } else {
            n.div_ceil(bs)
        };
        let (h, w, c) = self.shape;
        let shared = Arc::new(Shared {
            reader: self.reader.clone(),
            aug: self.aug.clone(),
            pool: self.pool.clone(),
            indices,
            batch_size: bs,
            n_batches,
            chunk: bs.div_ceil(self.cfg.threads).max(1),
            prefetch: self.cfg.prefetch.max(1),
            sample_elems: h * w * c,
            seed: self.cfg.seed,
            epoch,
            times: self.times.clone(),
            state: Mutex::new(State {
                next_unit: 0,
                consumed: 0,
                slots: VecDeque::new(),
                stop: false,
            }),
            work_cv: Condvar::new(),
            ready_cv: Condvar::new(),
        });
        let bad = shared
            .indices
            .iter()
            .position(|&i| i as usize >= self.reader.len());
        let mut it = EpochIter {
            shared: shared.clone(),
            workers: Vec::new(),
            done: false,
            pending_error: None,
            dims: self.shape,
            dtype: self.aug.dtype(),
        };
        if let Some(p) = bad {
            it.pending_error = Some(Error::format(
                self.reader.path(),
                format!(
                    "sampler {} gave index {} at position {p}, but the split has {} samples",
                    self.sampler.name(),
                    shared.indices[p],
                    self.reader.len()
                ),
            ));
            return Ok(it);
        }
        for _ in 0..self.cfg.threads.min(n_batches.max(1)) {
            let s = shared.clone();
            let active = self.active.clone();
            active.fetch_add(1, Ordering::SeqCst);
            it.workers.push(std::thread::spawn(move || {
                worker(&s);
                active.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        Ok(it)
    }
}

struct Shared {
    reader: Arc<Reader>,
    aug: Arc<Augment>,
    pool: Arc<Pool>,
    indices: Vec<u32>,
    batch_size: usize,
    n_batches: usize,
    /// Samples per unit of work.
    chunk: usize,
    prefetch: usize,
    sample_elems: usize,
    seed: u64,
    epoch: u64,
    times: Option<Arc<StageTimes>>,
    state: Mutex<State>,
    work_cv: Condvar,
    ready_cv: Condvar,
}

struct State {
    /// Next unit of work to hand out; unit u is chunk `u % chunks_per_batch` of batch
    /// `u / chunks_per_batch`.
    next_unit: usize,
    /// Batches handed to the consumer so far; `slots[0]` is batch `consumed`.
    consumed: usize,
    slots: VecDeque<Slot>,
    stop: bool,
}

struct Slot {
    storage: Box<dyn Storage>,
    ptr: SendPtr,
    /// Units of this batch not finished yet.
    remaining: usize,
    /// First failure, by sample position.
    error: Option<(usize, Error)>,
}

#[derive(Clone, Copy)]
struct SendPtr(*mut u8);
// SAFETY: the pointer targets a storage buffer owned by a slot that outlives every write;
// workers write disjoint sample ranges, and the mutex orders the writes before the hand-over.
unsafe impl Send for SendPtr {}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn batch_len(&self, b: usize) -> usize {
        self.batch_size
            .min(self.indices.len() - b * self.batch_size)
    }
    fn chunks_in(&self, b: usize) -> usize {
        self.batch_len(b).div_ceil(self.chunk)
    }
    fn units_per_batch(&self) -> usize {
        self.batch_size.div_ceil(self.chunk)
    }
}

fn worker(s: &Shared) {
    let mut scratch = s.aug.scratch();
    let upb = s.units_per_batch();
    loop {
        // Claim a unit of work inside the prefetch window.
        let (b, c, ptr) = {
            let mut st = s.lock();
            loop {
                if st.stop {
                    return;
                }
                let u = st.next_unit;
                let (b, c) = (u / upb, u % upb);
                if b >= s.n_batches {
                    return;
                }
                if c >= s.chunks_in(b) {
                    st.next_unit = (b + 1) * upb; // short last batch has fewer chunks
                    continue;
                }
                if b >= st.consumed + s.prefetch {
                    st = s.work_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
                let slot_i = b - st.consumed;
                if slot_i == st.slots.len() {
                    match s.pool.get() {
                        Ok(mut storage) => {
                            let ptr = SendPtr(storage.bytes_mut().as_mut_ptr());
                            st.slots.push_back(Slot {
                                storage,
                                ptr,
                                remaining: s.chunks_in(b),
                                error: None,
                            });
                        }
                        Err(e) => {
                            // Deliver the allocation failure as this batch's error.
                            st.slots.push_back(Slot {
                                storage: Box::new(HeapStorage {
                                    words: Vec::new(),
                                    bytes: 0,
                                }),
                                ptr: SendPtr(std::ptr::null_mut()),
                                remaining: 0,
                                error: Some((0, e)),
                            });
                            s.ready_cv.notify_all();
                            st.next_unit = (b + 1) * upb;
                            continue;
                        }
                    }
                }
                st.next_unit = u + 1;
                let ptr = st.slots[slot_i].ptr;
                if ptr.0.is_null() {
                    continue;
                }
                break (b, c, ptr);
            }
        };
        let err = fill(s, b, c, ptr, &mut scratch);
        let mut st = s.lock();
        if let Some(slot) = b.checked_sub(st.consumed).and_then(|i| st.slots.get_mut(i)) {
            if let Some((p, e)) = err {
                if slot.error.as_ref().is_none_or(|(q, _)| p < *q) {
                    slot.error = Some((p, e));
                }
            }
            slot.remaining -= 1;
            if slot.remaining == 0 {
                s.ready_cv.notify_all();
            }
        }
    }
}

/// Augments chunk `c` of batch `b` into the batch buffer; returns the first failure.
fn fill(
    s: &Shared,
    b: usize,
    c: usize,
    ptr: SendPtr,
    scratch: &mut Scratch,
) -> Option<(usize, Error)> {
    let start = b * s.batch_size + c * s.chunk;
    let end = (start + s.chunk).min(b * s.batch_size + s.batch_len(b));
    let layout = s.reader.layout();
    let elems = s.sample_elems;
    for pos in start..end {
        let idx = s.indices[pos] as usize;
        let slot = pos - b * s.batch_size;
        let mut rng = streams::augment_sample(s.seed, s.epoch, pos);
        // The clock is read only for a profile (three reads a sample were 2 % of raw CIFAR).
        let clock = || s.times.as_ref().map(|_| std::time::Instant::now());
        let t0 = clock();
        let sample = s.reader.sample(idx);
        if let (Some(t), Some(t0)) = (&s.times, t0) {
            t.add(0, t0.elapsed());
        }
        let (t1, decoded_before) = (clock(), scratch.decode_time);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: slot `slot` of this batch is written by this unit only; the buffer holds
            // batch_size * elems elements of the output type and outlives the call.
            let out = unsafe {
                match s.aug.dtype() {
                    Dtype::F32Nchw => OutSlice::F32(std::slice::from_raw_parts_mut(
                        (ptr.0 as *mut f32).add(slot * elems),
                        elems,
                    )),
                    Dtype::U8Nhwc => OutSlice::U8(std::slice::from_raw_parts_mut(
                        ptr.0.add(slot * elems),
                        elems,
                    )),
                }
            };
            s.aug.apply(sample, layout, &mut rng, scratch, out)
        }));
        if let (Some(t), Some(t1)) = (&s.times, t1) {
            let decoding = scratch.decode_time.saturating_sub(decoded_before);
            t.add(1, decoding);
            t.add(2, t1.elapsed().saturating_sub(decoding));
        }
        let msg = match r {
            Ok(Ok(())) => continue,
            Ok(Err(m)) => m.to_string(),
            Err(_) => "augmentation panicked".to_string(),
        };
        return Some((
            pos,
            Error::format(s.reader.path(), format!("sample {idx}: {msg}")),
        ));
    }
    None
}

/// The batches of one epoch, in order.
pub struct EpochIter {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    done: bool,
    pending_error: Option<Error>,
    dims: (usize, usize, usize),
    dtype: Dtype,
}

impl EpochIter {
    /// Batches this epoch yields when nothing fails.
    pub fn num_batches(&self) -> usize {
        self.shared.n_batches
    }
    /// Samples this epoch visits (before `drop_last`).
    pub fn num_samples(&self) -> usize {
        self.shared.indices.len()
    }

    fn stop(&mut self) {
        self.done = true;
        self.shared.lock().stop = true;
        self.shared.work_cv.notify_all();
        // Join before touching the slots: workers may still be writing into their buffers.
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let mut st = self.shared.lock();
        for slot in st.slots.drain(..) {
            if slot.error.is_none() && !slot.ptr.0.is_null() {
                self.shared.pool.put(slot.storage);
            }
        }
    }
}

impl Iterator for EpochIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if let Some(e) = self.pending_error.take() {
            self.stop();
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        let s = self.shared.clone();
        let mut st = s.lock();
        let b = st.consumed;
        if b >= s.n_batches {
            drop(st);
            self.stop();
            return None;
        }
        while st.slots.front().is_none_or(|f| f.remaining > 0) {
            st = s.ready_cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let slot = st.slots.pop_front().expect("front slot is ready");
        st.consumed += 1;
        drop(st);
        s.work_cv.notify_all();
        if let Some((_, e)) = slot.error {
            self.stop();
            return Some(Err(e));
        }
        let start = b * s.batch_size;
        let n = s.batch_len(b);
        let indices = s.indices[start..start + n].to_vec();
        let labels = indices
            .iter()
            .map(|&i| s.reader.labels()[i as usize] as i64)
            .collect();
        let (h, w, c) = self.dims;
        let shape = match self.dtype {
            Dtype::F32Nchw => [n, c, h, w],
            Dtype::U8Nhwc => [n, h, w, c],
        };
        Some(Ok(Batch {
            epoch: s.epoch,
            index: b,
            labels,
            indices,
            dtype: self.dtype,
            shape,
            storage: Some(slot.storage),
            pool: s.pool.clone(),
        }))
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::{CIFAR10_MEAN, CIFAR10_STD};
    use crate::format::{Encoding, Layout, Writer};
    use crate::sampler::InstanceBalanced;
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn raw_split(dir: &Path, n: usize, h: u32, w: u32) -> Arc<Reader> {
        let p = dir.join("train.ltd");
        let mut wr = Writer::create(
            &p,
            Layout::Raw {
                height: h,
                width: w,
                channels: 3,
            },
            5,
        )
        .unwrap();
        for i in 0..n {
            let px: Vec<u8> = (0..(h * w * 3) as usize)
                .map(|j| ((i * 31 + j * 7) % 256) as u8)
                .collect();
            wr.push((i % 5) as u32, &px).unwrap();
        }
        wr.finish().unwrap();
        Arc::new(Reader::open(&p).unwrap())
    }

    fn jpeg_split(dir: &Path, n: usize, corrupt: Option<usize>) -> Arc<Reader> {
        let p = dir.join("jpeg.ltd");
        let mut wr = Writer::create(&p, Layout::Encoded(Encoding::Jpeg), 3).unwrap();
        for i in 0..n {
            let (w, h) = (60 + i as u32 * 3, 50 + i as u32 * 2);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 4) as u8, (y * 5) as u8, (i * 20) as u8])
            });
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&img)
                .unwrap();
            if corrupt == Some(i) {
                bytes = b"\xff\xd8garbage that is no JPEG".to_vec();
            }
            wr.push((i % 3) as u32, &bytes).unwrap();
        }
        wr.finish().unwrap();
        Arc::new(Reader::open(&p).unwrap())
    }

    fn cfg(aug: Augment, bs: usize, threads: usize) -> LoaderConfig {
        LoaderConfig {
            batch_size: bs,
            threads,
            prefetch: 3,
            drop_last: false,
            aug,
            seed: 11,
        }
    }

    /// All batches of epoch `e` as (indices, labels, image bytes).
    fn collect(r: &Arc<Reader>, c: LoaderConfig, e: u64) -> Vec<(Vec<u32>, Vec<i64>, Vec<u8>)> {
        let sampler = Box::new(InstanceBalanced::new(r.len(), 4));
        let mut l = Loader::new(r.clone(), sampler, c, Arc::new(HeapAllocator)).unwrap();
        let out = l
            .epoch(e)
            .unwrap()
            .map(|b| b.unwrap())
            .map(|b| {
                (
                    b.indices.clone(),
                    b.labels.clone(),
                    b.image_bytes().to_vec(),
                )
            })
            .collect();
        assert_eq!(l.active_workers(), 0);
        out
    }

    /// What the loader must produce, computed sample by sample with `Augment::apply`.
    fn direct(r: &Reader, aug: &Augment, seed: u64, e: u64, order: &[u32]) -> Vec<u8> {
        let mut scratch = aug.scratch();
        let n = aug.sample_elems(r.layout()).unwrap();
        let mut all = Vec::new();
        for (pos, &i) in order.iter().enumerate() {
            let mut rng = streams::augment_sample(seed, e, pos);
            let (mut f, mut u) = (vec![0f32; n], vec![0u8; n]);
            let out = match aug.dtype() {
                Dtype::F32Nchw => OutSlice::F32(&mut f),
                Dtype::U8Nhwc => OutSlice::U8(&mut u),
            };
            aug.apply(
                r.sample(i as usize),
                r.layout(),
                &mut rng,
                &mut scratch,
                out,
            )
            .unwrap();
            match aug.dtype() {
                Dtype::F32Nchw => all.extend(f.iter().flat_map(|x| x.to_ne_bytes())),
                Dtype::U8Nhwc => all.extend(u),
            }
        }
        all
    }

    #[test]
    fn loader_output_equals_augment_applied_directly_for_any_thread_count() {
        let d = tempfile::tempdir().unwrap();
        let r = raw_split(d.path(), 103, 8, 8);
        let aug = Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD);
        let order = InstanceBalanced::new(103, 4).epoch_indices(2).unwrap();
        let want = direct(&r, &aug, 11, 2, &order);
        let mut first = None;
        for threads in [1, 2, 3, 5] {
            let got = collect(&r, cfg(aug.clone(), 16, threads), 2);
            assert_eq!(got.len(), 7, "103 samples in batches of 16");
            assert_eq!(got.last().unwrap().0.len(), 7);
            let idx: Vec<u32> = got.iter().flat_map(|b| b.0.clone()).collect();
            assert_eq!(idx, order, "threads {threads}: batches out of order");
            let labels: Vec<i64> = got.iter().flat_map(|b| b.1.clone()).collect();
            assert_eq!(
                labels,
                order
                    .iter()
                    .map(|&i| r.labels()[i as usize] as i64)
                    .collect::<Vec<_>>()
            );
            let bytes: Vec<u8> = got.iter().flat_map(|b| b.2.clone()).collect();
            assert_eq!(
                bytes, want,
                "threads {threads}: pixels differ from direct augmentation"
            );
            match &first {
                None => first = Some(bytes),
                Some(f) => assert_eq!(f, &bytes),
            }
        }
        // Another epoch draws other crops.
        let other: Vec<u8> = collect(&r, cfg(aug.clone(), 16, 2), 3)
            .iter()
            .flat_map(|b| b.2.clone())
            .collect();
        assert_ne!(other, want);
        // drop_last keeps only full batches.
        let mut c = cfg(aug, 16, 2);
        c.drop_last = true;
        assert_eq!(collect(&r, c, 2).len(), 6);
    }

    #[test]
    fn jpeg_loader_matches_direct_uint8_and_float() {
        let d = tempfile::tempdir().unwrap();
        let r = jpeg_split(d.path(), 12, None);
        let order = InstanceBalanced::new(12, 4).epoch_indices(0).unwrap();
        for aug in [Augment::imagenet(true), Augment::imagenet(false).uint8()] {
            let want = direct(&r, &aug, 11, 0, &order);
            let got = collect(&r, cfg(aug.clone(), 5, 2), 0);
            let bytes: Vec<u8> = got.iter().flat_map(|b| b.2.clone()).collect();
            assert_eq!(bytes, want, "{:?}", aug.output);
        }
        let sampler = Box::new(InstanceBalanced::new(12, 4));
        let mut l = Loader::new(
            r,
            sampler,
            cfg(Augment::imagenet(true).uint8(), 5, 2),
            Arc::new(HeapAllocator),
        )
        .unwrap();
        let b = l.epoch(0).unwrap().next().unwrap().unwrap();
        assert_eq!(b.shape, [5, 224, 224, 3]);
        assert_eq!(b.images_u8().unwrap().len(), 5 * 224 * 224 * 3);
        assert!(b.images_f32().is_none());
    }

    #[test]
    fn corrupt_sample_is_an_error_naming_file_and_index() {
        let d = tempfile::tempdir().unwrap();
        let r = jpeg_split(d.path(), 10, Some(6));
        let sampler = Box::new(InstanceBalanced::new(10, 1));
        let mut l = Loader::new(
            r,
            sampler,
            cfg(Augment::imagenet(true), 4, 2),
            Arc::new(HeapAllocator),
        )
        .unwrap();
        let results: Vec<Result<Batch>> = l.epoch(0).unwrap().collect();
        let err = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("an error")
            .to_string();
        assert!(
            err.contains("jpeg.ltd") && err.contains("sample 6") && err.contains("JPEG"),
            "{err}"
        );
        assert!(
            results.last().unwrap().is_err(),
            "iteration ends at the error"
        );
        assert_eq!(l.active_workers(), 0);
    }

    /// Counts buffers handed out, to check recycling through the pluggable allocator.
    struct Counting(AtomicUsize);
    impl Allocator for Counting {
        fn allocate(&self, bytes: usize) -> Result<Box<dyn Storage>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            HeapAllocator.allocate(bytes)
        }
    }

    #[test]
    fn buffers_are_recycled_and_drop_mid_epoch_stops_workers() {
        let d = tempfile::tempdir().unwrap();
        let r = raw_split(d.path(), 4000, 32, 32);
        let alloc = Arc::new(Counting(AtomicUsize::new(0)));
        let sampler = Box::new(InstanceBalanced::new(r.len(), 0));
        let aug = Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD);
        let mut l = Loader::new(r, sampler, cfg(aug, 10, 3), alloc.clone()).unwrap();
        for e in 0..2 {
            assert_eq!(
                l.epoch(e).unwrap().map(|b| b.unwrap().len()).sum::<usize>(),
                4000
            );
        }
        // 400 batches per epoch, but never more than the prefetch window plus the one held.
        let n = alloc.0.load(Ordering::SeqCst);
        assert!(n <= 3 + 1, "{n} buffers allocated");

        // Take two batches, keep one, drop the iterator: returns promptly, threads joined.
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let t = Instant::now();
            let mut it = l.epoch(5).unwrap();
            let kept = it.next().unwrap().unwrap();
            let _ = it.next().unwrap().unwrap();
            assert!(l.active_workers() > 0 || it.num_batches() == 0);
            drop(it);
            let workers = l.active_workers();
            tx.send((t.elapsed(), workers, kept.len())).unwrap();
        });
        let (took, workers, kept) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("dropping the iterator hung");
        h.join().unwrap();
        assert_eq!(workers, 0, "worker threads still running after drop");
        assert_eq!(kept, 10, "a batch outlives its iterator");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn bad_configuration_and_sampler_indices_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let r = raw_split(d.path(), 20, 4, 4);
        let aug = Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD);
        let s = || Box::new(InstanceBalanced::new(20, 0));
        assert!(Loader::new(
            r.clone(),
            s(),
            cfg(aug.clone(), 0, 1),
            Arc::new(HeapAllocator)
        )
        .is_err());
        let e = Loader::new(
            r.clone(),
            s(),
            cfg(Augment::imagenet(true), 4, 1),
            Arc::new(HeapAllocator),
        );
        assert!(e.is_ok(), "imagenet recipe accepts 3-channel raw splits");
        // A sampler that returns an index past the end.
        struct Bad;
        impl Sampler for Bad {
            fn epoch_indices(&mut self, _: u64) -> Result<Vec<u32>> {
                Ok(vec![0, 1, 99])
            }
            fn name(&self) -> &str {
                "bad"
            }
        }
        let mut l = Loader::new(r, Box::new(Bad), cfg(aug, 4, 2), Arc::new(HeapAllocator)).unwrap();
        let all: Vec<_> = l.epoch(0).unwrap().collect();
        assert_eq!(all.len(), 1);
        let e = all[0].as_ref().err().unwrap().to_string();
        assert!(e.contains("index 99") && e.contains("train.ltd"), "{e}");
    }
}

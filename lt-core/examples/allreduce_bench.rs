//! Cost of one gradient all-reduce over Gloo for ResNet-32 (CIFAR) and ResNet-50 (ImageNet)
//! sized gradient sets.
//!
//! `cargo run --release -p lt-core --example allreduce_bench [-- --world 2 --runs 15]` launches
//! the ranks itself on loopback; under torchrun or srun (RANK / SLURM_PROCID set) it runs as one
//! rank of that job instead. Rank 0 prints the median and minimum milliseconds per all-reduce,
//! for `GradSync::sync` (flat 25 MB buckets, including the copies in and out) and for a bare
//! all-reduce of one flat buffer of the same size.

use std::process::Command;
use std::time::Instant;

use lt_core::dist::{GradSync, ProcessGroup};
use tch::{Device, Kind, Tensor};

type Shapes = Vec<Vec<i64>>;

fn bn(c: i64, out: &mut Shapes) {
    out.push(vec![c]);
    out.push(vec![c]);
}

/// ResNet-32 for CIFAR-10 (3 stages of 5 basic blocks, 16/32/64 channels, parameter-free
/// shortcuts): 464,154 parameters.
fn resnet32_shapes() -> Shapes {
    let mut s = vec![vec![16, 3, 3, 3]];
    bn(16, &mut s);
    let mut inp = 16;
    for planes in [16i64, 32, 64] {
        for _ in 0..5 {
            s.push(vec![planes, inp, 3, 3]);
            bn(planes, &mut s);
            s.push(vec![planes, planes, 3, 3]);
            bn(planes, &mut s);
            inp = planes;
        }
    }
    s.push(vec![10, 64]);
    s.push(vec![10]);
    s
}

/// torchvision's ResNet-50 (bottlenecks [3, 4, 6, 3], 1000 classes): 25,557,032 parameters.
fn resnet50_shapes() -> Shapes {
    let mut s = vec![vec![64, 3, 7, 7]];
    bn(64, &mut s);
    let mut inp = 64;
    for (planes, blocks) in [(64i64, 3), (128, 4), (256, 6), (512, 3)] {
        for b in 0..blocks {
            s.push(vec![planes, inp, 1, 1]);
            bn(planes, &mut s);
            s.push(vec![planes, planes, 3, 3]);
            bn(planes, &mut s);
            s.push(vec![planes * 4, planes, 1, 1]);
            bn(planes * 4, &mut s);
            if b == 0 {
                s.push(vec![planes * 4, inp, 1, 1]);
                bn(planes * 4, &mut s);
            }
            inp = planes * 4;
        }
    }
    s.push(vec![1000, 2048]);
    s.push(vec![1000]);
    s
}

fn numel(shapes: &Shapes) -> i64 {
    shapes.iter().map(|s| s.iter().product::<i64>()).sum()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a positive integer")),
    }
}

fn launch(world: usize, runs: usize) -> Result<(), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot pick a port: {e}"))?
        .port();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = (0..world)
        .map(|r| {
            Command::new(&exe)
                .args(["--runs", &runs.to_string()])
                .env("RANK", r.to_string())
                .env("WORLD_SIZE", world.to_string())
                .env("LOCAL_RANK", r.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .spawn()
                .map_err(|e| format!("cannot start rank {r}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut failed = false;
    for (r, mut c) in children.into_iter().enumerate() {
        let st = c.wait().map_err(|e| e.to_string())?;
        if !st.success() {
            eprintln!("rank {r} exited with {st}");
            failed = true;
        }
    }
    if failed {
        Err("a rank failed".into())
    } else {
        Ok(())
    }
}

fn bench(pg: &ProcessGroup, name: &str, shapes: &Shapes, runs: usize) -> Result<(), String> {
    let err = |e: lt_core::dist::DistError| e.to_string();
    let params: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::zeros(s.as_slice(), (Kind::Float, Device::Cpu)).set_requires_grad(true))
        .collect();
    // Every gradient becomes all ones; after averaging it must still be all ones.
    let loss = params
        .iter()
        .map(|p| p.sum(Kind::Float))
        .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |a, b| a + b);
    loss.backward();
    let mut sync = GradSync::new(pg, &params).map_err(err)?;
    let n = numel(shapes);
    let mut flat = [Tensor::ones([n], (Kind::Float, Device::Cpu))];

    let (mut t_sync, mut t_flat) = (Vec::new(), Vec::new());
    for i in 0..runs + 2 {
        pg.barrier().map_err(err)?;
        let t0 = Instant::now();
        sync.sync(pg).map_err(err)?;
        let d = t0.elapsed().as_secs_f64() * 1e3;
        pg.barrier().map_err(err)?;
        let t0 = Instant::now();
        pg.all_reduce_sum(&mut flat).map_err(err)?;
        let e = t0.elapsed().as_secs_f64() * 1e3;
        if i >= 2 {
            t_sync.push(d);
            t_flat.push(e);
        }
    }
    for p in &params {
        let g = p.grad();
        if g.ne(1.0).any().int64_value(&[]) != 0 {
            return Err(format!("{name}: averaged gradient is not all ones"));
        }
    }
    if pg.is_main() {
        let mb = n as f64 * 4.0 / 1e6;
        println!(
            "{name}: {n} floats ({mb:.1} MB, {} tensors, {} buckets), {} ranks, {runs} runs: \
             GradSync median {:.2} ms (min {:.2}); flat all_reduce median {:.2} ms (min {:.2})",
            shapes.len(),
            sync.num_buckets(),
            pg.world_size(),
            median(&mut t_sync.clone()),
            t_sync.iter().cloned().fold(f64::INFINITY, f64::min),
            median(&mut t_flat.clone()),
            t_flat.iter().cloned().fold(f64::INFINITY, f64::min),
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), String> {
        let runs = arg(&args, "--runs", 15)?.max(1);
        let world = arg(&args, "--world", 2)?.max(1);
        let (r32, r50) = (resnet32_shapes(), resnet50_shapes());
        if numel(&r32) != 464_154 || numel(&r50) != 25_557_032 {
            return Err("parameter shape lists do not match ResNet-32 / ResNet-50".into());
        }
        let Some(pg) = ProcessGroup::from_env(None).map_err(|e| e.to_string())? else {
            return launch(world, runs);
        };
        tch::set_num_threads(1);
        bench(&pg, "ResNet-32", &r32, runs)?;
        bench(&pg, "ResNet-50", &r50, runs)?;
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("allreduce_bench: {e}");
        std::process::exit(1);
    }
}

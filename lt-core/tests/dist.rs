//! Two-process tests of the c10d layer over Gloo on loopback.
//!
//! Each test re-executes this test binary (`--exact <test>`) twice with torchrun's variables
//! (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) plus `LT_DIST_TEST_CHILD`; in a child
//! the same test function plays its rank instead of launching. The parent checks exit codes and
//! what the ranks wrote.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lt_core::dist::{DistError, GradSync, ProcessGroup};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

const CHILD: &str = "LT_DIST_TEST_CHILD";
const DIR: &str = "LT_DIST_TEST_DIR";
/// Exit code of a child whose distributed work returned an error.
const EXIT_DIST_ERROR: i32 = 3;

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A running rank: its process and the threads draining its stdout (line by line, so the parent
/// can react to progress) and stderr.
struct Rank {
    child: Child,
    lines: mpsc::Receiver<String>,
    out: JoinHandle<String>,
    err: JoinHandle<String>,
}

fn spawn_rank(test: &str, rank: usize, world: usize, port: u16, env: &[(&str, String)]) -> Rank {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env_remove("GLOO_SOCKET_IFNAME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn rank");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let out = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Rank {
        child,
        lines,
        out,
        err,
    }
}

/// Waits at most `limit` for the rank to exit (killing it past that) and returns its status,
/// stdout, stderr and how long it took.
fn finish(mut r: Rank, limit: Duration) -> (Option<ExitStatus>, String, String, Duration) {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = r.child.try_wait().unwrap() {
            break Some(s);
        }
        if t0.elapsed() > limit {
            let _ = r.child.kill();
            let _ = r.child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    (status, r.out.join().unwrap(), r.err.join().unwrap(), took)
}

/// Runs both ranks of `test` (with `env`) on a free port and waits for them; each must exit
/// successfully within two minutes. Their standard outputs, by rank.
fn two_ranks_succeed(test: &str, env: &[(&str, String)]) -> Vec<String> {
    let port = free_port();
    let ranks: Vec<Rank> = (0..2).map(|r| spawn_rank(test, r, 2, port, env)).collect();
    ranks
        .into_iter()
        .enumerate()
        .map(|(r, rank)| {
            let (status, out, err, _) = finish(rank, Duration::from_secs(120));
            assert!(
                status.is_some_and(|s| s.success()),
                "rank {r} failed ({status:?}):\n{out}\n{err}"
            );
            out
        })
        .collect()
}

/// Runs `work` as this child's rank; an error becomes a one-line message and exit code 3.
fn run_child(work: impl FnOnce(&ProcessGroup) -> Result<(), DistError>) {
    let pg = match ProcessGroup::from_env(None) {
        Ok(Some(pg)) => pg,
        Ok(None) => panic!("child started without RANK/WORLD_SIZE"),
        Err(e) => {
            eprintln!("ERROR: {e}");
            std::process::exit(EXIT_DIST_ERROR);
        }
    };
    if let Err(e) = work(&pg) {
        eprintln!("ERROR: {e}");
        drop(pg);
        std::process::exit(EXIT_DIST_ERROR);
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// (a) collectives

#[test]
fn collectives_two_ranks() {
    if is_child() {
        run_child(|pg| {
            let r = pg.rank() as f64;
            assert_eq!(pg.world_size(), 2);
            // Different shapes and dtypes in one call.
            let mut ts = [
                Tensor::full([5], r + 1.0, (Kind::Float, Device::Cpu)),
                Tensor::from_slice(&[pg.rank() as i64 * 10, 1]),
                Tensor::arange(6, (Kind::Double, Device::Cpu)).view([2, 3]) + r,
            ];
            pg.all_reduce_sum(&mut ts)?;
            assert_eq!(values(&ts[0]), vec![3.0; 5]);
            assert_eq!(ts[1].kind(), Kind::Int64);
            assert_eq!(values(&ts[1]), vec![10.0, 2.0]);
            assert_eq!(ts[2].size(), [2, 3]);
            assert_eq!(values(&ts[2]), vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);

            // Large enough for Gloo to chunk it.
            let mut big = [Tensor::arange(3_000_000, (Kind::Float, Device::Cpu)) * (r + 1.0)];
            pg.all_reduce_sum(&mut big)?;
            let expect = Tensor::arange(3_000_000, (Kind::Float, Device::Cpu)) * 3.0;
            assert!(big[0].allclose(&expect, 0.0, 0.0, false));

            let mut m = [Tensor::full([3], 4.0 * r, (Kind::Float, Device::Cpu))];
            pg.all_reduce_mean(&mut m)?;
            assert_eq!(values(&m[0]), vec![2.0; 3]);
            // Integer means are refused before any communication.
            let mut i = [Tensor::from_slice(&[1i64])];
            assert!(matches!(
                pg.all_reduce_mean(&mut i),
                Err(DistError::Usage(_))
            ));

            let mut b = [
                Tensor::full([4], 7.0 * r + 1.0, (Kind::Float, Device::Cpu)),
                Tensor::from_slice(&[pg.rank() as i32 + 100]),
            ];
            pg.broadcast(&mut b, 1)?;
            assert_eq!(values(&b[0]), vec![8.0; 4]);
            assert_eq!(values(&b[1]), vec![101.0]);
            pg.broadcast(&mut b[..1], 0)?;
            assert_eq!(values(&b[0]), vec![8.0; 4]);
            assert!(matches!(pg.broadcast(&mut b, 2), Err(DistError::Usage(_))));

            pg.barrier()?;
            println!("rank {} collectives ok", pg.rank());
            Ok(())
        });
        return;
    }
    for (r, out) in two_ranks_succeed("collectives_two_ranks", &[])
        .iter()
        .enumerate()
    {
        assert!(out.contains(&format!("rank {r} collectives ok")), "{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// (b) data-parallel training equals single-process training on the global batch

const STEPS: usize = 5;
const GLOBAL_BATCH: i64 = 16;

fn mlp(vs: &nn::Path) -> impl Module {
    nn::seq()
        .add(nn::linear(vs / "l1", 8, 16, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(vs / "l2", 16, 4, Default::default()))
}

/// A fixed synthetic data set, computed without the random generator.
fn dataset() -> (Tensor, Tensor) {
    let i = Tensor::arange(GLOBAL_BATCH * 8, (Kind::Float, Device::Cpu)).view([GLOBAL_BATCH, 8]);
    let x = (i * 0.37).sin() * 2.0;
    let y = (Tensor::arange(GLOBAL_BATCH, (Kind::Int64, Device::Cpu)) * 7).remainder(4);
    (x, y)
}

/// Trains `STEPS` SGD steps on `(x, y)` from weights seeded by `seed`, averaging gradients
/// through `pg` when given; `after(step, params)` sees the parameters after init (step 0,
/// after the broadcast) and after every step.
fn train(
    seed: i64,
    x: &Tensor,
    y: &Tensor,
    pg: Option<&ProcessGroup>,
    mut after: impl FnMut(usize, &[Tensor]),
) -> Result<(), DistError> {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = mlp(&vs.root());
    let params = vs.trainable_variables();
    let mut sync = match pg {
        Some(pg) => {
            let mut s = GradSync::new(pg, &params)?;
            s.broadcast_parameters(pg)?;
            Some(s)
        }
        None => None,
    };
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.1)
    .unwrap();
    after(0, &params);
    for step in 1..=STEPS {
        opt.zero_grad();
        let loss = model.forward(x).cross_entropy_for_logits(y);
        loss.backward();
        if let (Some(s), Some(pg)) = (sync.as_mut(), pg) {
            s.sync(pg)?;
        }
        opt.step();
        after(step, &params);
    }
    Ok(())
}

fn save(dir: &Path, rank: usize, step: usize, params: &[Tensor]) {
    let named: Vec<(String, Tensor)> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("p{i}"), p.detach().copy()))
        .collect();
    Tensor::save_multi(&named, dir.join(format!("rank{rank}_step{step}.ot"))).unwrap();
}

fn load(dir: &Path, rank: usize, step: usize) -> Vec<Tensor> {
    let mut v = Tensor::load_multi(dir.join(format!("rank{rank}_step{step}.ot"))).unwrap();
    v.sort_by_key(|(n, _)| n[1..].parse::<usize>().unwrap());
    v.into_iter().map(|(_, t)| t).collect()
}

fn max_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

#[test]
fn data_parallel_matches_single_process() {
    if is_child() {
        run_child(|pg| {
            let dir = std::path::PathBuf::from(std::env::var(DIR).unwrap());
            let (x, y) = dataset();
            let half = GLOBAL_BATCH / 2;
            let r = pg.rank();
            let (xs, ys) = (
                x.narrow(0, r as i64 * half, half),
                y.narrow(0, r as i64 * half, half),
            );
            // Each rank starts from different weights: the broadcast must make them equal.
            train(100 + r as i64, &xs, &ys, Some(pg), |step, p| {
                save(&dir, r, step, p)
            })?;
            println!("rank {r} trained");
            Ok(())
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = [(DIR, dir.path().display().to_string())];
    two_ranks_succeed("data_parallel_matches_single_process", &env);

    // Single process, whole global batch, rank 0's initial weights.
    let (x, y) = dataset();
    let mut reference = Vec::new();
    train(100, &x, &y, None, |_, p| {
        reference.push(p.iter().map(|t| t.detach().copy()).collect::<Vec<_>>())
    })
    .unwrap();
    // Rank 0 alone on its half batch: what training without gradient averaging would give.
    let mut local_only = Vec::new();
    train(100, &x.narrow(0, 0, 8), &y.narrow(0, 0, 8), None, |_, p| {
        local_only.push(p.iter().map(|t| t.detach().copy()).collect::<Vec<_>>())
    })
    .unwrap();

    assert_eq!(reference.len(), STEPS + 1);
    for (step, expected) in reference.iter().enumerate() {
        let r0 = load(dir.path(), 0, step);
        let r1 = load(dir.path(), 1, step);
        assert_eq!(max_diff(&r0, &r1), 0.0, "ranks differ after step {step}");
        let d = max_diff(&r0, expected);
        assert!(
            d < 1e-5,
            "step {step}: data-parallel vs single process differ by {d}"
        );
    }
    // The check has teeth: training moved the weights, and averaging changed the result.
    assert!(max_diff(&reference[STEPS], &reference[0]) > 1e-2);
    let d = max_diff(&load(dir.path(), 0, STEPS), &local_only[STEPS]);
    assert!(d > 1e-4, "gradient averaging had no effect ({d})");
}

// ---------------------------------------------------------------------------------------------
// (c) a dead, stalled or missing peer gives a clear error within the timeout

const SHORT_TIMEOUT_S: u64 = 5;
const READY: &str = "LT_DIST_TEST_READY";

/// Child body for the failure tests: rank 1 does `ok_steps` all-reduces, says [`READY`], then
/// either stalls (sleeps) or is killed by the parent; rank 0 keeps all-reducing until it fails.
fn failing_peer_child(pg: &ProcessGroup) -> Result<(), DistError> {
    let ok_steps = 3;
    let mut t = [Tensor::ones([1000], (Kind::Float, Device::Cpu))];
    if pg.rank() == 1 {
        for _ in 0..ok_steps {
            pg.all_reduce_sum(&mut t)?;
        }
        println!("{READY}");
        std::thread::sleep(Duration::from_secs(120));
        return Ok(());
    }
    for step in 0.. {
        pg.all_reduce_sum(&mut t)?;
        if step >= ok_steps {
            // Should not get here: rank 1 stopped taking part.
            println!("unexpected step {step}");
        }
    }
    Ok(())
}

/// Spawns both ranks, waits for rank 1's "ready", optionally kills it, and checks that rank 0
/// exits with a clear error within the timeout.
fn check_peer_failure(test: &str, kill: bool) {
    let port = free_port();
    let env = [("LT_DIST_TIMEOUT", SHORT_TIMEOUT_S.to_string())];
    let r0 = spawn_rank(test, 0, 2, port, &env);
    let mut r1 = spawn_rank(test, 1, 2, port, &env);
    // The test harness prints its own text first, on the same line too.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match r1.lines.recv_timeout(left) {
            Ok(line) if line.contains(READY) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = r1.child.kill();
                let (_, o0, e0, _) = finish(r0, Duration::from_secs(1));
                let (_, o1, e1, _) = finish(r1, Duration::from_secs(1));
                panic!("rank 1 never got ready ({e}):\n{o0}\n{e0}\n{o1}\n{e1}")
            }
        }
    }
    if kill {
        r1.child.kill().unwrap();
    }
    let limit = Duration::from_secs(SHORT_TIMEOUT_S + 25);
    let (status, out, err, took) = finish(r0, limit);
    let _ = r1.child.kill();
    let _ = finish(r1, Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("rank 0 hung past {limit:?}:\n{out}\n{err}"));
    assert_eq!(status.code(), Some(EXIT_DIST_ERROR), "{out}\n{err}");
    assert!(
        err.contains("ERROR: c10d: rank 0 of 2: all_reduce failed (timeout 5 s): "),
        "unclear error:\n{err}"
    );
    assert!(!out.contains("unexpected step"), "{out}");
    assert!(
        took <= Duration::from_secs(SHORT_TIMEOUT_S + 10),
        "rank 0 took {took:?} to fail"
    );
    eprintln!("rank 0 failed after {took:?} with: {}", err.trim());
}

/// A test in which rank 1 dies (`kill: true`) or stalls (`kill: false`) before the second
/// collective, and rank 0 must fail in time with a clear error ([`check_peer_failure`]).
macro_rules! peer_failure_test {
    ($name:ident, kill: $kill:expr) => {
        #[test]
        fn $name() {
            if is_child() {
                run_child(failing_peer_child);
                return;
            }
            check_peer_failure(stringify!($name), $kill);
        }
    };
}

peer_failure_test!(killed_peer_fails_fast, kill: true);
peer_failure_test!(stalled_peer_times_out, kill: false);

#[test]
fn missing_peer_fails_rendezvous() {
    if is_child() {
        run_child(|_| panic!("rendezvous should not succeed without rank 1"));
        return;
    }
    let env = [("LT_DIST_TIMEOUT", "3".to_string())];
    let r0 = spawn_rank("missing_peer_fails_rendezvous", 0, 2, free_port(), &env);
    let (status, out, err, took) = finish(r0, Duration::from_secs(30));
    let status = status.unwrap_or_else(|| panic!("rank 0 hung:\n{out}\n{err}"));
    assert_eq!(status.code(), Some(EXIT_DIST_ERROR), "{out}\n{err}");
    assert!(
        err.contains("ERROR: c10d: rank 0 of 2: rendezvous at 127.0.0.1:"),
        "unclear error:\n{err}"
    );
    eprintln!("rank 0 failed after {took:?} with: {}", err.trim());
    assert!(
        took >= Duration::from_secs(2),
        "gave up too early ({took:?})"
    );
    assert!(took <= Duration::from_secs(15), "took {took:?}");
}

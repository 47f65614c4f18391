//! Where this process sits in a distributed job, read from the launcher's environment:
//! torchrun's `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`, or SLURM's
//! `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID` and node list.

use super::{expand_nodelist, DistError, Result};
use std::time::Duration;

/// Timeout when neither the caller nor `LT_DIST_TIMEOUT` gives one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Port of the rendezvous store when `MASTER_PORT` is unset (torch's default too).
pub const DEFAULT_MASTER_PORT: u16 = 29500;
/// Where this process sits in the job, read from the launcher's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistConfig {
    pub rank: usize,
    pub world_size: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    pub timeout: Duration,
}

/// (rank, world size, local rank, master address) as a launcher gives them.
type Place = (usize, usize, usize, String);

/// Looks an environment variable up, trimmed; `None` when unset or blank.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl DistConfig {
    /// Reads torchrun's or SLURM's variables from the process environment; `Ok(None)` when the
    /// process was not started by a distributed launcher (or SLURM runs a single task).
    pub fn from_env(timeout: Option<Duration>) -> Result<Option<DistConfig>> {
        Self::from_lookup(|k| std::env::var(k).ok(), timeout)
    }

    /// As [`DistConfig::from_env`], with the variables looked up through `get` (for tests and
    /// for callers that carry their own environment).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        timeout: Option<Duration>,
    ) -> Result<Option<DistConfig>> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let timeout = match timeout {
            Some(t) => t,
            None => match get("LT_DIST_TIMEOUT") {
                Some(v) => parse_timeout(&v)?,
                None => DEFAULT_TIMEOUT,
            },
        };
        let master_port =
            match get("MASTER_PORT") {
                Some(v) => v.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                    DistError::Env(format!("MASTER_PORT={v} is not a port number"))
                })?,
                None => DEFAULT_MASTER_PORT,
            };
        let place = if let Some(rank) = get("RANK") {
            Some(torchrun(&rank, &get)?)
        } else if let Some(procid) = get("SLURM_PROCID") {
            slurm(&procid, &get)?
        } else {
            None
        };
        let Some((rank, world_size, local_rank, master_addr)) = place else {
            return Ok(None);
        };
        if world_size == 0 || rank >= world_size {
            return Err(DistError::Env(format!(
                "rank {rank} is outside the world size {world_size}"
            )));
        }
        Ok(Some(DistConfig {
            rank,
            world_size,
            local_rank,
            master_addr,
            master_port,
            timeout,
        }))
    }
}

/// torchrun's variables, `RANK` being set.
fn torchrun(rank: &str, get: Lookup) -> Result<Place> {
    let rank = parse_count("RANK", rank)?;
    let world = get("WORLD_SIZE")
        .ok_or_else(|| DistError::Env("RANK is set but WORLD_SIZE is not".into()))?;
    let world = parse_count("WORLD_SIZE", &world)?;
    let local = match get("LOCAL_RANK") {
        Some(v) => parse_count("LOCAL_RANK", &v)?,
        None => 0,
    };
    let addr = get("MASTER_ADDR")
        .ok_or_else(|| DistError::Env("RANK is set but MASTER_ADDR is not".into()))?;
    Ok((rank, world, local, addr))
}

/// SLURM's variables, `SLURM_PROCID` being set; `None` for a single-task allocation.
fn slurm(procid: &str, get: Lookup) -> Result<Option<Place>> {
    let rank = parse_count("SLURM_PROCID", procid)?;
    let world = match get("SLURM_NTASKS").or_else(|| get("SLURM_NPROCS")) {
        Some(v) => parse_count("SLURM_NTASKS", &v)?,
        None => return Ok(None),
    };
    if world <= 1 {
        // A single-task allocation (salloc, plain sbatch) is not a distributed run.
        return Ok(None);
    }
    let local = match get("SLURM_LOCALID") {
        Some(v) => parse_count("SLURM_LOCALID", &v)?,
        None => 0,
    };
    let addr = match get("MASTER_ADDR") {
        Some(a) => a,
        None => first_node(get)?,
    };
    Ok(Some((rank, world, local, addr)))
}

/// The first host of the SLURM node list: the rendezvous host when `MASTER_ADDR` is unset.
fn first_node(get: Lookup) -> Result<String> {
    let (var, list) = [
        "SLURM_STEP_NODELIST",
        "SLURM_JOB_NODELIST",
        "SLURM_NODELIST",
    ]
    .iter()
    .find_map(|k| get(k).map(|v| (*k, v)))
    .ok_or_else(|| {
        DistError::Env(
            "SLURM_PROCID is set but neither MASTER_ADDR nor a SLURM node \
                 list (SLURM_JOB_NODELIST) is"
                .into(),
        )
    })?;
    let hosts = expand_nodelist(&list).map_err(|e| DistError::Env(format!("{var}={list}: {e}")))?;
    hosts
        .into_iter()
        .next()
        .ok_or_else(|| DistError::Env(format!("{var}={list}: the node list is empty")))
}

fn parse_count(var: &str, v: &str) -> Result<usize> {
    v.parse::<usize>()
        .map_err(|_| DistError::Env(format!("{var}={v} is not a non-negative integer")))
}

fn parse_timeout(v: &str) -> Result<Duration> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            DistError::Env(format!(
                "LT_DIST_TIMEOUT={v} is not a positive number of seconds"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Option<DistConfig>> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DistConfig::from_lookup(|k| m.get(k).cloned(), None)
    }

    #[test]
    fn torchrun_env() {
        let c = cfg(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.2"),
            ("MASTER_PORT", "1234"),
            ("LT_DIST_TIMEOUT", "7.5"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            DistConfig {
                rank: 3,
                world_size: 8,
                local_rank: 1,
                master_addr: "10.0.0.2".into(),
                master_port: 1234,
                timeout: Duration::from_millis(7500),
            }
        );
        assert!(cfg(&[]).unwrap().is_none());
        let e = cfg(&[("RANK", "0"), ("WORLD_SIZE", "2")]).unwrap_err();
        assert!(e.to_string().contains("MASTER_ADDR"), "{e}");
        let e = cfg(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let e = cfg(&[("RANK", "x"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]).unwrap_err();
        assert!(e.to_string().contains("RANK=x"), "{e}");
        let e = cfg(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("LT_DIST_TIMEOUT", "-1"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("LT_DIST_TIMEOUT"), "{e}");
    }

    #[test]
    fn slurm_env() {
        let c = cfg(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[03-04],cpu1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.rank, c.world_size, c.local_rank), (5, 8, 1));
        assert_eq!(c.master_addr, "gpu03");
        assert_eq!(c.master_port, DEFAULT_MASTER_PORT);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        // torchrun's variables win over SLURM's (torchrun inside an srun step).
        let c = cfg(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_NODELIST", "n1"),
            ("RANK", "1"),
            ("WORLD_SIZE", "4"),
            ("MASTER_ADDR", "m"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.rank, c.world_size, c.master_addr.as_str()), (1, 4, "m"));
        assert!(cfg(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")])
            .unwrap()
            .is_none());
        let e = cfg(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]).unwrap_err();
        assert!(e.to_string().contains("node list"), "{e}");
    }
}

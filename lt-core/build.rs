//! Builds the C++ shim over libtorch's c10d (csrc/) against the same libtorch that tch links.
//!
//! libtorch is located exactly the way torch-sys does it, so both always agree: with
//! `LIBTORCH_USE_PYTORCH` set, ask the active Python's torch for its include dirs, lib dir and
//! C++ ABI; otherwise use `LIBTORCH` (or `LIBTORCH_INCLUDE` / `LIBTORCH_LIB`), falling back to a
//! system install in /usr. Gloo support needs gloo's headers, which the PyPI wheel lacks
//! (Debian's libgloo-dev has them; `GLOO_INCLUDE` overrides); NCCL support is compiled when the
//! libtorch has libtorch_cuda plus ProcessGroupNCCL.hpp and nccl.h / cuda_runtime_api.h can be
//! found. A backend that could not be compiled reports a clear error at run time instead of
//! breaking the build of the whole workspace.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PY_TORCH_DETAILS: &str = r"
import torch
from torch.utils import cpp_extension
print('LIBTORCH_CXX11:', torch._C._GLIBCXX_USE_CXX11_ABI)
for p in cpp_extension.include_paths():
  print('LIBTORCH_INCLUDE:', p)
for p in cpp_extension.library_paths():
  print('LIBTORCH_LIB:', p)
";

struct Torch {
    includes: Vec<PathBuf>,
    lib_dir: PathBuf,
    cxx11_abi: String,
}

fn env_rerun(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok()
}

fn locate_torch() -> Result<Torch, String> {
    if env_rerun("LIBTORCH_USE_PYTORCH").is_some() {
        let python = if env::var_os("VIRTUAL_ENV").is_some() {
            "python"
        } else {
            "python3"
        };
        let out = Command::new(python)
            .arg("-c")
            .arg(PY_TORCH_DETAILS)
            .output()
            .map_err(|e| format!("cannot run {python} to locate torch: {e}"))?;
        let mut includes = Vec::new();
        let mut lib_dir = None;
        let mut abi = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(v) = line.strip_prefix("LIBTORCH_CXX11: ") {
                abi = Some(if v == "True" { "1" } else { "0" }.to_string());
            } else if let Some(p) = line.strip_prefix("LIBTORCH_INCLUDE: ") {
                includes.push(PathBuf::from(p));
            } else if let Some(p) = line.strip_prefix("LIBTORCH_LIB: ") {
                lib_dir = Some(PathBuf::from(p));
            }
        }
        match (abi, lib_dir) {
            (Some(cxx11_abi), Some(lib_dir)) => Ok(Torch {
                includes,
                lib_dir,
                cxx11_abi,
            }),
            _ => Err(format!(
                "{python} did not report torch's paths (is torch installed in the active venv?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    } else {
        let root = match env_rerun("LIBTORCH") {
            Some(p) => PathBuf::from(p),
            None if Path::new("/usr/lib/libtorch.so").exists() => PathBuf::from("/usr"),
            None => {
                return Err("cannot find libtorch: set LIBTORCH_USE_PYTORCH=1 or LIBTORCH".into())
            }
        };
        let inc = env_rerun("LIBTORCH_INCLUDE").map_or_else(|| root.clone(), PathBuf::from);
        let lib = env_rerun("LIBTORCH_LIB").map_or_else(|| root.clone(), PathBuf::from);
        Ok(Torch {
            includes: vec![
                inc.join("include"),
                inc.join("include/torch/csrc/api/include"),
            ],
            lib_dir: lib.join("lib"),
            cxx11_abi: env_rerun("LIBTORCH_CXX11_ABI").unwrap_or_else(|| "1".into()),
        })
    }
}

/// gcc searches these anyway; passing them as -I breaks libstdc++'s `#include_next`.
fn is_system_dir(d: &Path) -> bool {
    d == Path::new("/usr/include") || d == Path::new("/usr/local/include")
}

/// First directory of `dirs` that holds `rel`.
fn find_header(dirs: &[PathBuf], rel: &str) -> Option<PathBuf> {
    dirs.iter().find(|d| d.join(rel).exists()).cloned()
}

fn main() {
    println!("cargo:rerun-if-changed=csrc");
    let torch = match locate_torch() {
        Ok(t) => t,
        Err(e) => panic!("lt-core build: {e}"),
    };

    let mut gloo_dirs: Vec<PathBuf> = Vec::new();
    if let Some(p) = env_rerun("GLOO_INCLUDE") {
        gloo_dirs.push(PathBuf::from(p));
    }
    gloo_dirs.extend(torch.includes.iter().cloned());
    gloo_dirs.push("/usr/local/include".into());
    gloo_dirs.push("/usr/include".into());
    let gloo_inc = find_header(&gloo_dirs, "gloo/algorithm.h");

    // NCCL: the wheel's nvidia-* packages sit next to torch (site-packages/nvidia/*/include).
    let c10d_dir = find_header(
        &torch.includes,
        "torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp",
    );
    // The wheel's nvidia-cu13 package has cuda_runtime_api.h but not crt/ nor CCCL's nv/target,
    // which ATen's CUDA headers need, so a full CUDA toolkit (CUDA_HOME) is usually required.
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(list) = env_rerun("LT_CUDA_INCLUDE") {
        roots.extend(env::split_paths(&list));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(p) = env_rerun(var) {
            roots.push(Path::new(&p).join("include"));
        }
    }
    if let Some(site) = torch.lib_dir.parent().and_then(Path::parent) {
        if let Ok(rd) = std::fs::read_dir(site.join("nvidia")) {
            let mut pkgs: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("include")).collect();
            pkgs.sort();
            roots.extend(pkgs);
        }
    }
    roots.push("/usr/local/cuda/include".into());
    roots.push("/usr/include".into());
    let cuda_dirs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| [r.clone(), r.join("cccl")])
        .collect();
    let mut nccl_includes: Vec<PathBuf> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for header in [
        "nccl.h",
        "cuda_runtime_api.h",
        "crt/host_config.h",
        "nv/target",
    ] {
        match find_header(&cuda_dirs, header) {
            Some(d) if !nccl_includes.contains(&d) && !is_system_dir(&d) => nccl_includes.push(d),
            Some(_) => {}
            None => missing.push(header),
        }
    }
    let has_torch_cuda = torch.lib_dir.join("libtorch_cuda.so").exists();
    let use_nccl = env_rerun("LT_DIST_NO_NCCL").is_none()
        && has_torch_cuda
        && c10d_dir.is_some()
        && missing.is_empty();
    // No warning when NCCL is left out: that is the normal case on CPU-only machines, and the
    // run-time error for CUDA tensors says what was missing at build time.

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .includes(&torch.includes)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", torch.cxx11_abi))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/lt_dist.cpp");
    match &gloo_inc {
        Some(dir) => {
            // After torch's own dirs, so a libtorch that ships gloo headers wins.
            if !is_system_dir(dir) {
                build.include(dir);
            }
            build.define("USE_C10D_GLOO", None);
        }
        None => println!(
            "cargo:warning=gloo headers not found (install libgloo-dev or set GLOO_INCLUDE): \
             lt-core's ProcessGroup will report that Gloo is unavailable"
        ),
    }
    if use_nccl {
        build
            .includes(&nccl_includes)
            .define("USE_C10D_NCCL", None)
            .define("USE_CUDA", None)
            .define("LT_DIST_HAVE_NCCL", None)
            .file("csrc/lt_dist_nccl.cpp");
    }
    build.compile("lt_dist");

    println!("cargo:rustc-link-search=native={}", torch.lib_dir.display());
    if use_nccl {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

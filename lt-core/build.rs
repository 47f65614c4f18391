//! Builds the C++ shim (csrc/) against the same libtorch that tch links.
//!
//! libtorch is located exactly the way torch-sys does it, so both always agree: with
//! `LIBTORCH_USE_PYTORCH` set, ask the active Python's torch for its include dirs, lib dir and
//! C++ ABI; otherwise use `LIBTORCH` (or `LIBTORCH_INCLUDE` / `LIBTORCH_LIB`), falling back to a
//! system install in /usr.
//!
//! What gets compiled:
//! - always `lt_dist.cpp` (c10d), `lt_env.cpp` (what `lt-train env` reports) and, when present,
//!   `lt_ops.cpp` (ATen operations tch does not bind);
//! - Gloo support when gloo's headers are found (the PyPI wheel lacks them; Debian's
//!   libgloo-dev has them; `GLOO_INCLUDE` overrides);
//! - with a CUDA libtorch (it has libtorch_cuda) whose CUDA headers are found (`CudaBuild`):
//!   every file with `LT_HAVE_CUDA`, plus `lt_cuda.cpp` when present, linking torch_cuda and
//!   c10_cuda. The CUDA wheel's nvidia-* packages (site-packages/nvidia/*/include) hold them
//!   once scripts/setup.sh has added nvidia-cuda-crt and nvidia-cuda-cccl; no CUDA toolkit or
//!   GPU is needed;
//! - NCCL support (`lt_dist_nccl.cpp`) with `CudaBuild` plus nccl.h (the wheel's nvidia-nccl)
//!   and c10d's ProcessGroupNCCL.hpp; `LT_DIST_NO_NCCL` leaves it out.
//!
//! A backend that could not be compiled reports a clear error at run time instead of breaking
//! the build of the whole workspace.

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

/// Headers ATen's CUDA headers (and so c10d's NCCL and csrc/lt_cuda.cpp) include.
const CUDA_HEADERS: [&str; 3] = ["cuda_runtime_api.h", "crt/host_config.h", "nv/target"];

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

/// A CUDA libtorch and the include dirs that provide [`CUDA_HEADERS`]. When present, csrc is
/// compiled with `LT_HAVE_CUDA` and links libtorch's CUDA part; it is the one condition for both
/// NCCL and lt_cuda.cpp.
struct CudaBuild {
    includes: Vec<PathBuf>,
}

/// Directories that may hold CUDA / NCCL headers, best first, each followed by its `cccl/`
/// (where CUDA 13 puts CCCL's nv/, cuda/, cub/, thrust/). The wheel's own nvidia-* packages come
/// before a CUDA toolkit: they are the versions libtorch was built with. Watches the wheel's
/// nvidia/ (about 2,000 files), so headers installed after a build (scripts/setup.sh) are seen.
fn cuda_search_dirs(torch: &Torch) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(list) = env_rerun("LT_CUDA_INCLUDE") {
        roots.extend(env::split_paths(&list));
    }
    // torch/lib -> site-packages/nvidia/*/include
    if let Some(site) = torch.lib_dir.parent().and_then(Path::parent) {
        let nvidia = site.join("nvidia");
        if let Ok(rd) = std::fs::read_dir(&nvidia) {
            println!("cargo:rerun-if-changed={}", nvidia.display());
            let mut pkgs: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("include")).collect();
            pkgs.sort();
            roots.extend(pkgs);
        }
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(p) = env_rerun(var) {
            roots.push(Path::new(&p).join("include"));
        }
    }
    roots.push("/usr/local/cuda/include".into());
    roots.push("/usr/include".into());
    roots
        .iter()
        .flat_map(|r| [r.clone(), r.join("cccl")])
        .collect()
}

/// The include dirs (system dirs left out) that provide every one of `headers`, or the headers
/// none of `dirs` has.
fn include_dirs_for<'a>(
    dirs: &[PathBuf],
    headers: &[&'a str],
) -> Result<Vec<PathBuf>, Vec<&'a str>> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for &header in headers {
        match find_header(dirs, header) {
            Some(d) if !found.contains(&d) && !is_system_dir(&d) => found.push(d),
            Some(_) => {}
            None => missing.push(header),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

/// `Some` when libtorch has its CUDA part and [`CUDA_HEADERS`] are found. A CUDA libtorch
/// without them gets a warning: the binaries would then have neither CUDA nor NCCL.
fn detect_cuda(torch: &Torch, search: &[PathBuf]) -> Option<CudaBuild> {
    if !torch.lib_dir.join("libtorch_cuda.so").exists() {
        return None;
    }
    match include_dirs_for(search, &CUDA_HEADERS) {
        Ok(includes) => Some(CudaBuild { includes }),
        Err(missing) => {
            println!(
                "cargo:warning=libtorch has CUDA but {} not found (scripts/setup.sh installs \
                 nvidia-cuda-crt and nvidia-cuda-cccl into the venv; or set LT_CUDA_INCLUDE or \
                 CUDA_HOME): lt-core is built without CUDA and NCCL",
                missing.join(", ")
            );
            None
        }
    }
}

/// Include dirs for NCCL (nccl.h) when it can be compiled: `cuda` is present, c10d has
/// ProcessGroupNCCL.hpp and `LT_DIST_NO_NCCL` is unset.
fn detect_nccl(
    torch: &Torch,
    search: &[PathBuf],
    cuda: Option<&CudaBuild>,
) -> Option<Vec<PathBuf>> {
    let disabled = env_rerun("LT_DIST_NO_NCCL").is_some();
    if cuda.is_none() || disabled {
        return None;
    }
    find_header(
        &torch.includes,
        "torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp",
    )?;
    match include_dirs_for(search, &["nccl.h"]) {
        Ok(dirs) => Some(dirs),
        Err(_) => {
            println!("cargo:warning=nccl.h not found: lt-core is built without NCCL");
            None
        }
    }
}

/// The dir holding gloo's headers, after `GLOO_INCLUDE` and torch's own include dirs.
fn detect_gloo(torch: &Torch) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(p) = env_rerun("GLOO_INCLUDE") {
        dirs.push(PathBuf::from(p));
    }
    dirs.extend(torch.includes.iter().cloned());
    dirs.push("/usr/local/include".into());
    dirs.push("/usr/include".into());
    let found = find_header(&dirs, "gloo/algorithm.h");
    if found.is_none() {
        println!(
            "cargo:warning=gloo headers not found (install libgloo-dev or set GLOO_INCLUDE): \
             lt-core's ProcessGroup will report that Gloo is unavailable"
        );
    }
    found
}

/// Compiles csrc/ into one static library, `lt_shim`.
fn compile_shim(
    torch: &Torch,
    gloo: Option<&Path>,
    cuda: Option<&CudaBuild>,
    nccl: Option<&[PathBuf]>,
) {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .includes(&torch.includes)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", torch.cxx11_abi))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/lt_dist.cpp")
        .file("csrc/lt_env.cpp");
    if Path::new("csrc/lt_ops.cpp").exists() {
        build.file("csrc/lt_ops.cpp");
    }
    if let Some(dir) = gloo {
        // After torch's own dirs, so a libtorch that ships gloo headers wins.
        if !is_system_dir(dir) {
            build.include(dir);
        }
        build.define("USE_C10D_GLOO", None);
    }
    if let Some(cuda) = cuda {
        build
            .includes(&cuda.includes)
            .define("USE_CUDA", None)
            .define("LT_HAVE_CUDA", None);
        if Path::new("csrc/lt_cuda.cpp").exists() {
            build.file("csrc/lt_cuda.cpp");
            println!("cargo:rustc-cfg=lt_have_cuda");
        }
    }
    if let Some(dirs) = nccl {
        build
            .includes(dirs)
            .define("USE_C10D_NCCL", None)
            .define("LT_DIST_HAVE_NCCL", None)
            .file("csrc/lt_dist_nccl.cpp");
    }
    build.compile("lt_shim");
}

/// libtorch's libraries the shim calls into; with CUDA also its CUDA part (which registers
/// ATen's CUDA hooks when loaded).
fn link_torch(torch: &Torch, cuda: bool) {
    println!("cargo:rustc-link-search=native={}", torch.lib_dir.display());
    if cuda {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

/// The version of `krate` in the workspace's Cargo.lock, for `lt-train env`.
fn locked_version(krate: &str) -> Option<String> {
    let lock = Path::new(&env::var_os("CARGO_MANIFEST_DIR")?).join("../Cargo.lock");
    if !lock.exists() {
        return None; // a missing rerun-if-changed file would rerun this script on every build
    }
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(lock).ok()?;
    let name_line = format!("name = \"{krate}\"");
    let mut lines = text.lines();
    lines.find(|l| l.trim() == name_line)?;
    let version = lines.next()?.trim().strip_prefix("version = \"")?;
    Some(version.trim_end_matches('"').to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=csrc");
    // Set below when csrc/lt_cuda.cpp is compiled (CUDA headers found).
    println!("cargo::rustc-check-cfg=cfg(lt_have_cuda)");
    let torch = locate_torch().unwrap_or_else(|e| panic!("lt-core build: {e}"));
    let search = cuda_search_dirs(&torch);
    let gloo = detect_gloo(&torch);
    let cuda = detect_cuda(&torch, &search);
    let nccl = detect_nccl(&torch, &search, cuda.as_ref());
    compile_shim(&torch, gloo.as_deref(), cuda.as_ref(), nccl.as_deref());
    link_torch(&torch, cuda.is_some());
    if let Some(v) = locked_version("tch") {
        println!("cargo:rustc-env=LT_TCH_VERSION={v}");
    }
}

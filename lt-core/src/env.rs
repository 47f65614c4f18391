//! What this binary has and sees, for bug reports (`lt-train env`, like PyTorch's
//! `python -m torch.utils.collect_env`): versions, CUDA / cuDNN / NCCL / Gloo as compiled in
//! and as found at run time, threads, and the plugin search path with the plugins on it.

use std::ffi::{c_char, c_int, c_long, CStr};
use std::fmt;
use std::path::PathBuf;

use crate::dist::ProcessGroup;
use crate::plugin::PluginSearch;

mod ffi {
    use std::ffi::{c_char, c_int, c_long};

    extern "C" {
        pub fn lt_env_torch_version() -> *const c_char;
        pub fn lt_env_cuda_version() -> c_long;
        pub fn lt_env_cudnn_version() -> c_long;
        pub fn lt_env_cuda_device_name(index: c_int, buf: *mut c_char, len: usize) -> c_int;
    }
}

/// The tch this crate was built with: its version in the workspace's Cargo.lock (build.rs),
/// else the API line the plugins are checked against.
pub const TCH_VERSION: &str = match option_env!("LT_TCH_VERSION") {
    Some(v) => v,
    None => lt_plugin::abi::TCH_VERSION,
};

/// The keys [`Env`] prints, in order, one line each as `key: value`.
pub const KEYS: [&str; 16] = [
    "lt",
    "tch",
    "libtorch",
    "cuda compiled",
    "cuda available",
    "cuda devices",
    "cuda device names",
    "cudnn available",
    "cudnn version",
    "nccl compiled",
    "gloo compiled",
    "torch threads",
    "cores available",
    "plugin search path",
    "plugins found",
    "plugin files skipped",
];

/// A snapshot of the build and the machine; `Display` prints one `key: value` line per field,
/// in the order of [`KEYS`].
#[derive(Debug, Clone)]
pub struct Env {
    /// This toolkit's version.
    pub lt: String,
    /// The tch crate's version.
    pub tch: String,
    /// The libtorch the C++ shim was compiled against, e.g. "2.11.0".
    pub libtorch: String,
    /// The CUDA runtime version libtorch's CUDA part was built with ("13.0"), when that part is
    /// in this binary; `None` for a CPU-only libtorch or a build without the CUDA headers.
    pub cuda_compiled: Option<String>,
    /// Whether a CUDA device can be used now (driver and device present).
    pub cuda_available: bool,
    /// Number of CUDA devices visible.
    pub cuda_devices: usize,
    /// `cuda:N NAME` for each visible device (the reason instead of a name that cannot be read).
    pub cuda_device_names: Vec<String>,
    /// Whether cuDNN can be used now.
    pub cudnn_available: bool,
    /// The cuDNN version libtorch was built with ("9.19.0"), when it has one.
    pub cudnn_version: Option<String>,
    /// Whether c10d's NCCL backend (CUDA tensors across processes) is compiled in.
    pub nccl_compiled: bool,
    /// Whether c10d's Gloo backend (CPU tensors across processes) is compiled in.
    pub gloo_compiled: bool,
    /// libtorch's intra-op thread count.
    pub torch_threads: i32,
    /// Cores this process may use.
    pub cores: usize,
    /// The plugin search path, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// `name version` of each plugin found on the search path.
    pub plugins: Vec<String>,
    /// Files that looked like plugins but did not load (`lt-train plugins` names them).
    pub plugin_files_skipped: usize,
}

impl Env {
    /// Collects everything, with the default plugin search path ([`PluginSearch::from_env`]).
    pub fn collect() -> Env {
        Env::collect_with(&PluginSearch::from_env())
    }

    /// Collects everything, listing the plugins of `search`.
    pub fn collect_with(search: &PluginSearch) -> Env {
        let cuda_devices = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
        let found = search.discover();
        Env {
            lt: env!("CARGO_PKG_VERSION").to_string(),
            tch: TCH_VERSION.to_string(),
            libtorch: libtorch_version(),
            cuda_compiled: cuda_version(unsafe { ffi::lt_env_cuda_version() }),
            cuda_available: tch::Cuda::is_available(),
            cuda_devices,
            cuda_device_names: (0..cuda_devices).map(device_name).collect(),
            cudnn_available: tch::Cuda::cudnn_is_available(),
            cudnn_version: cudnn_version(unsafe { ffi::lt_env_cudnn_version() }),
            nccl_compiled: ProcessGroup::has_nccl(),
            gloo_compiled: ProcessGroup::has_gloo(),
            torch_threads: tch::get_num_threads(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            plugin_dirs: search.dirs().iter().map(|(d, _)| d.to_path_buf()).collect(),
            plugins: found
                .plugins
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect(),
            plugin_files_skipped: found.problems.len(),
        }
    }

    /// The values of [`KEYS`], in order.
    fn values(&self) -> [String; KEYS.len()] {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let dirs: Vec<String> = self
            .plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        [
            self.lt.clone(),
            self.tch.clone(),
            self.libtorch.clone(),
            match &self.cuda_compiled {
                Some(v) => format!("yes (CUDA {v})"),
                None => "no".to_string(),
            },
            yes_no(self.cuda_available),
            self.cuda_devices.to_string(),
            list_or_none(&self.cuda_device_names, ", "),
            yes_no(self.cudnn_available),
            self.cudnn_version.clone().unwrap_or_else(|| "none".into()),
            yes_no(self.nccl_compiled),
            yes_no(self.gloo_compiled),
            self.torch_threads.to_string(),
            self.cores.to_string(),
            list_or_none(&dirs, ":"),
            list_or_none(&self.plugins, ", "),
            self.plugin_files_skipped.to_string(),
        ]
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in KEYS.iter().zip(self.values()) {
            writeln!(f, "{key}: {value}")?;
        }
        Ok(())
    }
}

fn list_or_none(items: &[String], sep: &str) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(sep)
    }
}

fn libtorch_version() -> String {
    // SAFETY: a pointer to a static string literal.
    unsafe { CStr::from_ptr(ffi::lt_env_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

fn device_name(index: usize) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: the shim writes at most `buf.len()` bytes, NUL-terminated.
    let rc = unsafe { ffi::lt_env_cuda_device_name(index as c_int, buf.as_mut_ptr(), buf.len()) };
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    if rc == 0 {
        format!("cuda:{index} {text}")
    } else {
        format!("cuda:{index} ? ({text})")
    }
}

/// CUDART_VERSION as "major.minor": 13000 is "13.0", 12080 is "12.8"; `None` for 0.
fn cuda_version(v: c_long) -> Option<String> {
    (v > 0).then(|| format!("{}.{}", v / 1000, v % 1000 / 10))
}

/// CUDNN_VERSION as "major.minor.patch": 91900 is "9.19.0" (cuDNN 9 and later), 8907 is
/// "8.9.7" (cuDNN 8); `None` for 0.
fn cudnn_version(v: c_long) -> Option<String> {
    let major = if v >= 90000 { 10000 } else { 1000 };
    (v > 0).then(|| format!("{}.{}.{}", v / major, v % major / 100, v % 100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_dotted() {
        assert_eq!(cuda_version(13000).as_deref(), Some("13.0"));
        assert_eq!(cuda_version(12080).as_deref(), Some("12.8"));
        assert_eq!(cuda_version(0), None);
        assert_eq!(cudnn_version(91900).as_deref(), Some("9.19.0"));
        assert_eq!(cudnn_version(8907).as_deref(), Some("8.9.7"));
        assert_eq!(cudnn_version(0), None);
    }

    #[test]
    fn every_key_once_in_order() {
        let env = Env::collect_with(&PluginSearch::new());
        let text = env.to_string();
        let keys: Vec<&str> = text
            .lines()
            .map(|l| l.split_once(": ").expect("key: value").0)
            .collect();
        assert_eq!(keys, KEYS);
        assert!(text.contains(&format!("libtorch: {}\n", env.libtorch)));
        assert!(text.contains("plugin search path: none\n"));
        assert!(text.contains("plugins found: none\n"));
    }

    #[test]
    fn versions_are_filled_in() {
        let env = Env::collect_with(&PluginSearch::new());
        assert!(
            env.tch.starts_with(lt_plugin::abi::TCH_VERSION),
            "{}",
            env.tch
        );
        assert_eq!(env.libtorch.split('.').count(), 3, "{}", env.libtorch);
        assert_eq!(env.cuda_device_names.len(), env.cuda_devices);
        assert!(env.cores >= 1 && env.torch_threads >= 1);
        // A CUDA libtorch linked with its CUDA part reports it; NCCL needs that part.
        assert!(!env.nccl_compiled || env.cuda_compiled.is_some());
    }
}

//! Finding plugin libraries: the search path, name-to-file rule and discovery (see the module
//! docs of [`crate::plugin`]).

use super::{Plugin, PluginError, PluginInfo, Result};
use std::path::{Path, PathBuf};

/// Environment variable with extra plugin directories, colon-separated, searched first.
pub const PLUGIN_PATH_ENV: &str = "LT_PLUGIN_PATH";

/// The directories searched for plugins, in order.
#[derive(Debug, Clone, Default)]
pub struct PluginSearch {
    /// (directory, dedicated): a dedicated directory holds only plugins, so `discover` considers
    /// every `lib*.so` there; elsewhere only `liblt_plugin_*.so`.
    dirs: Vec<(PathBuf, bool)>,
}

impl PluginSearch {
    /// An empty search path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a directory that holds only plugins.
    pub fn dedicated_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push((dir.into(), true));
        self
    }

    /// Appends a directory that may hold other libraries too.
    pub fn shared_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push((dir.into(), false));
        self
    }

    /// The documented default: `LT_PLUGIN_PATH`, the binary's directory, its `plugins/`.
    pub fn from_env() -> Self {
        let mut s = PluginSearch::new();
        if let Some(v) = std::env::var_os(PLUGIN_PATH_ENV) {
            for d in std::env::split_paths(&v) {
                if !d.as_os_str().is_empty() {
                    s = s.dedicated_dir(d);
                }
            }
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            s = s.shared_dir(dir.clone()).dedicated_dir(dir.join("plugins"));
        }
        s
    }

    /// Directories in search order, with whether each is dedicated.
    pub fn dirs(&self) -> Vec<(&Path, bool)> {
        self.dirs
            .iter()
            .map(|(d, ded)| (d.as_path(), *ded))
            .collect()
    }

    /// Resolves a plugin name or path to a file without loading it.
    pub fn find(&self, spec: &str) -> Result<PathBuf> {
        if is_path_spec(spec) {
            return Ok(PathBuf::from(spec));
        }
        let files = candidate_files(spec);
        for (dir, _) in self.dirs() {
            for f in &files {
                let p = dir.join(f);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        Err(PluginError::NotFound {
            name: spec.to_string(),
            files: files.join(" or "),
            dirs: if self.dirs.is_empty() {
                "no directories; set LT_PLUGIN_PATH".to_string()
            } else {
                self.dirs()
                    .iter()
                    .map(|(d, _)| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// Finds and loads a plugin by name, or loads the file `spec` names.
    pub fn load(&self, spec: &str) -> Result<Plugin> {
        Plugin::open(&self.find(spec)?)
    }

    /// Loads every plugin in the search path; broken candidates go to `problems`.
    pub fn discover(&self) -> Discovery {
        let mut out = Discovery::default();
        let mut seen = std::collections::HashSet::new();
        for (dir, dedicated) in self.dirs() {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Not `is_file`: a broken link or a special file named like a plugin is reported.
                .filter(|p| !p.is_dir())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    n.ends_with(".so")
                        && (n.starts_with("liblt_plugin_") || (dedicated && n.starts_with("lib")))
                })
                .collect();
            files.sort();
            for f in files {
                match Plugin::open(&f) {
                    Ok(p) => {
                        if seen.insert(p.info().name.clone()) {
                            out.plugins.push(p.info().clone());
                        }
                    }
                    Err(e) => out.problems.push(e),
                }
            }
        }
        out
    }
}

/// Result of [`PluginSearch::discover`].
#[derive(Debug, Default)]
pub struct Discovery {
    pub plugins: Vec<PluginInfo>,
    /// Files that looked like plugins but failed to load (to print as warnings).
    pub problems: Vec<PluginError>,
}

fn is_path_spec(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".so")
}

fn candidate_files(name: &str) -> Vec<String> {
    let n = name.replace('-', "_");
    let mut v = vec![format!("liblt_plugin_{n}.so"), format!("lib{n}.so")];
    if n != name {
        v.push(format!("lib{name}.so"));
    }
    v
}

/// Plugins found in the default search path (see the module docs); `lt-train plugins` prints
/// each with `{}` (one line, starting with the name).
pub fn discover() -> Vec<PluginInfo> {
    PluginSearch::from_env().discover().plugins
}

/// Loads a plugin by name (default search path) or by path.
pub fn load(name_or_path: &str) -> Result<Plugin> {
    PluginSearch::from_env().load(name_or_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_names_follow_the_documented_rule() {
        assert_eq!(
            candidate_files("example-loss"),
            vec![
                "liblt_plugin_example_loss.so",
                "libexample_loss.so",
                "libexample-loss.so"
            ]
        );
        assert_eq!(
            candidate_files("mislas"),
            vec!["liblt_plugin_mislas.so", "libmislas.so"]
        );
        assert!(is_path_spec("./x.so") && is_path_spec("a/b") && !is_path_spec("mislas"));
    }

    #[test]
    fn not_found_lists_files_and_dirs() {
        let s = PluginSearch::new().dedicated_dir("/nonexistent/plugins");
        let e = s.load("nope").unwrap_err().to_string();
        assert!(e.contains("plugin `nope` not found"), "{e}");
        assert!(
            e.contains("liblt_plugin_nope.so") && e.contains("/nonexistent/plugins"),
            "{e}"
        );
    }
}

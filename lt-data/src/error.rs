//! One error type for the data side. Every variant names the file it is about, so the
//! CLI can print a single line such as `lt-data: data/train.ltd: truncated (...)`.

use std::path::{Path, PathBuf};

/// Errors of building, reading and verifying datasets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a file.
    #[error("{}: {err}", path.display())]
    Io {
        path: PathBuf,
        // Not named `source` (thiserror would make it the error's source): the message
        // already carries it, and anyhow's `{:#}` would print the OS message twice.
        err: std::io::Error,
    },
    /// A file whose content is not what its format promises.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A request that cannot be satisfied (bad flag value, unknown dataset...).
    #[error("{0}")]
    Invalid(String),
    /// A chart that could not be drawn or encoded (`lt-data inspect --plot`, a run's plots).
    #[error("{}: cannot draw the chart: {msg}", path.display())]
    Plot { path: PathBuf, msg: String },
    /// Images a source's lists name that lie under the source directory in none of the places
    /// its layout allows: the build stops before decoding anything (without `--skip-missing`),
    /// and the report file beside the output lists every one of them.
    #[error("{0}")]
    MissingImages(Box<crate::missing::MissingImages>),
    /// A sampler defined outside this crate (a plugin's) could not give an epoch's indices; the
    /// message is its own.
    #[error("{0}")]
    Sampler(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            err: source,
        }
    }
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
    pub fn plot(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Plot {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The first paragraph of a multi-line message (clap's usage errors) as one line, without its
/// `error: ` prefix: `the following required arguments were not provided: --split-file <F>`.
pub fn first_paragraph(msg: &str) -> String {
    let words: Vec<&str> = msg
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim())
        .collect();
    let line = words.join(" ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None if line.is_empty() => "bad arguments".to_string(),
        None => line,
    }
}

/// Clap's usage error as one line: its [`first_paragraph`], then each of its `tip:` lines in
/// parentheses (`unexpected argument '--epoch' found (tip: a similar argument exists:
/// '--epochs')`).
pub fn usage_line(msg: &str) -> String {
    let mut line = first_paragraph(msg);
    for tip in msg
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tip: "))
    {
        line.push_str(&format!(" ({tip})"));
    }
    line
}

/// A binary's answer to a bad command line: `prog: ` and [`usage_line`] of clap's message on
/// stderr, then exit status 2.
pub fn usage_exit(prog: &str, msg: &str) -> ! {
    eprintln!("{prog}: {}", usage_line(msg));
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_paragraph_joins_clap_errors() {
        let clap = "error: the following required arguments were not provided:\n  --split-file <SPLIT_FILE>\n\nUsage: lt-data inspect\n";
        assert_eq!(
            super::first_paragraph(clap),
            "the following required arguments were not provided: --split-file <SPLIT_FILE>"
        );
        let typo = "error: unexpected argument '--epoch' found\n\n  tip: a similar argument exists: '--epochs'\n\nUsage: lt-train --epochs <EPOCHS>\n";
        assert_eq!(
            super::usage_line(typo),
            "unexpected argument '--epoch' found (tip: a similar argument exists: '--epochs')"
        );
        assert_eq!(
            super::first_paragraph("error: unexpected argument '-x' found\n"),
            "unexpected argument '-x' found"
        );
        assert_eq!(super::first_paragraph(""), "bad arguments");
    }
}

//! What both command lines share (included by each binary's `main.rs` with `#[path]`): clap
//! value parsers built from the toolkit's name registries, and shell completion scripts.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::CommandFactory;

/// A value parser that accepts exactly `names` (a registry's, so `--help` shows `[possible
/// values: ...]` and clap's error for any other value lists them), then parses the name into
/// `T` at the edge.
pub fn one_of<T>(names: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

/// Prints the completion script of the command line `C`, installed as `bin`, for `shell`.
pub fn print_completions<C: CommandFactory>(shell: clap_complete::Shell, bin: &str) {
    clap_complete::generate(shell, &mut C::command(), bin, &mut std::io::stdout());
}

//! The [`export_plugin!`](crate::export_plugin) macro: the one place a plugin lists its
//! components.

/// Exports a plugin: generates `lt_plugin_abi_version` and `lt_plugin_v1`.
///
/// One line names the plugin, then one line per component:
///
/// ```ignore
/// lt_plugin::export_plugin! {
///     plugin "example-loss", "Poly-1 loss, as a worked example", recipe include_str!("../recipe.toml");
///     loss "poly1" = Poly1::new, "Poly-1 loss (Leng et al. 2022); config: epsilon";
/// }
/// ```
/// The first line is `plugin NAME [version VERSION], DESCRIPTION [, recipe TOML];`: the version
/// defaults to the crate's, and without `recipe` the plugin has none. Component lines are
/// `KIND "name" = constructor, "one-line doc";` with KIND `loss`, `head` or `sampler`, losses first,
/// then heads, then samplers. Each constructor is `fn(&Config, &DatasetInfo) -> Result<T>` where
/// `T: Loss` (or `Head`); sampler constructors take the training labels as a third argument
/// `&[u32]`.
#[macro_export]
macro_rules! export_plugin {
    (
        plugin $name:literal $(version $version:literal)?, $desc:expr $(, recipe $recipe:expr)?;
        $(loss $lname:literal = $lmake:expr, $ldoc:literal;)*
        $(head $hname:literal = $hmake:expr, $hdoc:literal;)*
        $(sampler $sname:literal = $smake:expr, $sdoc:literal;)*
    ) => {
        /// Entry point 1 of the lt-train plugin ABI: the ABI version, checked before anything else.
        #[no_mangle]
        pub extern "C" fn lt_plugin_abi_version() -> u32 {
            $crate::abi::ABI_VERSION
        }

        /// Entry point 2 of the lt-train plugin ABI: the version-1 table (null if building it failed).
        #[no_mangle]
        pub extern "C" fn lt_plugin_v1() -> *const $crate::abi::PluginV1 {
            $crate::runtime::table(|| $crate::runtime::Registry {
                name: $name,
                version: {
                    let v: &'static str = env!("CARGO_PKG_VERSION");
                    $( let v: &'static str = $version; )?
                    v
                },
                description: $desc,
                recipe: {
                    let r: Option<&'static str> = None;
                    $( let r: Option<&'static str> = Some($recipe); )?
                    r
                },
                losses: vec![$($crate::export_plugin!(@entry Loss, $lname, $lmake, $ldoc, c, i)),*],
                heads: vec![$($crate::export_plugin!(@entry Head, $hname, $hmake, $hdoc, c, i)),*],
                samplers: vec![
                    $($crate::export_plugin!(@entry Sampler, $sname, $smake, $sdoc, c, i, l)),*
                ],
            })
        }
    };
    // One registry entry: the constructor's value boxed as the component trait object.
    (@entry $trait:ident, $name:expr, $make:expr, $doc:expr, $($arg:ident),*) => {
        $crate::runtime::Entry {
            name: $name,
            doc: $doc,
            make: |$($arg),*| Ok(Box::new(($make)($($arg),*)?) as Box<dyn $crate::$trait>),
        }
    };
}

//! The [`export_plugin!`](crate::export_plugin) macro: the one place a plugin lists its
//! components.

/// Exports a plugin: generates `lt_plugin_abi_version`, `lt_plugin_v1` and `lt_plugin_v2`.
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
/// then heads, then samplers, then `feature_loss` and `model` lines (ABI version 2: a plugin with
/// either reports version 2, one without reports 1 and loads into any host). Each constructor is `fn(&Config, &DatasetInfo) -> Result<T>` where
/// `T: Loss` (or `Head`, `FeatureLoss`, `Model`); sampler constructors take the training labels as a third argument
/// `&[u32]`.
#[macro_export]
macro_rules! export_plugin {
    (
        plugin $name:literal $(version $version:literal)?, $desc:expr $(, recipe $recipe:expr)?;
        $(loss $lname:literal = $lmake:expr, $ldoc:literal;)*
        $(head $hname:literal = $hmake:expr, $hdoc:literal;)*
        $(sampler $sname:literal = $smake:expr, $sdoc:literal;)*
        $(feature_loss $fname:literal = $fmake:expr, $fdoc:literal;)*
        $(model $mname:literal = $mmake:expr, $mdoc:literal;)*
    ) => {
        /// Entry point 1 of the lt-train plugin ABI: the ABI version, checked before anything else.
        #[no_mangle]
        pub extern "C" fn lt_plugin_abi_version() -> u32 {
            $crate::runtime::abi_version(__lt_plugin_registry)
        }

        /// Entry point 2 of the lt-train plugin ABI, version 1: the table (null if building it
        /// failed, or if the plugin needs version 2).
        #[no_mangle]
        pub extern "C" fn lt_plugin_v1() -> *const $crate::abi::PluginV1 {
            $crate::runtime::table(__lt_plugin_registry)
        }

        /// Entry point 2 of the lt-train plugin ABI, version 2: the table (null if building it failed).
        #[no_mangle]
        pub extern "C" fn lt_plugin_v2() -> *const $crate::abi::PluginV2 {
            $crate::runtime::table_v2(__lt_plugin_registry)
        }

        fn __lt_plugin_registry() -> $crate::runtime::Registry {
            $crate::runtime::Registry {
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
                feature_losses: vec![
                    $($crate::export_plugin!(@entry FeatureLoss, $fname, $fmake, $fdoc, c, i)),*
                ],
                models: vec![$($crate::export_plugin!(@entry Model, $mname, $mmake, $mdoc, c, i)),*],
            }
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

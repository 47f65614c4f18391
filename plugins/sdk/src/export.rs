//! The [`export_plugin!`](crate::export_plugin) macro: the one place a plugin lists its
//! components.

/// Exports a plugin: generates `lt_plugin_abi_version` and `lt_plugin_v1`.
///
/// ```ignore
/// lt_plugin::export_plugin! {
///     name: "example-loss",
///     description: "Poly-1 loss, as a worked example",
///     recipe: Some(include_str!("../recipe.toml")),
///     losses: { "poly1" => (Poly1::new, "Poly-1 loss (Leng et al. 2022); config: epsilon") },
/// }
/// ```
/// `version` (default: the crate's version) and `recipe` (default `None`) may be left out, and
/// so may each of `losses`, `heads` and `samplers` a plugin does not provide; those present come
/// in this order. Each constructor is `fn(&Config, &DatasetInfo) -> Result<T>` where `T: Loss`
/// (or `Head`); sampler constructors take the training labels as a third argument `&[u32]`.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        $(version: $version:expr,)?
        description: $desc:expr,
        $(recipe: $recipe:expr,)?
        $(losses: { $( $lname:literal => ($lmake:expr, $ldoc:expr) ),* $(,)? } $(,)?)?
        $(heads: { $( $hname:literal => ($hmake:expr, $hdoc:expr) ),* $(,)? } $(,)?)?
        $(samplers: { $( $sname:literal => ($smake:expr, $sdoc:expr) ),* $(,)? } $(,)?)?
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
                    $( let r: Option<&'static str> = $recipe; )?
                    r
                },
                losses: vec![ $($( $crate::runtime::Entry {
                    name: $lname,
                    doc: $ldoc,
                    make: |c, i| {
                        let v = ($lmake)(c, i)?;
                        Ok(Box::new(v) as Box<dyn $crate::Loss>)
                    },
                } ),*)? ],
                heads: vec![ $($( $crate::runtime::Entry {
                    name: $hname,
                    doc: $hdoc,
                    make: |c, i| {
                        let v = ($hmake)(c, i)?;
                        Ok(Box::new(v) as Box<dyn $crate::Head>)
                    },
                } ),*)? ],
                samplers: vec![ $($( $crate::runtime::Entry {
                    name: $sname,
                    doc: $sdoc,
                    make: |c, i, l| {
                        let v = ($smake)(c, i, l)?;
                        Ok(Box::new(v) as Box<dyn $crate::Sampler>)
                    },
                } ),*)? ],
            })
        }
    };
}

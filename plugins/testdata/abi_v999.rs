//! Test fixture: a library that claims a future plugin ABI version.
//! Built by lt-core/tests/plugin_errors.rs with `rustc --crate-type cdylib`.

#[no_mangle]
pub extern "C" fn lt_plugin_abi_version() -> u32 {
    999
}

/// Must never be called: the host stops at the version check.
#[no_mangle]
pub extern "C" fn lt_plugin_v1() -> *const u8 {
    std::process::abort()
}

//! Test fixture: a library that claims a future plugin ABI version.
//! Built by cargo as a dev-dependency of lt-core, loaded by lt-core/tests/plugin_errors.rs.

#[no_mangle]
pub extern "C" fn lt_plugin_abi_version() -> u32 {
    999
}

/// Must never be called: the host stops at the version check.
#[no_mangle]
pub extern "C" fn lt_plugin_v1() -> *const u8 {
    std::process::abort()
}

//! Test fixture: speaks ABI version 1 but does not export `lt_plugin_v1`.
//! Built by cargo as a dev-dependency of lt-core, loaded by lt-core/tests/plugin_errors.rs.

#[no_mangle]
pub extern "C" fn lt_plugin_abi_version() -> u32 {
    1
}

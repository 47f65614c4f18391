//! Test fixture: speaks ABI version 1 but does not export `lt_plugin_v1`.
//! Built by lt-core/tests/plugin_errors.rs with `rustc --crate-type cdylib`.

#[no_mangle]
pub extern "C" fn lt_plugin_abi_version() -> u32 {
    1
}

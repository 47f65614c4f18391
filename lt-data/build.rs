//! Links libjpeg-turbo's TurboJPEG statically (Debian: `libturbojpeg0-dev`), so the binaries
//! and plugins need no shared libjpeg-turbo where they run (the GPU machine has none).
//! `TURBOJPEG_LIB_DIR` names the folder of `libturbojpeg.a` when it is elsewhere.
//! Also compiles `csrc/jpeg_region.c` and `csrc/jpeg_encode.c` (libjpeg API, whose symbols `libturbojpeg.a` carries;
//! `jpeglib.h` from Debian's `libjpeg62-turbo-dev`, `JPEGLIB_INCLUDE_DIR` when elsewhere).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=TURBOJPEG_LIB_DIR");
    println!("cargo:rerun-if-env-changed=JPEGLIB_INCLUDE_DIR");
    println!("cargo:rerun-if-changed=csrc/jpeg_region.c");
    println!("cargo:rerun-if-changed=csrc/jpeg_encode.c");
    println!("cargo:rerun-if-changed=csrc/lt_jpeg_error.h");
    let mut c = cc::Build::new();
    c.file("csrc/jpeg_region.c")
        .file("csrc/jpeg_encode.c")
        .warnings(true)
        .opt_level(2);
    if let Some(dir) = std::env::var_os("JPEGLIB_INCLUDE_DIR") {
        c.include(dir);
    }
    c.compile("lt_jpeg_region");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::var_os("TURBOJPEG_LIB_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.extend(
        [
            format!("/usr/lib/{arch}-{os}-gnu"),
            "/usr/lib64".into(),
            "/usr/lib".into(),
            "/usr/local/lib".into(),
            "/opt/libjpeg-turbo/lib64".into(),
        ]
        .map(PathBuf::from),
    );
    let Some(dir) = dirs.iter().find(|d| d.join("libturbojpeg.a").is_file()) else {
        panic!(
            "libturbojpeg.a not found in {}: install libjpeg-turbo's TurboJPEG (Debian: apt-get install libturbojpeg0-dev; scripts/setup.sh does) or set TURBOJPEG_LIB_DIR",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=turbojpeg");
}

//! Generates the C header from src/ffi with cbindgen into OUT_DIR. `tests/header.rs` fails when
//! it differs from the checked-in include/lnc.h; `LNC_UPDATE_HEADER=1 cargo build` refreshes
//! the checked-in copy.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=LNC_UPDATE_HEADER");
    // A versioned soname so installed programs bind to the ABI major version.
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblnc.so.{major}");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("lnc.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        // cbindgen follows the `mod` declarations from here.
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(&out);
    if std::env::var_os("LNC_UPDATE_HEADER").is_some() {
        std::fs::copy(&out, crate_dir.join("include/lnc.h")).expect("write include/lnc.h");
    }
}

//! Sets liblnc.so's soname (see README "Install": soname policy). Nothing else happens at build
//! time: include/lnc.h is generated from src/ffi by cbindgen as a development step (a
//! dev-dependency, run by `tests/header.rs`), so downstream builds never compile cbindgen.
//! `LNC_UPDATE_HEADER=1 cargo test --test header` refreshes the checked-in header.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let major: u64 = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo").parse().expect("numeric");
    let minor: u64 = std::env::var("CARGO_PKG_VERSION_MINOR").expect("set by cargo").parse().expect("numeric");
    // 0.x: every minor release may break the ABI (semver's 0.x rule), so the minor is part of the
    // soname: liblnc.so.0.1, liblnc.so.0.2, ... From 1.0 on: liblnc.so.<major>.
    let soname = if major == 0 { format!("liblnc.so.0.{minor}") } else { format!("liblnc.so.{major}") };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
}

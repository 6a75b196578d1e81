//! include/lnc.h must be exactly what cbindgen generates from src/ffi today.

#[test]
fn checked_in_header_matches_the_generated_one() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/lnc.h")).expect("build.rs output");
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/lnc.h")).expect("include/lnc.h");
    assert!(
        generated == checked_in,
        "include/lnc.h is stale: run `LNC_UPDATE_HEADER=1 cargo build` and commit the result"
    );
}

#[test]
fn version_macros_match_the_crate_version() {
    let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/lnc.h")).unwrap();
    for (name, v) in [
        ("LNC_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("LNC_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("LNC_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        assert!(h.contains(&format!("#define {name} {v}\n")), "{name} != {v}");
    }
}

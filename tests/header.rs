//! include/lnc.h must be exactly what cbindgen generates from src/ffi today. cbindgen is a
//! dev-dependency: the header is generated here (a development step), never by downstream builds.
//! `LNC_UPDATE_HEADER=1 cargo test --test header` rewrites include/lnc.h instead of failing.

fn generate() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        // cbindgen follows the `mod` declarations from here.
        .with_src(format!("{dir}/src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn checked_in_header_matches_the_generated_one() {
    let generated = generate();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/lnc.h");
    if std::env::var_os("LNC_UPDATE_HEADER").is_some() {
        std::fs::write(path, &generated).expect("write include/lnc.h");
        return;
    }
    let checked_in = std::fs::read_to_string(path).expect("include/lnc.h");
    assert!(
        generated == checked_in,
        "include/lnc.h is stale: run `LNC_UPDATE_HEADER=1 cargo test --test header` and commit the result"
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

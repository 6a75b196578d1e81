//! One version: Cargo.toml's. Every file that carries a copy of it must agree (CMake reads
//! Cargo.toml itself; lnc.pc and the CMake package get theirs from CMake; the header macros are
//! checked in tests/header.rs; scripts/test-packages.sh checks the built artifacts).

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The value of the first line `<key> = "<value>"` (TOML / Python assignment).
fn assigned(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
        Some(rest.trim_matches('"').to_string())
    })
}

#[test]
fn python_package_version_is_the_crate_version() {
    let pyproject = read("bindings/python/pyproject.toml");
    assert_eq!(assigned(&pyproject, "version").as_deref(), Some(VERSION), "bindings/python/pyproject.toml");
    let init = read("bindings/python/lnc/__init__.py");
    assert_eq!(assigned(&init, "__version__").as_deref(), Some(VERSION), "bindings/python/lnc/__init__.py");
    let ffi = read("bindings/python/lnc/_ffi.py");
    let parts: Vec<&str> = VERSION.split('.').collect();
    for (name, want) in
        [("LNC_VERSION_MAJOR", parts[0]), ("LNC_VERSION_MINOR", parts[1]), ("LNC_VERSION_PATCH", parts[2])]
    {
        assert_eq!(assigned(&ffi, name).as_deref(), Some(want), "bindings/python/lnc/_ffi.py {name}");
    }
}

#[test]
fn npm_package_version_is_the_crate_version() {
    let pkg: serde_json::Value = serde_json::from_str(&read("bindings/node/package.json")).unwrap();
    assert_eq!(pkg["version"], VERSION, "bindings/node/package.json");
    let lock: serde_json::Value = serde_json::from_str(&read("bindings/node/package-lock.json")).unwrap();
    assert_eq!(lock["version"], VERSION, "bindings/node/package-lock.json");
    assert_eq!(lock["packages"][""]["version"], VERSION, "bindings/node/package-lock.json packages[\"\"]");
}

#[test]
fn cmake_takes_its_version_from_cargo_toml() {
    let cmake = read("CMakeLists.txt");
    assert!(
        cmake.contains("project(lnc VERSION ${LNC_CARGO_VERSION}")
            && cmake.contains("\"${CMAKE_CURRENT_SOURCE_DIR}/Cargo.toml\""),
        "CMakeLists.txt must read its version from Cargo.toml"
    );
    assert!(read("cmake/lnc.pc.in").contains("Version: @PROJECT_VERSION@"), "lnc.pc.in must use the project version");
}

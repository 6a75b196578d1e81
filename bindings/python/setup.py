"""Build hook: bundles liblnc.so into the package (lnc/_lib/liblnc.so) and marks the wheel
platform-specific (py3-none-<platform>: ctypes only, no CPython ABI dependency).

Where liblnc.so comes from:
1. ``$LNC_LIBRARY``, a prebuilt liblnc.so (scripts/package.sh passes the one it just built);
2. otherwise it is built here with ``cargo build --release --lib --features tls`` from the Rust sources: the
   ``rust/`` directory shipped inside the sdist, or the repository root when installing from a
   checkout (``pip install bindings/python``). This needs cargo (Rust >= 1.81) on PATH; the cargo
   target directory is ``$CARGO_TARGET_DIR`` if set, else ``target/`` of that source tree.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    try:
        from setuptools.command.bdist_wheel import bdist_wheel  # type: ignore
    except ImportError:
        bdist_wheel = None

HERE = Path(__file__).resolve().parent


def _crate_dir() -> Path:
    # sdist layout first (rust/ beside this file), then the checkout (bindings/python -> root).
    for d in (HERE / "rust", HERE.parent.parent):
        if (d / "Cargo.toml").is_file() and (d / "src" / "ffi").is_dir():
            return d
    raise SystemExit(
        "liblnc's Rust sources not found (looked for rust/Cargo.toml beside setup.py and the "
        "repository root); set LNC_LIBRARY to a prebuilt liblnc.so instead"
    )


def _cargo_build() -> Path:
    crate = _crate_dir()
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        raise SystemExit(
            "building liblnc needs cargo (Rust >= 1.81) on PATH (https://rustup.rs), or set "
            "LNC_LIBRARY to a prebuilt liblnc.so"
        )
    target = Path(os.environ.get("CARGO_TARGET_DIR") or crate / "target")
    # TLS is part of the packaged library (cargo feature `tls`); LNC_CARGO_FEATURES overrides.
    features = os.environ.get("LNC_CARGO_FEATURES", "tls")
    cmd = [cargo, "build", "--release", "--lib", "--manifest-path", str(crate / "Cargo.toml"), "--target-dir", str(target)]
    if features:
        cmd += ["--features", features]
    if (crate / "Cargo.lock").is_file() and crate.name == "rust":
        cmd.append("--locked")  # the sdist ships the lock file it was tested with
    print("building liblnc: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=str(crate))
    lib = target / "release" / "liblnc.so"
    if not lib.is_file():
        raise SystemExit(f"cargo finished but {lib} is missing")
    return lib


def _library() -> Path:
    env = os.environ.get("LNC_LIBRARY")
    if env:
        p = Path(env)
        if not p.is_file():
            raise SystemExit(f"LNC_LIBRARY={env} is not a file")
        return p.resolve()
    return _cargo_build()


class BuildPyWithLib(build_py):
    def run(self):
        super().run()
        src = _library()
        dest_dir = Path(self.build_lib) / "lnc" / "_lib"
        dest_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest_dir / "liblnc.so")


cmdclass = {"build_py": BuildPyWithLib}

if bdist_wheel is not None:

    class PlatformWheel(bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            _py, _abi, plat = super().get_tag()
            # ctypes only: any CPython 3, no Python ABI dependency, but one platform. The
            # platform tag is linux_x86_64 here; scripts/package.sh retags it manylinux with
            # `auditwheel repair` after checking the glibc symbol versions liblnc needs.
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel


class BinaryDistribution(Distribution):
    """Carries a native library: install into platlib, never as a pure package."""

    def has_ext_modules(self):
        return True


setup(cmdclass=cmdclass, distclass=BinaryDistribution)

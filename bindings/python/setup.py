"""Build hook: bundles liblnc.so into the package (lnc/_lib/liblnc.so) and marks the wheel
platform-specific. Build the library first: `cargo build --release --lib` at the repo root.

The library is taken from $LNC_LIBRARY if set, else ../../target/release/liblnc.so.
"""

import os
import shutil
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


def _library() -> Path:
    env = os.environ.get("LNC_LIBRARY")
    candidates = [Path(env)] if env else []
    candidates.append(HERE.parent.parent / "target" / "release" / "liblnc.so")
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise SystemExit(
        "liblnc.so not found (tried " + ", ".join(map(str, candidates)) + "): run `cargo build --release --lib` "
        "at the repository root first, or set LNC_LIBRARY"
    )


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
            # ctypes only: any CPython 3, no Python ABI dependency, but one platform.
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel

class BinaryDistribution(Distribution):
    """Carries a native library: install into platlib, never as a pure package."""

    def has_ext_modules(self):
        return True


setup(cmdclass=cmdclass, distclass=BinaryDistribution)

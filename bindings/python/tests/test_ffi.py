"""The ctypes declarations match include/lnc.h: struct layouts (compiled with gcc), every
function declared, constants equal."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import lnc
from lnc import _ffi as F

HEADER_CANDIDATES = [
    Path(__file__).resolve().parents[3] / "include" / "lnc.h",
]


def header() -> Path:
    for h in HEADER_CANDIDATES:
        if h.is_file():
            return h
    pytest.skip("include/lnc.h not found (not a repository checkout)")


def test_library_loaded_and_version():
    assert Path(lnc.library_path).is_file()
    v = F.lib.lnc_version()
    assert (v >> 16, (v >> 8) & 0xFF, v & 0xFF) == (F.LNC_VERSION_MAJOR, F.LNC_VERSION_MINOR, F.LNC_VERSION_PATCH)
    assert lnc.version() == f"{F.LNC_VERSION_MAJOR}.{F.LNC_VERSION_MINOR}.{F.LNC_VERSION_PATCH}"


def test_every_header_function_is_declared():
    text = header().read_text()
    declared = set(re.findall(r"^[A-Za-z_][\w \*]*?\b(lnc_\w+)\(", text, re.M))
    assert declared, "no prototypes parsed"
    assert declared == set(F.FUNCTIONS)
    for name in F.FUNCTIONS:
        fn = getattr(F.lib, name)
        assert fn.argtypes is not None, name


def test_struct_layout_matches_c(tmp_path):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    h = header()
    lines = ['#include <stdio.h>', '#include <stddef.h>', f'#include "{h}"', "int main(void) {"]
    for sname, cls in F.STRUCTS.items():
        lines.append(f'  printf("{sname} sizeof %zu\\n", sizeof({sname}));')
        for fname, _ in cls._fields_:
            lines.append(f'  printf("{sname} {fname} %zu\\n", offsetof({sname}, {fname}));')
    consts = {
        "LNC_RECORD_RAW": F.LNC_RECORD_RAW,
        "LNC_RECORD_JSON": F.LNC_RECORD_JSON,
        "LNC_RECORD_KEY_VALUE": F.LNC_RECORD_KEY_VALUE,
        "LNC_RECORD_TIMESTAMPED": F.LNC_RECORD_TIMESTAMPED,
        "LNC_RECORD_KEY_TIMESTAMPED": F.LNC_RECORD_KEY_TIMESTAMPED,
        "LNC_RECORD_EXTENDED": F.LNC_RECORD_EXTENDED,
        "LNC_EXT_TOMBSTONE": F.LNC_EXT_TOMBSTONE,
        "LNC_SEEK_END": F.LNC_SEEK_END,
        "LNC_SEEK_OFFSET": F.LNC_SEEK_OFFSET,
    }
    err_names = [n for n in dir(F) if n.startswith("LNC_ERR_")]
    for n in list(consts) + err_names:
        lines.append(f'  printf("const {n} %lld\\n", (long long)({n}));')
    lines.append('  printf("const LNC_RETENTION_UNLIMITED %llu\\n", (unsigned long long)LNC_RETENTION_UNLIMITED);')
    lines.append("  return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([gcc, "-std=c11", "-o", str(exe), str(src)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    seen = 0
    for line in out.splitlines():
        a, b, c = line.split()
        if a == "const":
            expected = F.LNC_RETENTION_UNLIMITED if b == "LNC_RETENTION_UNLIMITED" else getattr(F, b)
            assert int(c) == expected, b
            continue
        cls = F.STRUCTS[a]
        if b == "sizeof":
            assert ctypes.sizeof(cls) == int(c), f"sizeof({a})"
        else:
            assert getattr(cls, b).offset == int(c), f"offsetof({a}, {b})"
        seen += 1
    assert seen == sum(1 + len(c._fields_) for c in F.STRUCTS.values())
    # every error code the header defines is mapped
    assert {getattr(F, n) for n in err_names} - {0} == set(F.ALL_ERROR_CODES)


def test_installed_package_uses_its_bundled_library():
    import os

    if not os.environ.get("LNC_EXPECT_INSTALLED"):
        pytest.skip("running from the source tree")
    assert "site-packages" in lnc.__file__, lnc.__file__
    assert Path(lnc.library_path) == Path(lnc.__file__).parent / "_lib" / "liblnc.so"
    assert (Path(lnc.__file__).parent / "py.typed").is_file()

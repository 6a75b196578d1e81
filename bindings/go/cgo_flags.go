//go:build !lnc_pkgconfig

package lnc

// Default linking: against the library built in this repository by
// `cargo build --release --lib` (target/release/liblnc.so, soname liblnc.so.0).
// The rpath lets tests and examples run from a fresh clone without installing.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -llnc -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"

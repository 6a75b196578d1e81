//go:build !lnc_inrepo

package lnc

// Default: compile and link flags come from an installed liblnc through pkg-config (lnc.pc,
// shipped in the C/C++ archive and written by `cmake --install`). For a prefix that is not
// on pkg-config's default path: PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go build.
// Inside this repository use the lnc_inrepo build tag instead (see cgo_inrepo.go).

/*
#cgo pkg-config: lnc
*/
import "C"

//go:build lnc_pkgconfig

package lnc

// With the lnc_pkgconfig build tag, compile and link flags come from an installed liblnc
// (`cmake --install` writes lnc.pc): go build -tags lnc_pkgconfig.

/*
#cgo pkg-config: lnc
*/
import "C"

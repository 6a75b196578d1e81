//go:build lnc_inrepo

package lnc

// In-repository development (build tag lnc_inrepo, used by test.sh): compile against
// include/lnc.h and link the library built in this checkout by `cargo build --release --lib`
// (target/release/liblnc.so, with the soname link test.sh creates), with an rpath to it so
// tests run without installing:
//
//	cd bindings/go && go test -tags lnc_inrepo ./...

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -llnc -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"

// Package lnc is the Go binding of liblnc, the client library for the LANCE streaming server's
// wire protocol (LWP).
//
// All protocol work (framing, checksums, TLV records, batching, retries, offsets) happens in
// liblnc; this package only adds Go idiom on top of its C ABI: constructors returning
// (*T, error), context.Context on every blocking call, channels, typed errors usable with
// errors.Is / errors.As, and a mock broker for tests.
//
// Handles are safe for concurrent use. Every handle must be closed with Close (idempotent).
//
// Blocking calls honour their context: liblnc does the waiting, and the context ends it — the
// producer hands liblnc a cancel token fired by context.AfterFunc, request/reply calls get the
// context's deadline as their timeout, and Poll / Flush wait in slices of at most 50 ms with
// the context checked between them. The binding has no wait-for-space, retry or synchronous
// send logic of its own.
//
// Every handle reports what happens to its connections (connecting, connected, disconnected,
// reconnect scheduled, leader changed, authentication failed, circuit breaker changes) and,
// with statistics.interval.ms, a periodic JSON statistics document, on its Events channel;
// WithLogger sends liblnc's log lines to a *slog.Logger. Neither ever blocks liblnc's threads
// nor the delivery of reports.
package lnc

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"bytes"
	"context"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Version returns liblnc's version string, e.g. "0.1.0" (lnc_version_str).
func Version() string { return C.GoString(C.lnc_version_str()) }

// VersionNumber returns liblnc's version as (major << 16) | (minor << 8) | patch.
func VersionNumber() uint32 { return uint32(C.lnc_version()) }

// Config is liblnc's string key/value configuration ("bootstrap.servers", "linger.ms", …; the
// keys are documented in liblnc's README and header). Each entry becomes one lnc_conf_set call;
// an unknown key is an *Error with CodeUnknownKey and a bad value one with CodeInvalidValue,
// both carrying liblnc's reason and the Key.
type Config map[string]string

// RetentionUnlimited is the retention value meaning "no limit" (LNC_RETENTION_UNLIMITED).
const RetentionUnlimited = uint64(math.MaxUint64)

// pollSlice is the longest single wait handed to liblnc by a call that honours a context.
const pollSlice = 50 * time.Millisecond

// conf is an owned lnc_conf_t being built.
type conf struct{ c *C.lnc_conf_t }

// newConf builds an lnc_conf_t from cfg (keys applied in sorted order so that the first bad
// key reported is deterministic).
func newConf(cfg Config) (*conf, error) {
	c := C.lnc_conf_new()
	if c == nil {
		return nil, &Error{Code: CodePanic, Message: "lnc_conf_new returned NULL"}
	}
	cf := &conf{c: c}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := cf.set(k, cfg[k]); err != nil {
			cf.free()
			return nil, err
		}
	}
	return cf, nil
}

func (cf *conf) set(key, value string) error {
	ck := C.CString(key)
	cv := C.CString(value)
	defer C.free(unsafe.Pointer(ck))
	defer C.free(unsafe.Pointer(cv))
	var buf [512]C.char
	rc := C.lnc_conf_set(cf.c, ck, cv, &buf[0], C.size_t(len(buf)))
	if rc != C.LNC_ERR_OK {
		msg := C.GoString(&buf[0])
		if msg == "" {
			msg = Code(rc).Description()
		}
		return &Error{Code: Code(rc), Message: msg, Key: key}
	}
	return nil
}

// get reads a key's effective value.
func (cf *conf) get(key string) (string, error) {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var n C.size_t
	if rc := C.lnc_conf_get(cf.c, ck, nil, &n); rc != C.LNC_ERR_OK {
		return "", &Error{Code: Code(rc), Message: Code(rc).Description(), Key: key}
	}
	buf := make([]byte, int(n)+1)
	n = C.size_t(len(buf))
	if rc := C.lnc_conf_get(cf.c, ck, (*C.char)(unsafe.Pointer(&buf[0])), &n); rc != C.LNC_ERR_OK {
		return "", &Error{Code: Code(rc), Message: Code(rc).Description(), Key: key}
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf), nil
}

func (cf *conf) getDuration(key string, def time.Duration) time.Duration {
	s, err := cf.get(key)
	if err != nil {
		return def
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

// free releases the conf unless a constructor took it (then call taken instead).
func (cf *conf) free() {
	if cf.c != nil {
		C.lnc_conf_free(cf.c)
		cf.c = nil
	}
}

func (cf *conf) taken() { cf.c = nil }

// ValidateConfig checks every key and value of cfg with liblnc without creating a handle.
func ValidateConfig(cfg Config) error {
	cf, err := newConf(cfg)
	if err != nil {
		return err
	}
	cf.free()
	return nil
}

// ConfigValue returns the effective value of key (cfg's value or liblnc's default), as
// liblnc normalises it.
func ConfigValue(cfg Config, key string) (string, error) {
	cf, err := newConf(cfg)
	if err != nil {
		return "", err
	}
	defer cf.free()
	return cf.get(key)
}

// ConsumerID returns the consumer id that the official Rust client and liblnc's file offset
// store derive from a consumer name (lnc_consumer_id).
func ConsumerID(name string) (uint64, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var id C.uint64_t
	if rc := C.lnc_consumer_id(cn, &id); rc != C.LNC_ERR_OK {
		return 0, codeError(Code(rc))
	}
	return uint64(id), nil
}

// sliceMs is the timeout for one liblnc wait: at most slice, at most the context's remaining
// time (at least 1 ms while it has any).
func sliceMs(ctx context.Context, slice time.Duration) C.int32_t {
	if dl, ok := ctx.Deadline(); ok {
		if rem := time.Until(dl); rem < slice {
			if rem <= 0 {
				return 0
			}
			slice = rem
		}
	}
	ms := (slice + time.Millisecond - 1) / time.Millisecond
	return C.int32_t(ms)
}

// callMs is the timeout for a single request/reply call: the context's remaining time, bounded
// by def (the handle's request.timeout.ms).
func callMs(ctx context.Context, def time.Duration) C.int32_t {
	d := def
	if dl, ok := ctx.Deadline(); ok {
		if rem := time.Until(dl); rem < d {
			d = rem
		}
	}
	if d <= 0 {
		return 1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		ms = math.MaxInt32
	}
	return C.int32_t(ms)
}

// runCall runs fn (a single blocking liblnc call that converts its result to Go values) and
// returns its result, or ctx.Err() as soon as ctx is done. An abandoned call finishes in the
// background within its own timeout; its result is dropped (it holds no C memory).
func runCall[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return fn()
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, withCtx(ctx, r.err)
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// handleRef frees a handle once it is closed and no call uses it any more, so that Close never
// waits for a call that a cancelled context abandoned.
type handleRef struct {
	mu     sync.Mutex
	refs   int
	closed bool
	freed  bool
	free   func()
}

// acquire takes a reference; false once closed.
func (r *handleRef) acquire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.refs++
	return true
}

func (r *handleRef) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs--
	r.maybeFree()
}

// close marks the handle closed; it is freed now or by the last release. It reports whether
// this call closed it.
func (r *handleRef) close() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.closed = true
	r.maybeFree()
	return true
}

func (r *handleRef) maybeFree() {
	if r.closed && r.refs == 0 && !r.freed {
		r.freed = true
		if r.free != nil {
			r.free()
		}
	}
}

// Configuration keys of TLS (the library must be built with the cargo feature `tls`, as the
// packaged liblnc is; otherwise security.protocol=tls is refused with CodeInvalidValue).
const (
	KeySecurityProtocol        = "security.protocol"         // "plaintext" (default) or "tls"
	KeyTLSCALocation           = "tls.ca.location"           // PEM file or directory; empty = platform roots
	KeyTLSCertificateLocation  = "tls.certificate.location"  // client certificate chain (PEM), mutual TLS
	KeyTLSKeyLocation          = "tls.key.location"          // client private key (PEM)
	KeyTLSServerName           = "tls.server.name"           // SNI and verification name (when dialing by IP)
	KeyTLSVerify               = "tls.verify"                // "true" (default) or "false"
	KeyTLSInsecureAcknowledged = "tls.insecure.acknowledged" // must be "true" for tls.verify=false
)

// TLS is the TLS part of a Config, turned into liblnc's keys by Config.WithTLS. Empty fields
// keep liblnc's defaults.
type TLS struct {
	// CAFile is a PEM file (or directory of PEM files) with the CAs to trust; empty = the
	// platform's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate chain and its private key (PEM) for
	// mutual TLS; both or neither.
	CertFile, KeyFile string
	// ServerName is verified against the server's certificate and sent as SNI; empty = the
	// host dialed.
	ServerName string
	// InsecureSkipVerify turns certificate verification off (tls.verify=false together with
	// tls.insecure.acknowledged=true); liblnc then warns on stderr at every connect.
	InsecureSkipVerify bool
}

// WithTLS returns a copy of c with security.protocol=tls and t's settings.
func (c Config) WithTLS(t TLS) Config {
	out := make(Config, len(c)+6)
	for k, v := range c {
		out[k] = v
	}
	out[KeySecurityProtocol] = "tls"
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(KeyTLSCALocation, t.CAFile)
	set(KeyTLSCertificateLocation, t.CertFile)
	set(KeyTLSKeyLocation, t.KeyFile)
	set(KeyTLSServerName, t.ServerName)
	if t.InsecureSkipVerify {
		out[KeyTLSVerify] = "false"
		out[KeyTLSInsecureAcknowledged] = "true"
	}
	return out
}

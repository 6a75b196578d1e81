package lnc

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"sort"
	"sync"
	"time"
	"unsafe"
)

// MockBroker is liblnc's embedded in-process LWP mock broker (lnc_mock_*) with fault
// injection, for tests. Safe for concurrent use.
type MockBroker struct {
	mu   sync.RWMutex
	h    *C.lnc_mock_t
	addr string
	once sync.Once
}

// MockStats are the mock broker's counters.
type MockStats struct {
	ConnectionsAccepted uint64 // connections accepted
	ConnectionsOpen     uint64 // connections open now
	FramesReceived      uint64 // valid frames received
	FatalCloses         uint64 // connections closed for a bad frame
	IngestsReceived     uint64 // ingest frames received
	IngestsStored       uint64 // ingest batches stored
	BytesStored         uint64 // payload bytes stored
	AcksSent            uint64 // acks written
	AcksDropped         uint64 // accepted batches whose ack was never written
	ErrorsSent          uint64 // ErrorResponses written
	KeepalivesAnswered  uint64 // keepalive replies written
	ControlRequests     uint64 // control requests received
	FetchesServed       uint64 // FetchResponses written
}

// NewMockBroker starts a mock broker on 127.0.0.1 (ephemeral port unless "port" is set).
// Settings: host, port, ack.delay.ms (default 5), checksum, max.payload.bytes, auth.token,
// write.only, fetch.rate.limit.bytes, segment.bytes. A bad setting is an INVALID_VALUE *Error
// with liblnc's reason.
func NewMockBroker(settings map[string]string) (*MockBroker, error) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := len(keys)
	var ck, cv **C.char
	if n > 0 {
		size := C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))
		ck = (**C.char)(C.malloc(size))
		cv = (**C.char)(C.malloc(size))
		defer C.free(unsafe.Pointer(ck))
		defer C.free(unsafe.Pointer(cv))
		ks, vs := unsafe.Slice(ck, n), unsafe.Slice(cv, n)
		for i, k := range keys {
			ks[i] = C.CString(k)
			vs[i] = C.CString(settings[k])
		}
		defer func() {
			for i := range keys {
				C.free(unsafe.Pointer(ks[i]))
				C.free(unsafe.Pointer(vs[i]))
			}
		}()
	}
	var buf [512]C.char
	m := &MockBroker{}
	rc := C.lnc_mock_new(ck, cv, C.size_t(n), &m.h, &buf[0], C.size_t(len(buf)))
	if rc != C.LNC_ERR_OK {
		msg := C.GoString(&buf[0])
		if msg == "" {
			msg = Code(rc).Description()
		}
		return nil, &Error{Code: Code(rc), Message: msg}
	}
	var ab [256]C.char
	C.lnc_mock_address(m.h, &ab[0], C.size_t(len(ab)))
	m.addr = C.GoString(&ab[0])
	return m, nil
}

// Addr returns the broker's host:port (use it as bootstrap.servers).
func (m *MockBroker) Addr() string { return m.addr }

// Port returns the listening port.
func (m *MockBroker) Port() uint16 {
	return withMock(m, func(h *C.lnc_mock_t) uint16 { return uint16(C.lnc_mock_port(h)) })
}

func withMock[T any](m *MockBroker, fn func(h *C.lnc_mock_t) T) T {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var zero T
	if m.h == nil {
		return zero
	}
	return fn(m.h)
}

func (m *MockBroker) call(fn func(h *C.lnc_mock_t) C.lnc_err_t) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.h == nil {
		return closedError("mock broker")
	}
	return codeError(Code(fn(m.h)))
}

// DropAfterFrames closes the connection that receives the n-th next frame (after handling
// it: its acks are lost, its ingests stored). 0 disables.
func (m *MockBroker) DropAfterFrames(n uint64) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_drop_after_frames(h, C.uint64_t(n)) })
}

// DropAfterBytes closes the connection that receives the n-th next byte. 0 disables.
func (m *MockBroker) DropAfterBytes(n uint64) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_drop_after_bytes(h, C.uint64_t(n)) })
}

// DisconnectAll cuts every open connection now.
func (m *MockBroker) DisconnectAll() error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_disconnect_all(h) })
}

// SetAckDelay sets the durability delay before acks (millisecond resolution).
func (m *MockBroker) SetAckDelay(d time.Duration) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t {
		return C.lnc_mock_set_ack_delay_ms(h, C.uint64_t(d/time.Millisecond))
	})
}

// DropNextAcks stores the next n ingests but never acks them (cluster quorum loss).
func (m *MockBroker) DropNextAcks(n uint64) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_drop_next_acks(h, C.uint64_t(n)) })
}

// StallReading makes the broker stop reading sockets (true) or resume (false): TCP
// backpressure.
func (m *MockBroker) StallReading(stall bool) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_stall_reading(h, cbool(stall)) })
}

// ForceCatchingUp answers the next n data fetches with CatchingUp.
func (m *MockBroker) ForceCatchingUp(n uint64) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_force_catching_up(h, C.uint64_t(n)) })
}

// SetFetchRateLimit sets the server-wide fetch rate limit in bytes/s (0 = off).
func (m *MockBroker) SetFetchRateLimit(bytesPerSec uint64) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t {
		return C.lnc_mock_set_fetch_rate_limit(h, C.uint64_t(bytesPerSec))
	})
}

// Restart cuts connections, forgets subscriptions and runs the restart recovery scan,
// keeping data.
func (m *MockBroker) Restart() error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_restart(h) })
}

// SetWriteOnly switches the server's write_only quirk (disables ingest auth).
func (m *MockBroker) SetWriteOnly(on bool) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_set_write_only(h, cbool(on)) })
}

// TruncateFront drops n bytes from the front of a topic's log (a retention shift).
func (m *MockBroker) TruncateFront(topic uint32, n uint64) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t {
		return C.lnc_mock_truncate_front(h, C.uint32_t(topic), C.uint64_t(n))
	})
}

// FailNextIngests answers the next n ingests with an ErrorResponse of text (e.g.
// "FORWARD_FAILED: quorum lost" or "NOT_LEADER: redirect to host:port"); store also stores
// them.
func (m *MockBroker) FailNextIngests(n uint64, text string, store bool) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t {
		ct := C.CString(text)
		defer C.free(unsafe.Pointer(ct))
		return C.lnc_mock_fail_next_ingests(h, C.uint64_t(n), ct, cbool(store))
	})
}

// FailNextRequests answers the next n control requests (fetches included) with an
// ErrorResponse of text.
func (m *MockBroker) FailNextRequests(n uint64, text string) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t {
		ct := C.CString(text)
		defer C.free(unsafe.Pointer(ct))
		return C.lnc_mock_fail_next_requests(h, C.uint64_t(n), ct)
	})
}

// RequireToken requires token for ingests ("" = no authentication).
func (m *MockBroker) RequireToken(token string) error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t {
		if token == "" {
			return C.lnc_mock_require_token(h, nil)
		}
		ct := C.CString(token)
		defer C.free(unsafe.Pointer(ct))
		return C.lnc_mock_require_token(h, ct)
	})
}

// CreateTopic creates a topic directly and returns its id (TOPIC_EXISTS / INVALID_NAME with
// the server's own text, as the server would answer).
func (m *MockBroker) CreateTopic(name string) (uint32, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.h == nil {
		return 0, closedError("mock broker")
	}
	var id C.uint32_t
	var cerr *C.lnc_error_t
	if err := errorFrom(C.lnc_mock_create_topic(m.h, cn, &id, &cerr), cerr); err != nil {
		return 0, err
	}
	return uint32(id), nil
}

// Stats returns the broker's counters.
func (m *MockBroker) Stats() (MockStats, error) {
	var s C.lnc_mock_stats_t
	err := m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_stats(h, &s) })
	return MockStats{
		ConnectionsAccepted: uint64(s.connections_accepted),
		ConnectionsOpen:     uint64(s.connections_open),
		FramesReceived:      uint64(s.frames_received),
		FatalCloses:         uint64(s.fatal_closes),
		IngestsReceived:     uint64(s.ingests_received),
		IngestsStored:       uint64(s.ingests_stored),
		BytesStored:         uint64(s.bytes_stored),
		AcksSent:            uint64(s.acks_sent),
		AcksDropped:         uint64(s.acks_dropped),
		ErrorsSent:          uint64(s.errors_sent),
		KeepalivesAnswered:  uint64(s.keepalives_answered),
		ControlRequests:     uint64(s.control_requests),
		FetchesServed:       uint64(s.fetches_served),
	}, err
}

// TopicSize returns the size in bytes of a topic's stored log (UNKNOWN_TOPIC if none).
func (m *MockBroker) TopicSize(topic uint32) (uint64, error) {
	var n C.uint64_t
	err := m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_topic_size(h, C.uint32_t(topic), &n) })
	return uint64(n), err
}

// Stop stops the broker (idempotent): closes every connection and joins its threads. The
// handle stays valid (Stats, TopicSize) until Close.
func (m *MockBroker) Stop() error {
	return m.call(func(h *C.lnc_mock_t) C.lnc_err_t { return C.lnc_mock_stop(h) })
}

// Close stops and frees the broker (idempotent).
func (m *MockBroker) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		C.lnc_mock_free(m.h)
		m.h = nil
		m.mu.Unlock()
	})
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

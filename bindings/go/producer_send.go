package lnc

// The producer's calls into liblnc: every wait (buffer space, acknowledgement, topic-name
// lookup) happens inside liblnc, bounded by the configuration or the call's timeout and ended
// by a cancel token fired with the context. The binding has no wait or retry loop of its own.

/*
#include <stdlib.h>
#include <stdint.h>
#include "lnc.h"

// The opaque travels as an integer id: converting it to a pointer happens here in C so that
// Go never holds a non-pointer in a pointer-typed value. The result comes back by value so that
// no Go variable's address escapes per record.
typedef struct {
	lnc_err_t rc;
	lnc_error_t *err;
	uint64_t batch_id;
} lnc_go_send_result;

static lnc_message_t lnc_go_message(uint8_t type, uint16_t ext, const uint8_t *key, size_t key_len,
		const uint8_t *value, size_t value_len, uint64_t ts, uint64_t opaque) {
	lnc_message_t m;
	m.record_type = type;
	m.ext_type = ext;
	m.key = key;
	m.key_len = key_len;
	m.value = value;
	m.value_len = value_len;
	m.timestamp_ns = ts;
	m.opaque = (void *)(uintptr_t)opaque;
	return m;
}

static lnc_go_send_result lnc_go_send(const lnc_producer_t *p, uint32_t topic, const char *name,
		uint8_t type, uint16_t ext, const uint8_t *key, size_t key_len, const uint8_t *value,
		size_t value_len, uint64_t ts, uint64_t opaque, int32_t timeout_ms, const lnc_cancel_t *cancel) {
	lnc_go_send_result r = {0};
	lnc_message_t m = lnc_go_message(type, ext, key, key_len, value, value_len, ts, opaque);
	lnc_send_options_t o = {name, timeout_ms, cancel};
	r.rc = lnc_producer_send_with_options(p, topic, &m, 1, &o, NULL, &r.err);
	return r;
}

// Appends n records whose messages (and bytes) the caller put in C memory; the opaque ids come
// as integers and become the messages' opaque pointers here.
static lnc_go_send_result lnc_go_send_batch(const lnc_producer_t *p, uint32_t topic, const char *name,
		lnc_message_t *msgs, const uint64_t *opaques, size_t n, int32_t timeout_ms,
		const lnc_cancel_t *cancel) {
	lnc_go_send_result r = {0};
	for (size_t i = 0; i < n; i++) {
		msgs[i].opaque = (void *)(uintptr_t)opaques[i];
	}
	lnc_send_options_t o = {name, timeout_ms, cancel};
	r.rc = lnc_producer_send_with_options(p, topic, msgs, n, &o, NULL, &r.err);
	return r;
}

static lnc_go_send_result lnc_go_send_sync(const lnc_producer_t *p, uint32_t topic, const char *name,
		uint8_t type, uint16_t ext, const uint8_t *key, size_t key_len, const uint8_t *value,
		size_t value_len, uint64_t ts, const lnc_cancel_t *cancel, int32_t timeout_ms) {
	lnc_go_send_result r = {0};
	lnc_message_t m = lnc_go_message(type, ext, key, key_len, value, value_len, ts, 0);
	lnc_send_options_t o = {name, -1, cancel};
	r.rc = lnc_producer_send_sync(p, topic, &m, &o, timeout_ms, &r.batch_id, &r.err);
	return r;
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// dest is where records go: a topic id, or a name liblnc resolves (topic id 0 + topic_name).
type dest struct {
	id     uint32
	name   string
	byName bool
}

func byID(id uint32) dest     { return dest{id: id} }
func byName(name string) dest { return dest{name: name, byName: true} }

// cName is the topic name as liblnc takes it (NULL when by id); free with freeName. A C string
// cannot carry a NUL byte, so such a name is refused here instead of being cut short.
func (d dest) cName() (*C.char, error) {
	if !d.byName {
		return nil, nil
	}
	return cTopicName(d.name)
}

func cTopicName(name string) (*C.char, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, &Error{Code: CodeInvalidName, Message: fmt.Sprintf("topic name %q contains a NUL byte", name)}
	}
	return C.CString(name), nil
}

func freeName(c *C.char) {
	if c != nil {
		C.free(unsafe.Pointer(c))
	}
}

// sendResult converts a send's outcome (freeing its details).
func sendResult(ctx context.Context, rc C.lnc_err_t, cerr *C.lnc_error_t) error {
	if rc == C.LNC_ERR_OK {
		if cerr != nil {
			C.lnc_error_free(cerr)
		}
		return nil
	}
	if rc == C.LNC_ERR_CLOSED && cerr == nil {
		return closedError("producer")
	}
	return withCtx(ctx, errorFrom(rc, cerr))
}

// sendRecord makes one lnc_producer_send_with_options call for r.
func (p *Producer) sendRecord(topic uint32, name *C.char, r *Record, id uint64, ms C.int32_t, tok *C.lnc_cancel_t) C.lnc_go_send_result {
	var key, val *C.uint8_t
	if r.Key != nil {
		key = bytesPtr(r.Key)
	}
	if len(r.Value) > 0 {
		val = bytesPtr(r.Value)
	}
	p.accepted.Add(1) // before the call: a report can never be counted before its record
	res := C.lnc_go_send(p.h, C.uint32_t(topic), name, C.uint8_t(r.Type), C.uint16_t(r.ExtType),
		key, C.size_t(len(r.Key)), val, C.size_t(len(r.Value)), C.uint64_t(r.Timestamp), C.uint64_t(id), ms, tok)
	runtime.KeepAlive(p) // the handle is freed by a finalizer once p is unreachable
	if res.rc != C.LNC_ERR_OK {
		p.accepted.Add(-1)
	}
	return res
}

// send appends r to its destination (by id or by name): liblnc waits for buffer space as
// configured (send.block, send.timeout.ms) and until ctx ends.
//
// With a context that can end, the record first goes with "never wait": only when the buffer
// is full does the call bind a cancel token to ctx and make the waiting call. Binding a token
// for every record (AfterFunc registration, two cgo calls, allocations) made Produce about five
// times slower (BenchmarkProduceCancellableContext: ~3.5 µs instead of ~0.7 µs per record).
// A name liblnc has not resolved yet may need a lookup, which only a token can end, so a name
// skips the "never wait" attempt until a send to it succeeded (liblnc caches names for the
// handle's life; the set below only remembers which ones it has seen succeed).
func (p *Producer) send(ctx context.Context, to dest, r *Record, id uint64) error {
	topic := to.id
	cname, err := to.cName()
	if err != nil {
		return err
	}
	defer freeName(cname)
	if ctx.Done() == nil {
		res := p.sendRecord(topic, cname, r, id, -1, nil)
		return p.sent(ctx, to, res.rc, res.err)
	}
	if !to.byName || p.nameResolved(to.name) {
		res := p.sendRecord(topic, cname, r, id, 0, nil)
		if res.rc != C.LNC_ERR_QUEUE_FULL {
			return p.sent(ctx, to, res.rc, res.err)
		}
		if res.err != nil {
			C.lnc_error_free(res.err)
		}
	}
	tok, err := bindCancel(ctx)
	if err != nil {
		return err
	}
	defer tok.release()
	res := p.sendRecord(topic, cname, r, id, -1, tok.ptr())
	return p.sent(ctx, to, res.rc, res.err)
}

// sent converts a send's outcome and remembers a name liblnc resolved.
func (p *Producer) sent(ctx context.Context, to dest, rc C.lnc_err_t, cerr *C.lnc_error_t) error {
	if rc == C.LNC_ERR_OK && to.byName && !p.nameResolved(to.name) {
		p.resolvedNames.Store(to.name, struct{}{})
	}
	return sendResult(ctx, rc, cerr)
}

func (p *Producer) nameResolved(name string) bool {
	_, ok := p.resolvedNames.Load(name)
	return ok
}

// sendBatch appends n records (messages and bytes in C memory) atomically, waiting like send.
func (p *Producer) sendBatch(ctx context.Context, to dest, msgs *C.lnc_message_t, opaques []uint64, n int) error {
	topic := to.id
	cname, err := to.cName()
	if err != nil {
		return err
	}
	defer freeName(cname)
	call := func(ms C.int32_t, tok *C.lnc_cancel_t) C.lnc_go_send_result {
		p.accepted.Add(int64(n))
		res := C.lnc_go_send_batch(p.h, C.uint32_t(topic), cname, msgs, (*C.uint64_t)(unsafe.Pointer(&opaques[0])), C.size_t(n), ms, tok)
		runtime.KeepAlive(p)
		if res.rc != C.LNC_ERR_OK {
			p.accepted.Add(-int64(n))
		}
		return res
	}
	if ctx.Done() == nil {
		res := call(-1, nil)
		return p.sent(ctx, to, res.rc, res.err)
	}
	if !to.byName || p.nameResolved(to.name) { // as in send
		res := call(0, nil)
		if res.rc != C.LNC_ERR_QUEUE_FULL {
			return p.sent(ctx, to, res.rc, res.err)
		}
		if res.err != nil {
			C.lnc_error_free(res.err)
		}
	}
	tok, err := bindCancel(ctx)
	if err != nil {
		return err
	}
	defer tok.release()
	res := call(-1, tok.ptr())
	return p.sent(ctx, to, res.rc, res.err)
}

// sendSync is lnc_producer_send_sync: liblnc waits for space and for the acknowledgement,
// bounded by ctx's deadline and ended by its cancellation.
func (p *Producer) sendSync(ctx context.Context, to dest, r *Record) (uint64, error) {
	topic := to.id
	cname, err := to.cName()
	if err != nil {
		return 0, err
	}
	defer freeName(cname)
	tok, err := bindCancel(ctx)
	if err != nil {
		return 0, err
	}
	defer tok.release()
	var key, val *C.uint8_t
	if r.Key != nil {
		key = bytesPtr(r.Key)
	}
	if len(r.Value) > 0 {
		val = bytesPtr(r.Value)
	}
	res := C.lnc_go_send_sync(p.h, C.uint32_t(topic), cname, C.uint8_t(r.Type), C.uint16_t(r.ExtType),
		key, C.size_t(len(r.Key)), val, C.size_t(len(r.Value)), C.uint64_t(r.Timestamp), tok.ptr(), deadlineMs(ctx))
	runtime.KeepAlive(p)
	if err := p.sent(ctx, to, res.rc, res.err); err != nil {
		return 0, err
	}
	return uint64(res.batch_id), nil
}

// topicID is lnc_producer_topic_id: the producer's cache, the server on a miss.
func (p *Producer) topicID(ctx context.Context, name string) (uint32, error) {
	cname, err := cTopicName(name)
	if err != nil {
		return 0, err
	}
	defer freeName(cname)
	tok, err := bindCancel(ctx)
	if err != nil {
		return 0, err
	}
	defer tok.release()
	var id C.uint32_t
	var cerr *C.lnc_error_t
	rc := C.lnc_producer_topic_id(p.h, cname, deadlineMs(ctx), tok.ptr(), &id, &cerr)
	runtime.KeepAlive(p)
	if err := p.sent(ctx, byName(name), rc, cerr); err != nil {
		return 0, err
	}
	return uint32(id), nil
}

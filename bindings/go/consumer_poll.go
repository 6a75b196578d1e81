package lnc

// Polling into buffers the binding owns (lnc_consumer_poll_into): liblnc copies the records
// into a reused C buffer, so a poll allocates nothing in liblnc; Poll then copies them into Go
// memory and PollFunc lends them to its callback.

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"strconv"
	"sync"
	"unsafe"
)

const (
	// pollBufSize is the record bytes one poll buffer holds. A poll whose first record is
	// larger falls back to lnc_consumer_poll (liblnc allocates for that poll only).
	pollBufSize = 1 << 20
	// maxPollViews bounds the record views of one buffer (max.poll.records beyond it only
	// means several polls).
	maxPollViews = 4096
	// idlePollBufs is how many buffers stay allocated for the next polls (one per concurrent
	// Poll is allocated on demand; buffers beyond this are freed after use).
	idlePollBufs = 4
)

// pollBuf is one poll's C memory: record bytes and their views.
type pollBuf struct {
	data  *C.uint8_t
	views *C.lnc_record_view_t
}

// pollBuffers is the consumer's free list of poll buffers, freed with the consumer (after the
// last call returned its buffer).
type pollBuffers struct {
	mu    sync.Mutex
	views int // views per buffer
	idle  []*pollBuf
}

// pollViews is the views per buffer for cf: max.poll.records, at most maxPollViews.
func pollViews(cf *conf) int {
	n := 500
	if s, err := cf.get("max.poll.records"); err == nil {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	return min(n, maxPollViews)
}

func (b *pollBuffers) get() *pollBuf {
	b.mu.Lock()
	if n := len(b.idle); n > 0 {
		pb := b.idle[n-1]
		b.idle = b.idle[:n-1]
		b.mu.Unlock()
		return pb
	}
	b.mu.Unlock()
	return &pollBuf{
		data:  (*C.uint8_t)(C.malloc(pollBufSize)),
		views: (*C.lnc_record_view_t)(C.malloc(C.size_t(b.views) * C.size_t(unsafe.Sizeof(C.lnc_record_view_t{})))),
	}
}

func (b *pollBuffers) put(pb *pollBuf) {
	b.mu.Lock()
	if len(b.idle) < idlePollBufs {
		b.idle = append(b.idle, pb)
		pb = nil
	}
	b.mu.Unlock()
	if pb != nil {
		pb.release()
	}
}

// free releases the idle buffers (every buffer is idle once no call uses the consumer).
func (b *pollBuffers) free() {
	b.mu.Lock()
	idle := b.idle
	b.idle = nil
	b.mu.Unlock()
	for _, pb := range idle {
		pb.release()
	}
}

func (pb *pollBuf) release() {
	C.free(unsafe.Pointer(pb.data))
	C.free(unsafe.Pointer(pb.views))
}

// pollInto runs lnc_consumer_poll_into into pb. tooLarge reports that the first record does
// not fit (nothing was consumed).
func (c *Consumer) pollInto(ms C.int32_t, pb *pollBuf) (n int, tooLarge bool, err error) {
	if pb.data == nil || pb.views == nil {
		return 0, false, &Error{Code: CodeIO, Message: "out of memory for the poll buffer"}
	}
	var count C.size_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_poll_into(c.h, ms, pb.data, pollBufSize, pb.views, C.size_t(c.bufs.views), &count, &cerr)
	switch rc {
	case C.LNC_ERR_OK:
		return int(count), false, nil
	case C.LNC_ERR_MSG_TOO_LARGE:
		if cerr != nil {
			C.lnc_error_free(cerr)
		}
		return 0, true, nil
	}
	return 0, false, c.wrapStoreErr(errorFrom(rc, cerr))
}

// pollOnce waits up to ms and returns the records copied into Go memory.
func (c *Consumer) pollOnce(ms C.int32_t) ([]Record, error) {
	if !c.ref.acquire() {
		return nil, closedError("consumer")
	}
	defer c.ref.release()
	pb := c.bufs.get()
	defer c.bufs.put(pb)
	n, tooLarge, err := c.pollInto(ms, pb)
	if err != nil {
		return nil, err
	}
	if tooLarge {
		return c.pollAllocated()
	}
	return copyRecords(pb.views, n), nil
}

// pollAllocated takes the records at hand with lnc_consumer_poll (for a record larger than a
// poll buffer).
func (c *Consumer) pollAllocated() ([]Record, error) {
	var recs *C.lnc_records_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_poll(c.h, 0, &recs, &cerr)
	if rc != C.LNC_ERR_OK {
		C.lnc_records_free(recs)
		return nil, c.wrapStoreErr(errorFrom(rc, cerr))
	}
	defer C.lnc_records_free(recs)
	return copyRecords(C.lnc_records_views(recs), int(C.lnc_records_count(recs))), nil
}

// pollBorrowed waits up to ms and lends each record to fn.
func (c *Consumer) pollBorrowed(ms C.int32_t, fn func(r *Record)) (int, error) {
	if !c.ref.acquire() {
		return 0, closedError("consumer")
	}
	defer c.ref.release()
	pb := c.bufs.get()
	defer c.bufs.put(pb)
	n, tooLarge, err := c.pollInto(ms, pb)
	if err != nil {
		return 0, err
	}
	views := pb.views
	if tooLarge {
		var recs *C.lnc_records_t
		var cerr *C.lnc_error_t
		rc := C.lnc_consumer_poll(c.h, 0, &recs, &cerr)
		if rc != C.LNC_ERR_OK {
			C.lnc_records_free(recs)
			return 0, c.wrapStoreErr(errorFrom(rc, cerr))
		}
		defer C.lnc_records_free(recs)
		views, n = C.lnc_records_views(recs), int(C.lnc_records_count(recs))
	}
	if n == 0 {
		return 0, nil
	}
	vs := unsafe.Slice(views, n)
	var r Record
	for i := range vs {
		borrowRecord(&vs[i], &r)
		fn(&r)
	}
	return n, nil
}

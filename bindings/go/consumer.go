package lnc

/*
#include <stdint.h>
#include "lnc.h"

extern int lncGoOffsetLoad(uint32_t topic, uint64_t *offset, uintptr_t h);
extern int lncGoOffsetSave(uint32_t topic, uint64_t offset, uintptr_t h);

static int lnc_go_load_tramp(uint32_t topic, uint64_t *offset, void *opaque) {
	return lncGoOffsetLoad(topic, offset, (uintptr_t)opaque);
}
static int lnc_go_save_tramp(uint32_t topic, uint64_t offset, void *opaque) {
	return lncGoOffsetSave(topic, offset, (uintptr_t)opaque);
}
static lnc_err_t lnc_go_consumer_new_with_store(lnc_conf_t *conf, uintptr_t h,
		lnc_consumer_t **out, lnc_error_t **err) {
	return lnc_consumer_new_with_store(conf, lnc_go_load_tramp, lnc_go_save_tramp, (void *)h, -1, out, err);
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// OffsetStore is a user offset store (lnc_consumer_new_with_store). Load is called while the
// consumer is created; Save on Commit, on auto-commit inside Poll, and on Close, on the
// goroutine making that call. Errors and panics make the liblnc call fail with an IO error
// that wraps them (errors.Is works with both).
type OffsetStore interface {
	// Load returns the stored offset of topic and true, or false when none is stored.
	Load(topic uint32) (offset uint64, ok bool, err error)
	// Save stores offset for topic.
	Save(topic uint32, offset uint64) error
}

// MemoryOffsetStore is a concurrency-safe in-memory OffsetStore (for tests and examples).
type MemoryOffsetStore struct {
	mu sync.Mutex
	m  map[uint32]uint64
}

// Load implements OffsetStore.
func (s *MemoryOffsetStore) Load(topic uint32) (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.m[topic]
	return off, ok, nil
}

// Save implements OffsetStore.
func (s *MemoryOffsetStore) Save(topic uint32, offset uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[uint32]uint64)
	}
	s.m[topic] = offset
	return nil
}

// Whence selects where Seek moves to.
type Whence int

// Seek origins (lnc_seek_t).
const (
	SeekBeginning Whence = C.LNC_SEEK_BEGINNING // offset 0
	SeekEnd       Whence = C.LNC_SEEK_END       // the current end of the topic
	SeekOffset    Whence = C.LNC_SEEK_OFFSET    // the given byte offset (a record boundary)
)

// Consumer consumes one topic ("topic" or "topic.id" in its Config). Safe for concurrent use.
type Consumer struct {
	ref     handleRef
	h       *C.lnc_consumer_t
	topic   uint32
	reqTime time.Duration

	handle   cgo.Handle // user store state, 0 without one
	cbGID    atomic.Uint64
	storeMu  sync.Mutex
	storeErr error

	closeOnce sync.Once
	closeErr  error
}

// NewConsumer creates a consumer from cfg: it resolves the topic, loads the stored offset
// (offset.dir + consumer.name: a file store compatible with the official Rust client, else
// memory) and starts fetching. It blocks up to request.timeout.ms.
func NewConsumer(cfg Config) (*Consumer, error) {
	return newConsumer(cfg, nil)
}

// NewConsumerWithStore is NewConsumer with a user offset store.
func NewConsumerWithStore(cfg Config, store OffsetStore) (*Consumer, error) {
	if store == nil {
		return nil, &Error{Code: CodeInvalidArg, Message: "store is nil"}
	}
	return newConsumer(cfg, store)
}

func newConsumer(cfg Config, store OffsetStore) (*Consumer, error) {
	cf, err := newConf(cfg)
	if err != nil {
		return nil, err
	}
	defer cf.free()
	c := &Consumer{reqTime: cf.getDuration("request.timeout.ms", 30*time.Second)}
	var h *C.lnc_consumer_t
	var cerr *C.lnc_error_t
	var rc C.lnc_err_t
	if store != nil {
		st := &storeState{store: store, inCB: c.markCallback, lastErr: c.setStoreErr}
		c.handle = cgo.NewHandle(st)
		rc = C.lnc_go_consumer_new_with_store(cf.c, C.uintptr_t(c.handle), &h, &cerr)
	} else {
		rc = C.lnc_consumer_new(cf.c, -1, &h, &cerr)
	}
	if rc != C.LNC_ERR_OK {
		err := c.wrapStoreErr(errorFrom(rc, cerr))
		if c.handle != 0 {
			c.handle.Delete()
		}
		return nil, err
	}
	cf.taken()
	c.h = h
	c.topic = uint32(C.lnc_consumer_topic_id(h))
	c.ref.free = func() {
		C.lnc_consumer_free(c.h)
		if c.handle != 0 {
			c.handle.Delete()
		}
	}
	return c, nil
}

func (c *Consumer) markCallback(enter bool) {
	if enter {
		c.cbGID.Store(goid())
	} else {
		c.cbGID.Store(0)
	}
}

func (c *Consumer) setStoreErr(err error) {
	c.storeMu.Lock()
	c.storeErr = err
	c.storeMu.Unlock()
}

// wrapStoreErr attaches the user store's error to liblnc's error about it.
func (c *Consumer) wrapStoreErr(err error) error {
	if err == nil || c.handle == 0 {
		return err
	}
	c.storeMu.Lock()
	se := c.storeErr
	c.storeErr = nil
	c.storeMu.Unlock()
	if se == nil {
		return err
	}
	return fmt.Errorf("%w: %w", err, se)
}

func (c *Consumer) guard(what string) error {
	if g := c.cbGID.Load(); g != 0 && g == goid() {
		return &Error{Code: CodeInCallback, Message: what + " called from inside this consumer's offset store callback"}
	}
	return nil
}

// TopicID is the id of the topic being consumed.
func (c *Consumer) TopicID() uint32 { return c.topic }

// Poll waits until records are available or ctx ends and returns up to max.poll.records of
// them, copied into Go memory. An error the consumer met (OFFSET_OUT_OF_RANGE,
// CORRUPT_RECORD, UNKNOWN_TOPIC, TRANSPORT …) is returned after every record that precedes
// it. When ctx ends first it returns (nil, ctx.Err()).
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
	if err := c.guard("Poll"); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := c.pollOnce(sliceMs(ctx, pollSlice))
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
}

// TryPoll is Poll with an explicit wait of at most d (0 = no wait): an empty result is not
// an error.
func (c *Consumer) TryPoll(d time.Duration) ([]Record, error) {
	if err := c.guard("TryPoll"); err != nil {
		return nil, err
	}
	ms := C.int32_t(d / time.Millisecond)
	return c.pollOnce(ms)
}

func (c *Consumer) pollOnce(ms C.int32_t) ([]Record, error) {
	if !c.ref.acquire() {
		return nil, closedError("consumer")
	}
	defer c.ref.release()
	var recs *C.lnc_records_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_poll(c.h, ms, &recs, &cerr)
	if rc != C.LNC_ERR_OK {
		C.lnc_records_free(recs)
		return nil, c.wrapStoreErr(errorFrom(rc, cerr))
	}
	n := int(C.lnc_records_count(recs))
	out := copyRecords(C.lnc_records_views(recs), n)
	C.lnc_records_free(recs)
	return out, nil
}

// PollFunc is the zero-copy variant of Poll: it waits like Poll, then calls fn for each
// record with byte slices (Key, Value, Raw) that borrow liblnc's memory and are valid only
// until fn returns; use Record.Clone to keep one. It returns how many records were passed.
// fn runs on the calling goroutine; a panic in fn propagates after the batch is freed.
func (c *Consumer) PollFunc(ctx context.Context, fn func(r *Record)) (int, error) {
	if err := c.guard("PollFunc"); err != nil {
		return 0, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := c.pollBorrowed(sliceMs(ctx, pollSlice), fn)
		if err != nil || n > 0 {
			return n, err
		}
	}
}

func (c *Consumer) pollBorrowed(ms C.int32_t, fn func(r *Record)) (int, error) {
	if !c.ref.acquire() {
		return 0, closedError("consumer")
	}
	defer c.ref.release()
	var recs *C.lnc_records_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_poll(c.h, ms, &recs, &cerr)
	if rc != C.LNC_ERR_OK {
		C.lnc_records_free(recs)
		return 0, c.wrapStoreErr(errorFrom(rc, cerr))
	}
	defer C.lnc_records_free(recs)
	n := int(C.lnc_records_count(recs))
	if n == 0 {
		return 0, nil
	}
	views := unsafe.Slice(C.lnc_records_views(recs), n)
	var r Record
	for i := range views {
		borrowRecord(&views[i], &r)
		fn(&r)
	}
	return n, nil
}

// Records returns a channel of consumed records fed by a goroutine that polls until ctx ends
// or an error occurs; the error (nil when ctx ended) is sent on the second channel, then both
// are closed. Stop it by cancelling ctx; do not mix with concurrent Poll calls.
func (c *Consumer) Records(ctx context.Context) (<-chan Record, <-chan error) {
	out := make(chan Record, 256)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		defer close(errc)
		for {
			recs, err := c.Poll(ctx)
			for _, r := range recs {
				select {
				case out <- r:
				case <-ctx.Done():
					errc <- nil
					return
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	return out, errc
}

// Seek moves the position (queued records of the old position are dropped) and returns the
// new position. SeekEnd asks the server for the tail.
func (c *Consumer) Seek(ctx context.Context, whence Whence, offset uint64) (uint64, error) {
	if err := c.guard("Seek"); err != nil {
		return 0, err
	}
	return runCall(ctx, func() (uint64, error) {
		if !c.ref.acquire() {
			return 0, closedError("consumer")
		}
		defer c.ref.release()
		var pos C.uint64_t
		var cerr *C.lnc_error_t
		rc := C.lnc_consumer_seek(c.h, C.int(whence), C.uint64_t(offset), -1, &pos, &cerr)
		return uint64(pos), errorFrom(rc, cerr)
	})
}

// Commit stores the position (just past the last record handed out) in the offset store and
// returns it.
func (c *Consumer) Commit(ctx context.Context) (uint64, error) {
	if err := c.guard("Commit"); err != nil {
		return 0, err
	}
	return runCall(ctx, func() (uint64, error) {
		if !c.ref.acquire() {
			return 0, closedError("consumer")
		}
		defer c.ref.release()
		var off C.uint64_t
		var cerr *C.lnc_error_t
		rc := C.lnc_consumer_commit(c.h, -1, &off, &cerr)
		return uint64(off), c.wrapStoreErr(errorFrom(rc, cerr))
	})
}

// Lag returns the bytes between the position and the topic's end (asking the server when the
// cached end is stale).
func (c *Consumer) Lag(ctx context.Context) (uint64, error) {
	if err := c.guard("Lag"); err != nil {
		return 0, err
	}
	return runCall(ctx, func() (uint64, error) {
		if !c.ref.acquire() {
			return 0, closedError("consumer")
		}
		defer c.ref.release()
		var lag C.uint64_t
		var cerr *C.lnc_error_t
		rc := C.lnc_consumer_lag(c.h, -1, &lag, &cerr)
		return uint64(lag), errorFrom(rc, cerr)
	})
}

// Position returns the offset just past the last record handed out (a record boundary).
func (c *Consumer) Position() (uint64, error) {
	if !c.ref.acquire() {
		return 0, closedError("consumer")
	}
	defer c.ref.release()
	var pos C.uint64_t
	if rc := C.lnc_consumer_position(c.h, &pos); rc != C.LNC_ERR_OK {
		return 0, codeError(Code(rc))
	}
	return uint64(pos), nil
}

// consumerCloseTimeout bounds the join of liblnc's fetch thread in Close.
const consumerCloseTimeout = 5 * time.Second

// Close stops fetching, makes the final auto-commit (enable.auto.commit) and releases the
// consumer. Idempotent and bounded (5 s for liblnc's fetch thread, plus the final commit);
// calls abandoned by a cancelled context keep the handle alive until they return, and new
// calls fail with CLOSED. From inside the offset store's callbacks it returns IN_CALLBACK and
// does nothing.
func (c *Consumer) Close() error {
	if err := c.guard("Close"); err != nil {
		return err
	}
	c.closeOnce.Do(func() {
		var rc C.lnc_err_t
		if c.ref.acquire() {
			rc = C.lnc_consumer_close(c.h, C.int32_t(consumerCloseTimeout/time.Millisecond))
			c.ref.release()
		}
		c.ref.close()
		c.closeErr = c.wrapStoreErr(codeError(Code(rc)))
	})
	return c.closeErr
}

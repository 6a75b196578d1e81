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
static lnc_err_t lnc_go_consumer_new_with_store(lnc_conf_t *conf, uintptr_t h, int32_t timeout_ms,
		lnc_consumer_t **out, lnc_error_t **err) {
	return lnc_consumer_new_with_store(conf, lnc_go_load_tramp, lnc_go_save_tramp, (void *)h, timeout_ms, out, err);
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
	"sync"
	"time"
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
//
// Calls run on the calling goroutine, so a user OffsetStore runs there too and liblnc itself
// refuses calls made from inside it (IN_CALLBACK). Calls that ask the server (NewConsumer,
// Seek to the end, Commit waiting for another commit, Lag) take their timeout from ctx's
// deadline, bounded by request.timeout.ms; liblnc offers no cancellation for them, so a ctx
// cancelled without a deadline is noticed when the call starts, and the call ends within
// request.timeout.ms.
type Consumer struct {
	ref     handleRef
	h       *C.lnc_consumer_t
	topic   uint32
	reqTime time.Duration
	bufs    pollBuffers

	handle   cgo.Handle // user store state, 0 without one
	storeMu  sync.Mutex
	storeErr error

	closeErr error // the error of the liblnc close that did the work (guarded by storeMu)

	events *eventPump
	logs   *logSink
}

// NewConsumer creates a consumer from cfg: it resolves the topic, loads the stored offset
// (offset.dir + consumer.name: a file store compatible with the official Rust client, else
// memory) and starts fetching. Its server calls share one timeout: ctx's deadline, bounded by
// request.timeout.ms (an error caused by the deadline matches ctx's error too).
func NewConsumer(ctx context.Context, cfg Config, opts ...ConsumerOption) (*Consumer, error) {
	return newConsumer(ctx, cfg, nil, opts)
}

// NewConsumerWithStore is NewConsumer with a user offset store (its Load runs inside this call,
// on the calling goroutine).
func NewConsumerWithStore(ctx context.Context, cfg Config, store OffsetStore, opts ...ConsumerOption) (*Consumer, error) {
	if store == nil {
		return nil, &Error{Code: CodeInvalidArg, Message: "store is nil"}
	}
	return newConsumer(ctx, cfg, store, opts)
}

func newConsumer(ctx context.Context, cfg Config, store OffsetStore, opts []ConsumerOption) (*Consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o consumerOptions
	for _, opt := range opts {
		opt.applyConsumer(&o)
	}
	cf, err := newConf(cfg)
	if err != nil {
		return nil, err
	}
	logs, err := newLogSink(cf, cfg, o.handle.logger, "consumer")
	if err != nil {
		cf.free()
		return nil, err
	}
	c := &Consumer{reqTime: cf.getDuration("request.timeout.ms", 30*time.Second), logs: logs}
	c.bufs.views = pollViews(cf)
	ms := callMs(ctx, c.reqTime)
	var h *C.lnc_consumer_t
	var cerr *C.lnc_error_t
	var rc C.lnc_err_t
	if store != nil {
		st := &storeState{store: store, lastErr: c.setStoreErr}
		c.handle = cgo.NewHandle(st)
		rc = C.lnc_go_consumer_new_with_store(cf.c, C.uintptr_t(c.handle), ms, &h, &cerr)
	} else {
		rc = C.lnc_consumer_new(cf.c, ms, &h, &cerr)
	}
	if rc != C.LNC_ERR_OK {
		err := withCtx(ctx, c.wrapStoreErr(errorFrom(rc, cerr)))
		if c.handle != 0 {
			c.handle.Delete()
		}
		cf.free()
		logs.close() // liblnc cannot log for this conf any more
		return nil, err
	}
	cf.taken()
	c.h = h
	c.topic = uint32(C.lnc_consumer_topic_id(h))
	c.ref.free = func() {
		C.lnc_consumer_free(c.h)
		c.bufs.free()
		if c.handle != 0 {
			c.handle.Delete()
		}
		c.logs.close()
	}
	c.events = newEventPump(o.handle.eventBuffer, func(ms C.int32_t, out *C.lnc_event_t, limit C.size_t, n *C.size_t) bool {
		if !c.ref.acquire() {
			return false
		}
		defer c.ref.release()
		return C.lnc_consumer_poll_events(c.h, ms, out, limit, n) == C.LNC_ERR_OK
	})
	return c, nil
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

// TopicID is the id of the topic being consumed.
func (c *Consumer) TopicID() uint32 { return c.topic }

// Poll waits until records are available or ctx ends and returns up to max.poll.records of
// them, copied into Go memory. An error the consumer met (OFFSET_OUT_OF_RANGE,
// CORRUPT_RECORD, UNKNOWN_TOPIC, TRANSPORT …) is returned after every record that precedes
// it. When ctx ends first it returns (nil, ctx.Err()).
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
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

// TryPoll is Poll with an explicit wait of at most d (0 or less = no wait): an empty result is
// not an error.
func (c *Consumer) TryPoll(d time.Duration) ([]Record, error) {
	var ms C.int32_t // liblnc reads a negative timeout as "no limit": never pass one
	if d > 0 {
		ms = durationMs(d)
	}
	return c.pollOnce(ms)
}

// PollFunc is the zero-copy variant of Poll: it waits like Poll, then calls fn for each
// record with byte slices (Key, Value, Raw) that borrow the consumer's poll buffer and are
// valid only until fn returns; use Record.Clone to keep one. It returns how many records were
// passed. fn runs on the calling goroutine; a panic in fn propagates after the buffer is given
// back.
func (c *Consumer) PollFunc(ctx context.Context, fn func(r *Record)) (int, error) {
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
// new position. SeekEnd asks the server for the tail (see Consumer for the timeout).
func (c *Consumer) Seek(ctx context.Context, whence Whence, offset uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !c.ref.acquire() {
		return 0, closedError("consumer")
	}
	defer c.ref.release()
	var pos C.uint64_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_seek(c.h, C.int(whence), C.uint64_t(offset), callMs(ctx, c.reqTime), &pos, &cerr)
	return uint64(pos), withCtx(ctx, errorFrom(rc, cerr))
}

// Commit stores the position (just past the last record handed out) in the offset store and
// returns it. It waits (see Consumer for the timeout) for a commit running on another
// goroutine; the store call itself is not interrupted.
func (c *Consumer) Commit(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !c.ref.acquire() {
		return 0, closedError("consumer")
	}
	defer c.ref.release()
	var off C.uint64_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_commit(c.h, callMs(ctx, c.reqTime), &off, &cerr)
	return uint64(off), withCtx(ctx, c.wrapStoreErr(errorFrom(rc, cerr)))
}

// Lag returns the bytes between the position and the topic's end, asking the server when the
// cached end is stale (see Consumer for the timeout).
func (c *Consumer) Lag(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !c.ref.acquire() {
		return 0, closedError("consumer")
	}
	defer c.ref.release()
	var lag C.uint64_t
	var cerr *C.lnc_error_t
	rc := C.lnc_consumer_lag(c.h, callMs(ctx, c.reqTime), &lag, &cerr)
	return uint64(lag), withCtx(ctx, errorFrom(rc, cerr))
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
// calls fail with CLOSED. From inside the offset store's callbacks it returns IN_CALLBACK (liblnc
// refuses it on the store's thread) and does nothing. When several goroutines call Close at
// once, the one whose call did the work returns its error; the others may return nil.
func (c *Consumer) Close() error {
	if c.ref.acquire() {
		rc := C.lnc_consumer_close(c.h, C.int32_t(consumerCloseTimeout/time.Millisecond))
		c.ref.release()
		if rc == C.LNC_ERR_IN_CALLBACK {
			return &Error{Code: CodeInCallback, Message: "Close called from inside this consumer's offset store callback"}
		}
		if err := c.wrapStoreErr(codeError(Code(rc))); err != nil {
			c.storeMu.Lock()
			c.closeErr = err
			c.storeMu.Unlock()
		}
	}
	c.events.stop() // after liblnc's close: the Events channel gets the close's events too
	c.ref.close()
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	if err := c.logs.takePanic(); err != nil {
		c.closeErr = join(c.closeErr, err)
	}
	return c.closeErr
}

package lnc

/*
#include <stdlib.h>
#include <stdint.h>
#include "lnc.h"

// The opaque travels as an integer id: converting it to a pointer happens here in C so that
// Go never holds a non-pointer in a pointer-typed value.
// The error comes back by value so that no Go variable's address escapes per record.
typedef struct {
	lnc_err_t rc;
	lnc_error_t *err;
} lnc_go_send_result;

static lnc_go_send_result lnc_go_send(const lnc_producer_t *p, uint32_t topic, uint8_t type,
		uint16_t ext, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
		uint64_t ts, uint64_t opaque) {
	lnc_go_send_result r;
	r.err = NULL;
	r.rc = lnc_producer_send_record(p, topic, type, ext, key, key_len, value, value_len, ts,
		(void *)(uintptr_t)opaque, &r.err);
	return r;
}

// Appends n records whose messages (and bytes) the caller put in C memory; the opaque ids come
// as integers and become the messages' opaque pointers here.
static lnc_go_send_result lnc_go_send_batch(const lnc_producer_t *p, uint32_t topic,
		lnc_message_t *msgs, const uint64_t *opaques, size_t n) {
	lnc_go_send_result r;
	r.err = NULL;
	for (size_t i = 0; i < n; i++) {
		msgs[i].opaque = (void *)(uintptr_t)opaques[i];
	}
	r.rc = lnc_producer_send_batch(p, topic, msgs, n, &r.err);
	return r;
}
*/
import "C"

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Report is one accepted record's final outcome: exactly one per record accepted by Produce.
type Report struct {
	// Topic is the record's topic id.
	Topic uint32
	// BatchID is the batch id of the acknowledged (or last) attempt; 0 if never sent.
	BatchID uint64
	// Err is nil when the server acknowledged the record (written and fsynced), else the
	// final *Error (TIMED_OUT, PURGED, UNKNOWN_OUTCOME, UNKNOWN_TOPIC, …).
	Err error
	// Opaque is the Record.Opaque given to Produce.
	Opaque any
}

// ProducerMetrics are liblnc's producer counters (lnc_producer_metrics) plus the binding's.
type ProducerMetrics struct {
	RecordsSent        uint64        // records written to the wire (resends counted again)
	RecordsAcked       uint64        // records acknowledged
	RecordsFailed      uint64        // records with a final error
	BytesSent          uint64        // payload bytes written
	BytesAcked         uint64        // payload bytes acknowledged
	BatchesSent        uint64        // batches written
	BatchesAcked       uint64        // batches acknowledged
	BatchesFailed      uint64        // batches with a final error
	BatchesRetried     uint64        // batch resends
	RecordsRetried     uint64        // records resent
	PossibleDuplicates uint64        // records resent after an unknown outcome
	Connects           uint64        // connections established
	Disconnects        uint64        // connections lost or reset
	ServerErrors       uint64        // ErrorResponses received for ingests
	BatchesCompressed  uint64        // batches sent compressed
	InFlightBatches    uint64        // batches unacknowledged now
	BufferedBytes      uint64        // bytes buffered or in flight now
	OutstandingRecords uint64        // records without a report taken from liblnc now
	AckLatencyP50      time.Duration // median ack latency
	AckLatencyP99      time.Duration // 99th percentile ack latency
	BatchSizeCurrent   uint64        // batch size limit now: batch.size, up to batch.size.max while the in-flight window is full

	// Binding counters.
	Accepted       uint64 // records accepted by Produce / ProduceSync
	Reported       uint64 // reports handed over (channel, callbacks, ProduceSync) or counted
	Acked          uint64 // reports with Err == nil
	Failed         uint64 // reports with an error
	ReportsDropped uint64 // reports not delivered to an unread Reports channel after Close's deadline
	CallbackPanics uint64 // panics recovered from delivery callbacks
}

type producerOptions struct {
	reportCap    int
	deliveryFunc func(Report)
	closeTimeout time.Duration
	maxPending   int64
}

// ProducerOption configures the Go side of a Producer (liblnc settings go in Config).
type ProducerOption func(*producerOptions)

// WithReportChannel enables the Reports channel with the given capacity (≥ 1). Without it,
// reports are only counted (Metrics) and passed to WithDeliveryFunc / ProduceFunc callbacks.
//
// Policy: while the channel is full the binding's dispatch goroutine waits for the reader
// (reports are never dropped while the producer is open; liblnc is never blocked), and
// Produce waits (honouring its context) once WithMaxPending records are accepted but not yet
// reported, so an unread channel bounds memory instead of growing it. After Close's deadline
// the remaining reports of an unread channel are dropped and counted in ReportsDropped, and
// the channel is closed once every report was handed over or dropped.
func WithReportChannel(capacity int) ProducerOption {
	return func(o *producerOptions) {
		if capacity < 1 {
			capacity = 1
		}
		o.reportCap = capacity
	}
}

// WithDeliveryFunc calls f with every report (except ProduceSync's and ProduceFunc's own) on
// the binding's dispatch goroutine, in the order liblnc reports them. f must not block for
// long; panics are recovered and counted. Close, Flush and ProduceSync called from inside f
// (or from a ProduceFunc callback) return an IN_CALLBACK error instead of deadlocking.
func WithDeliveryFunc(f func(Report)) ProducerOption {
	return func(o *producerOptions) { o.deliveryFunc = f }
}

// WithCloseTimeout bounds Close: liblnc flushes for up to d (then purges what is left with
// reports), and an unread Reports channel gets up to d more to be drained. Default 5 s.
func WithCloseTimeout(d time.Duration) ProducerOption {
	return func(o *producerOptions) { o.closeTimeout = d }
}

// WithMaxPending bounds how many records may be accepted but not yet reported while the
// Reports channel is enabled (default 1<<20); Produce waits beyond it.
func WithMaxPending(n int) ProducerOption {
	return func(o *producerOptions) {
		if n > 0 {
			o.maxPending = int64(n)
		}
	}
}

// producerHolder owns the liblnc handle for the finalizer.
type producerHolder struct{ h *C.lnc_producer_t }

// pending is the per-record state kept only for records that need it.
type pending struct {
	opaque any
	sync   chan Report  // ProduceSync's waiter (buffered 1), or nil
	fn     func(Report) // ProduceFunc's callback, or nil
}

type paddedInt64 struct {
	atomic.Int64
	_ [56]byte
}

// Producer produces records asynchronously through liblnc. Safe for concurrent use.
//
// A dispatch goroutine takes delivery reports from liblnc in bulk (lnc_producer_poll_reports)
// so liblnc's report queue never grows; see WithReportChannel for where they go.
type Producer struct {
	h      *C.lnc_producer_t // valid until the holder's finalizer: no lock on the hot path
	holder *producerHolder

	opts        producerOptions
	block       bool
	sendTimeout time.Duration

	accepted paddedInt64
	reported paddedInt64
	acked    atomic.Uint64
	failed   atomic.Uint64
	dropped  atomic.Uint64
	panics   atomic.Uint64

	nextID atomic.Uint64
	pendMu sync.Mutex
	pend   map[uint64]*pending

	reports     chan Report
	progMu      sync.Mutex
	progCh      chan struct{} // closed and replaced after each report batch while waiters > 0
	progWaiters atomic.Int32

	closing      atomic.Bool
	libClosed    atomic.Bool
	abandon      chan struct{}
	dispatchDone chan struct{}
	dispatchGID  atomic.Uint64
	closeOnce    sync.Once
	closeErr     error
}

// NewProducer creates a producer from cfg ("bootstrap.servers", "linger.ms", "batch.size",
// …). It connects in the background: a dead server shows up in reports, not here.
//
// send.block and send.timeout.ms keep their documented meaning, but the binding hands liblnc a
// send.timeout.ms of at most 20 ms and repeats the call until the configured timeout, so that
// Produce honours its context while waiting for buffer space.
func NewProducer(cfg Config, opts ...ProducerOption) (*Producer, error) {
	o := producerOptions{closeTimeout: 5 * time.Second, maxPending: 1 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	cf, err := newConf(cfg)
	if err != nil {
		return nil, err
	}
	defer cf.free()
	p := &Producer{
		opts:         o,
		block:        true,
		sendTimeout:  cf.getDuration("send.timeout.ms", 60*time.Second),
		pend:         make(map[uint64]*pending),
		progCh:       make(chan struct{}),
		abandon:      make(chan struct{}),
		dispatchDone: make(chan struct{}),
	}
	if v, err := cf.get("send.block"); err == nil && v == "false" {
		p.block = false
	}
	if p.sendTimeout <= 0 {
		p.block = false
	}
	// liblnc waits for buffer space itself (precise wakeups), but only for one slice per call:
	// the binding repeats the call, checking ctx, until send.timeout.ms.
	if p.block {
		slice := sendSlice
		if p.sendTimeout < slice {
			slice = p.sendTimeout
		}
		if err := cf.set("send.timeout.ms", strconv.FormatInt(int64(slice/time.Millisecond), 10)); err != nil {
			return nil, err
		}
	} else if err := cf.set("send.block", "false"); err != nil {
		return nil, err
	}
	var h *C.lnc_producer_t
	var cerr *C.lnc_error_t
	if rc := C.lnc_producer_new(cf.c, nil, nil, &h, &cerr); rc != C.LNC_ERR_OK {
		return nil, errorFrom(rc, cerr)
	}
	cf.taken()
	p.h = h
	// liblnc's handle stays valid after Close (calls then fail with CLOSED) and is freed once
	// the Producer is unreachable, so no call ever races with the free and the hot path takes
	// no lock. The holder has no references back, so a Producer in a cycle is still freed.
	p.holder = &producerHolder{h: h}
	runtime.SetFinalizer(p.holder, func(ph *producerHolder) { C.lnc_producer_free(ph.h) })
	if o.reportCap > 0 {
		p.reports = make(chan Report, o.reportCap)
	} else {
		p.reports = make(chan Report)
		close(p.reports)
	}
	go p.dispatch()
	return p, nil
}

// Reports returns the report channel enabled by WithReportChannel; it is closed after Close
// once every report was handed over. Without that option it returns an already closed
// channel.
func (p *Producer) Reports() <-chan Report { return p.reports }

// Produce appends one record to topic's batch (asynchronous). A nil error means liblnc
// accepted the record and exactly one Report will follow; an error means it was not accepted
// (INVALID_ARG, MSG_TOO_LARGE, QUEUE_FULL, CLOSED, the producer's fatal error, or ctx's
// error while waiting for buffer space).
func (p *Producer) Produce(ctx context.Context, topic uint32, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var id uint64
	if r.Opaque != nil {
		id = p.register(&pending{opaque: r.Opaque})
	}
	return p.send(ctx, topic, &r, id)
}

// ProduceBatch appends records to topic's batch atomically: all are accepted (and each gets
// exactly one Report) or none is (the error says why). It costs one cgo call for the whole
// slice, so it is the fastest way to produce many small records; the bytes are copied once
// into C memory for the call.
func (p *Producer) ProduceBatch(ctx context.Context, topic uint32, recs []Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := len(recs)
	if n == 0 {
		return nil
	}
	total := 0
	for i := range recs {
		total += len(recs[i].Key) + len(recs[i].Value)
	}
	msize := C.size_t(n) * C.size_t(unsafe.Sizeof(C.lnc_message_t{}))
	mem := C.calloc(1, msize+C.size_t(total)+1)
	if mem == nil {
		return &Error{Code: CodeIO, Message: "out of memory"}
	}
	defer C.free(mem)
	msgs := unsafe.Slice((*C.lnc_message_t)(mem), n)
	data := unsafe.Slice((*byte)(unsafe.Add(mem, msize)), total+1)
	opaques := make([]uint64, n)
	off := 0
	put := func(b []byte) *C.uint8_t {
		ptr := (*C.uint8_t)(unsafe.Pointer(&data[off]))
		off += copy(data[off:], b)
		return ptr
	}
	for i := range recs {
		r := &recs[i]
		m := &msgs[i]
		m.record_type = C.uint8_t(r.Type)
		m.ext_type = C.uint16_t(r.ExtType)
		m.timestamp_ns = C.uint64_t(r.Timestamp)
		if r.Key != nil {
			m.key_len = C.size_t(len(r.Key))
			m.key = put(r.Key)
		}
		if len(r.Value) > 0 {
			m.value_len = C.size_t(len(r.Value))
			m.value = put(r.Value)
		}
		if r.Opaque != nil {
			opaques[i] = p.register(&pending{opaque: r.Opaque})
		}
	}
	unregisterAll := func() {
		for _, id := range opaques {
			p.unregister(id)
		}
	}
	var deadline time.Time
	for {
		p.accepted.Add(int64(n))
		res := C.lnc_go_send_batch(p.h, C.uint32_t(topic), &msgs[0], (*C.uint64_t)(unsafe.Pointer(&opaques[0])), C.size_t(n))
		runtime.KeepAlive(p)
		if res.rc == C.LNC_ERR_OK {
			return nil
		}
		p.accepted.Add(-int64(n))
		if res.rc != C.LNC_ERR_QUEUE_FULL || !p.block || p.closing.Load() {
			unregisterAll()
			if res.rc == C.LNC_ERR_CLOSED && res.err == nil {
				return closedError("producer")
			}
			return errorFrom(res.rc, res.err)
		}
		if res.err != nil {
			C.lnc_error_free(res.err)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(p.sendTimeout - sendSlice)
		}
		if err := ctx.Err(); err != nil {
			unregisterAll()
			return err
		}
		if !time.Now().Before(deadline) {
			unregisterAll()
			return &Error{Code: CodeQueueFull, Message: "no buffer space within send.timeout.ms"}
		}
	}
}

// ProduceFunc is Produce with a per-record callback: fn receives this record's report (and
// the Reports channel / WithDeliveryFunc do not). fn runs on the dispatch goroutine; panics
// are recovered and counted.
func (p *Producer) ProduceFunc(ctx context.Context, topic uint32, r Record, fn func(Report)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := p.register(&pending{opaque: r.Opaque, fn: fn})
	return p.send(ctx, topic, &r, id)
}

// ProduceSync produces one record and waits for its acknowledgement; it returns the batch id.
// Linger is skipped while it waits. If ctx ends first, it returns ctx's error and the
// record's report is delivered like an asynchronous one (channel / WithDeliveryFunc).
func (p *Producer) ProduceSync(ctx context.Context, topic uint32, r Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := p.guardCallback("ProduceSync"); err != nil {
		return 0, err
	}
	w := make(chan Report, 1)
	pd := &pending{opaque: r.Opaque, sync: w}
	id := p.register(pd)
	if err := p.send(ctx, topic, &r, id); err != nil {
		return 0, err
	}
	for {
		select {
		case rep := <-w:
			return rep.BatchID, rep.Err
		default:
		}
		if ctx.Err() != nil {
			p.pendMu.Lock()
			_, still := p.pend[id]
			if still {
				pd.sync = nil
			}
			p.pendMu.Unlock()
			if !still {
				rep := <-w
				return rep.BatchID, rep.Err
			}
			return 0, ctx.Err()
		}
		// flush sends everything now (no linger) and returns when every record is reported
		// to the binding or after the slice.
		rem, err := p.flushSlice(ctx, 20*time.Millisecond)
		if err != nil && rem < 0 {
			// Closed underneath us: the report still comes (purged or delivered).
			select {
			case rep := <-w:
				return rep.BatchID, rep.Err
			case <-ctx.Done():
			}
			continue
		}
		if rem == 0 {
			select {
			case rep := <-w:
				return rep.BatchID, rep.Err
			case <-ctx.Done():
			case <-time.After(pollSlice):
			}
		}
	}
}

// Flush sends everything buffered now and waits until every accepted record's report was
// handed over (or counted), or ctx ends. It returns how many records remain (0 on success);
// on ctx's end the error is ctx.Err(). From inside a delivery callback: IN_CALLBACK.
func (p *Producer) Flush(ctx context.Context) (int, error) {
	if err := p.guardCallback("Flush"); err != nil {
		return p.remaining(), err
	}
	for {
		rem, err := p.flushSlice(ctx, pollSlice)
		if err != nil {
			return p.remaining(), err
		}
		if rem == 0 {
			ch := p.progress()
			if p.remaining() == 0 {
				p.progDone()
				return 0, nil
			}
			select {
			case <-ch:
			case <-ctx.Done():
			case <-time.After(pollSlice):
			}
			p.progDone()
		}
		if err := ctx.Err(); err != nil {
			return p.remaining(), err
		}
	}
}

// flushSlice calls lnc_producer_flush for at most one slice; rem is liblnc's count of records
// without a queued report (-1 when the handle is gone).
func (p *Producer) flushSlice(ctx context.Context, slice time.Duration) (int, error) {
	if p.closing.Load() {
		return -1, closedError("producer")
	}
	var rem C.size_t
	rc := C.lnc_producer_flush(p.h, sliceMs(ctx, slice), &rem, nil)
	runtime.KeepAlive(p) // the handle is freed by a finalizer once p is unreachable
	if rc != C.LNC_ERR_OK && rc != C.LNC_ERR_TIMED_OUT {
		return -1, codeError(Code(rc))
	}
	return int(rem), nil
}

// Purge fails every record not yet written to the wire with PURGED (reported as usual) and
// returns how many.
func (p *Producer) Purge() (int, error) {
	if p.closing.Load() {
		return 0, closedError("producer")
	}
	var n C.size_t
	rc := C.lnc_producer_purge(p.h, &n)
	runtime.KeepAlive(p)
	if rc != C.LNC_ERR_OK {
		return 0, codeError(Code(rc))
	}
	return int(n), nil
}

// Metrics returns a snapshot of liblnc's counters and the binding's (also after Close).
func (p *Producer) Metrics() ProducerMetrics {
	var m ProducerMetrics
	{
		var c C.lnc_producer_metrics_t
		if C.lnc_producer_metrics(p.h, &c) == C.LNC_ERR_OK {
			m = ProducerMetrics{
				RecordsSent: uint64(c.records_sent), RecordsAcked: uint64(c.records_acked),
				RecordsFailed: uint64(c.records_failed), BytesSent: uint64(c.bytes_sent),
				BytesAcked: uint64(c.bytes_acked), BatchesSent: uint64(c.batches_sent),
				BatchesAcked: uint64(c.batches_acked), BatchesFailed: uint64(c.batches_failed),
				BatchesRetried: uint64(c.batches_retried), RecordsRetried: uint64(c.records_retried),
				PossibleDuplicates: uint64(c.possible_duplicates), Connects: uint64(c.connects),
				Disconnects: uint64(c.disconnects), ServerErrors: uint64(c.server_errors),
				BatchesCompressed: uint64(c.batches_compressed), InFlightBatches: uint64(c.in_flight_batches),
				BufferedBytes: uint64(c.buffered_bytes), OutstandingRecords: uint64(c.outstanding_records),
				AckLatencyP50:    time.Duration(c.ack_latency_p50_us) * time.Microsecond,
				AckLatencyP99:    time.Duration(c.ack_latency_p99_us) * time.Microsecond,
				BatchSizeCurrent: uint64(c.batch_size_current),
			}
		}
	}
	m.Accepted = uint64(p.accepted.Load())
	m.Reported = uint64(p.reported.Load())
	m.Acked = p.acked.Load()
	m.Failed = p.failed.Load()
	m.ReportsDropped = p.dropped.Load()
	m.CallbackPanics = p.panics.Load()
	return m
}

// Close flushes for up to the close timeout (WithCloseTimeout, default 5 s), fails what is
// left with reports (PURGED / UNKNOWN_OUTCOME), hands every report over, and stops liblnc's
// threads (liblnc's remaining memory is freed when the Producer is garbage collected). Idempotent and safe to call concurrently with Produce (which then fails with
// CLOSED). From inside a delivery callback it returns IN_CALLBACK and does nothing.
func (p *Producer) Close() error {
	if err := p.guardCallback("Close"); err != nil {
		return err
	}
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		rc := C.lnc_producer_close(p.h, C.int32_t(p.opts.closeTimeout/time.Millisecond), nil)
		runtime.KeepAlive(p)
		p.libClosed.Store(true)
		t := time.AfterFunc(p.opts.closeTimeout, func() { close(p.abandon) })
		<-p.dispatchDone
		t.Stop()
		p.closeErr = codeError(Code(rc))
	})
	return p.closeErr
}

func (p *Producer) guardCallback(what string) error {
	if gid := p.dispatchGID.Load(); gid != 0 && goid() == gid {
		return &Error{Code: CodeInCallback, Message: what + " called from inside this producer's delivery callback"}
	}
	return nil
}

func (p *Producer) remaining() int {
	n := p.accepted.Load() - p.reported.Load()
	if n < 0 {
		return 0
	}
	return int(n)
}

func (p *Producer) register(pd *pending) uint64 {
	id := p.nextID.Add(1)
	p.pendMu.Lock()
	p.pend[id] = pd
	p.pendMu.Unlock()
	return id
}

func (p *Producer) unregister(id uint64) {
	if id != 0 {
		p.pendMu.Lock()
		delete(p.pend, id)
		p.pendMu.Unlock()
	}
}

// progress returns the channel closed at the dispatcher's next report batch; call progDone
// after waiting.
func (p *Producer) progress() <-chan struct{} {
	p.progWaiters.Add(1)
	p.progMu.Lock()
	ch := p.progCh
	p.progMu.Unlock()
	return ch
}

func (p *Producer) progDone() { p.progWaiters.Add(-1) }

// send is the hot path: one cgo call per record, plus the wait for buffer space when needed.
func (p *Producer) send(ctx context.Context, topic uint32, r *Record, id uint64) error {
	var key, val *C.uint8_t
	if r.Key != nil {
		key = bytesPtr(r.Key)
	}
	if len(r.Value) > 0 {
		val = bytesPtr(r.Value)
	}
	var deadline time.Time // set once the record had to wait
	for {
		var ch <-chan struct{} // taken before an attempt that may have to wait, so no wakeup is lost
		if !deadline.IsZero() {
			ch = p.progress()
		}
		if p.opts.reportCap > 0 && p.accepted.Load()-p.reported.Load() >= p.opts.maxPending {
			// The Reports channel is not being read: wait for the reader.
			if !p.block {
				if ch != nil {
					p.progDone()
				}
				p.unregister(id)
				return &Error{Code: CodeQueueFull, Message: "too many unread reports (WithMaxPending)"}
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(p.sendTimeout)
				continue
			}
			if err := p.waitProgress(ctx, ch, deadline, id); err != nil {
				return err
			}
			continue
		}
		var cerr *C.lnc_error_t
		var rc C.lnc_err_t
		p.accepted.Add(1) // before the call: a report can never be counted before its record
		res := C.lnc_go_send(p.h, C.uint32_t(topic), C.uint8_t(r.Type), C.uint16_t(r.ExtType),
			key, C.size_t(len(r.Key)), val, C.size_t(len(r.Value)), C.uint64_t(r.Timestamp),
			C.uint64_t(id))
		runtime.KeepAlive(p)
		rc, cerr = res.rc, res.err
		if rc == C.LNC_ERR_OK {
			if ch != nil {
				p.progDone()
			}
			return nil
		}
		p.accepted.Add(-1)
		if rc != C.LNC_ERR_QUEUE_FULL || !p.block || p.closing.Load() {
			if ch != nil {
				p.progDone()
			}
			p.unregister(id)
			if rc == C.LNC_ERR_CLOSED && cerr == nil {
				return closedError("producer")
			}
			return errorFrom(rc, cerr)
		}
		if cerr != nil {
			C.lnc_error_free(cerr)
		}
		// liblnc already waited one slice for space: check ctx and the deadline, then retry.
		if ch != nil {
			p.progDone()
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(p.sendTimeout - sendSlice)
		}
		if err := ctx.Err(); err != nil {
			p.unregister(id)
			return err
		}
		if !time.Now().Before(deadline) {
			p.unregister(id)
			return &Error{Code: CodeQueueFull, Message: "no buffer space within send.timeout.ms"}
		}
	}
}

// waitProgress waits for the dispatcher's next report batch, ctx, the deadline or a short
// fallback tick. It releases the progress registration taken with ch.
func (p *Producer) waitProgress(ctx context.Context, ch <-chan struct{}, deadline time.Time, id uint64) error {
	defer p.progDone()
	rem := time.Until(deadline)
	if rem <= 0 {
		p.unregister(id)
		return &Error{Code: CodeQueueFull, Message: "no buffer space within send.timeout.ms"}
	}
	if rem > 10*time.Millisecond {
		rem = 10 * time.Millisecond
	}
	t := time.NewTimer(rem)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		p.unregister(id)
		return ctx.Err()
	case <-p.abandon:
	}
	if p.closing.Load() {
		p.unregister(id)
		return closedError("producer")
	}
	return nil
}

const reportBatch = 1024

// dispatchPause is how long the dispatcher lets reports accumulate after draining liblnc's
// queue.
var dispatchPause = time.Millisecond

// sendSlice is the longest wait for buffer space inside one liblnc send call.
const sendSlice = 20 * time.Millisecond

// dispatch takes reports from liblnc in bulk and hands them over until Close drained them.
func (p *Producer) dispatch() {
	defer close(p.dispatchDone)
	p.dispatchGID.Store(goid()) // user callbacks run here: see guardCallback
	arr := (*C.lnc_report_t)(C.malloc(C.size_t(reportBatch) * C.size_t(unsafe.Sizeof(C.lnc_report_t{}))))
	defer C.free(unsafe.Pointer(arr))
	reps := unsafe.Slice(arr, reportBatch)
	batch := make([]Report, 0, reportBatch)
	ids := make([]uint64, 0, reportBatch)
	for {
		final := p.libClosed.Load()
		tmo := C.int32_t(pollSlice / time.Millisecond)
		if final {
			tmo = 0
		}
		var n C.size_t
		// The handle is freed only after this goroutine exits: no lock needed.
		rc := C.lnc_producer_poll_reports(p.h, tmo, arr, reportBatch, &n)
		if rc != C.LNC_ERR_OK {
			if final {
				break
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if n == 0 {
			if final {
				break
			}
			continue
		}
		batch = batch[:0]
		ids = ids[:0]
		anyID := false
		// Reports are built only for someone who takes them; all are counted.
		wanted := p.opts.deliveryFunc != nil || p.opts.reportCap > 0
		var nAcked, nFailed uint64
		for i := 0; i < int(n); i++ {
			cr := &reps[i]
			// The opaque is an integer id: read the pointer-sized field as one, never as a pointer.
			id := uint64(*(*uintptr)(unsafe.Pointer(&cr.opaque)))
			var err error
			if cr.err != C.LNC_ERR_OK || cr.error != nil {
				err = errorFrom(cr.err, cr.error)
				cr.error = nil
				nFailed++
			} else {
				nAcked++
			}
			if id == 0 && !wanted {
				continue
			}
			if id != 0 {
				anyID = true
			}
			batch = append(batch, Report{Topic: uint32(cr.topic_id), BatchID: uint64(cr.batch_id), Err: err})
			ids = append(ids, id)
		}
		p.acked.Add(nAcked)
		p.failed.Add(nFailed)
		p.deliver(batch, ids, anyID)
		p.reported.Add(int64(n))
		if p.progWaiters.Load() > 0 {
			p.progMu.Lock()
			close(p.progCh)
			p.progCh = make(chan struct{})
			p.progMu.Unlock()
		}
		if int(n) < reportBatch && !final && dispatchPause > 0 {
			// The queue is drained: let reports accumulate briefly so that one wakeup takes
			// many (fewer thread switches on the producing cores; adds at most this latency).
			time.Sleep(dispatchPause)
		}
	}
	if p.opts.reportCap > 0 {
		close(p.reports)
	}
}

func (p *Producer) deliver(batch []Report, ids []uint64, anyID bool) {
	for i := range batch {
		var pd *pending
		if anyID && ids[i] != 0 {
			p.pendMu.Lock()
			pd = p.pend[ids[i]]
			delete(p.pend, ids[i])
			// sync is read under the lock: ProduceSync may detach it on cancellation.
			if pd != nil && pd.sync != nil {
				pd.sync <- batch[i]
				p.pendMu.Unlock()
				continue
			}
			p.pendMu.Unlock()
			if pd != nil {
				batch[i].Opaque = pd.opaque
				if pd.fn != nil {
					p.callback(pd.fn, batch[i])
					continue
				}
			}
		}
		if p.opts.deliveryFunc != nil {
			p.callback(p.opts.deliveryFunc, batch[i])
		}
		if p.opts.reportCap > 0 {
			select {
			case p.reports <- batch[i]:
			default:
				select {
				case p.reports <- batch[i]:
				case <-p.abandon:
					p.dropped.Add(1)
				}
			}
		}
	}
}

func (p *Producer) callback(fn func(Report), r Report) {
	defer func() {
		if v := recover(); v != nil {
			p.panics.Add(1)
		}
	}()
	fn(r)
}

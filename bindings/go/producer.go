package lnc

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Report is one accepted record's final outcome: exactly one per record accepted by Produce,
// ProduceBatch or ProduceFunc (and their by-name forms).
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
	Accepted       uint64 // records accepted by Produce / ProduceBatch / ProduceFunc (ProduceSync's are not: they have no report)
	Reported       uint64 // reports handed over (channel, callbacks) or counted
	Acked          uint64 // reports with Err == nil
	Failed         uint64 // reports with an error
	ReportsDropped uint64 // reports not delivered to an unread Reports channel after Close's deadline
	CallbackPanics uint64 // panics recovered from delivery callbacks (each returned by Flush/Close)
	EventsDropped  uint64 // events not handed to a full Events channel (each counted in an EventEventsDropped event)
}

type producerOptions struct {
	reportCap    int
	deliveryFunc func(Report)
	closeTimeout time.Duration
	handle       handleOptions
}

// WithReportChannel enables the Reports channel with the given capacity (≥ 1). Without it,
// reports are only counted (Metrics) and passed to WithDeliveryFunc / ProduceFunc callbacks.
//
// Policy: while the channel is full the binding's dispatch goroutine waits for the reader
// (reports are never dropped while the producer is open). Meanwhile liblnc keeps the reports it
// could not hand over, each holding 64 bytes of buffer.memory, so an unread channel ends in
// Produce waiting for buffer space like a slow server does (send.block, send.timeout.ms, the
// context): memory stays bounded. After Close's deadline the remaining reports of an unread
// channel are dropped and counted in ReportsDropped, and the channel is closed once every report
// was handed over or dropped.
func WithReportChannel(capacity int) ProducerOption {
	return producerOptionFunc(func(o *producerOptions) {
		if capacity < 1 {
			capacity = 1
		}
		o.reportCap = capacity
	})
}

// WithDeliveryFunc calls f with every report (except ProduceFunc's own) on the binding's
// dispatch goroutine, in the order liblnc reports them. f must not block for long. A panic in
// f is recovered, counted (CallbackPanics) and returned, with its value and stack, as a
// *CallbackPanicError by the next Flush or Close. Close and Flush called from inside f (or from
// a ProduceFunc callback) return an IN_CALLBACK error instead of deadlocking.
func WithDeliveryFunc(f func(Report)) ProducerOption {
	return producerOptionFunc(func(o *producerOptions) { o.deliveryFunc = f })
}

// WithCloseTimeout bounds Close: liblnc flushes for up to d (then purges what is left with
// reports), and an unread Reports channel gets up to d more to be drained. Default 5 s; 0 or
// less means no flush (everything still buffered is purged at once).
func WithCloseTimeout(d time.Duration) ProducerOption {
	return producerOptionFunc(func(o *producerOptions) { o.closeTimeout = d })
}

// producerHolder owns the liblnc handle (and its log sink, closed once liblnc can no longer
// call it) for the finalizer.
type producerHolder struct {
	h    *C.lnc_producer_t
	logs *logSink
}

// pending is the per-record state kept only for records that need it.
type pending struct {
	opaque any
	fn     func(Report) // ProduceFunc's callback, or nil
}

// Opaque ids handed to liblnc: 0 (NULL) marks a fire-and-forget record, whose failure liblnc
// reports as DELIVERY_FAILED from the next Flush or Close; anonID a record without per-record
// state whose report goes to WithDeliveryFunc or the Reports channel; ids from firstID on
// index the pending map.
const (
	anonID  uint64 = 1
	firstID uint64 = 2
)

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

	opts producerOptions

	accepted paddedInt64
	reported paddedInt64
	acked    atomic.Uint64
	failed   atomic.Uint64
	dropped  atomic.Uint64
	panics   atomic.Uint64

	resolvedNames sync.Map // topic names liblnc resolved for a send (see send)

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
	// dispatchThread is the OS thread the dispatch goroutine keeps locked (0 once it stopped),
	// and inUserCode counts user callbacks running on it: together they let Close and Flush
	// refuse to run inside a callback in O(1) (see guardCallback).
	dispatchThread atomic.Uintptr
	inUserCode     atomic.Int32
	panicked       panicBox
	closeOnce      sync.Once
	closeErr       error

	events *eventPump
	logs   *logSink
}

// NewProducer creates a producer from cfg ("bootstrap.servers", "linger.ms", "batch.size",
// "send.block", "send.timeout.ms", "topic.auto.create", …). It connects in the background: a
// dead server shows up in reports, not here.
func NewProducer(cfg Config, opts ...ProducerOption) (*Producer, error) {
	o := producerOptions{closeTimeout: 5 * time.Second}
	for _, opt := range opts {
		opt.applyProducer(&o)
	}
	cf, err := newConf(cfg)
	if err != nil {
		return nil, err
	}
	logs, err := newLogSink(cf, cfg, o.handle.logger, "producer")
	if err != nil {
		cf.free()
		return nil, err
	}
	p := &Producer{
		opts:         o,
		pend:         make(map[uint64]*pending),
		progCh:       make(chan struct{}),
		abandon:      make(chan struct{}),
		dispatchDone: make(chan struct{}),
	}
	p.nextID.Store(firstID - 1)
	var h *C.lnc_producer_t
	var cerr *C.lnc_error_t
	if rc := C.lnc_producer_new(cf.c, nil, nil, &h, &cerr); rc != C.LNC_ERR_OK {
		cf.free()
		logs.close() // liblnc cannot log for this conf any more
		return nil, errorFrom(rc, cerr)
	}
	cf.taken()
	p.h = h
	p.logs = logs
	p.events = newEventPump(o.handle.eventBuffer, func(ms C.int32_t, out *C.lnc_event_t, limit C.size_t, n *C.size_t) bool {
		rc := C.lnc_producer_poll_events(p.h, ms, out, limit, n)
		runtime.KeepAlive(p)
		return rc == C.LNC_ERR_OK
	})
	// liblnc's handle stays valid after Close (calls then fail with CLOSED) and is freed once
	// the Producer is unreachable, so no call ever races with the free and the hot path takes
	// no lock. The holder has no references back, so a Producer in a cycle is still freed.
	p.holder = &producerHolder{h: h, logs: logs}
	runtime.SetFinalizer(p.holder, func(ph *producerHolder) {
		C.lnc_producer_free(ph.h)
		ph.logs.close()
	})
	if o.reportCap > 0 {
		p.reports = make(chan Report, o.reportCap)
	} else {
		p.reports = make(chan Report)
		close(p.reports)
	}
	started := make(chan struct{})
	go p.dispatch(started)
	<-started // the dispatcher's thread is known before any call can ask for it
	return p, nil
}

// Reports returns the report channel enabled by WithReportChannel; it is closed after Close
// once every report was handed over. Without that option it returns an already closed
// channel.
func (p *Producer) Reports() <-chan Report { return p.reports }

// Produce appends one record to topic's batch (asynchronous). A nil error means liblnc
// accepted the record and exactly one Report will follow; an error means it was not accepted
// (INVALID_ARG, MSG_TOO_LARGE, QUEUE_FULL, CLOSED, the producer's fatal error, or ctx's
// error — wrapping CANCELLED or TIMED_OUT — when ctx ended while liblnc waited for buffer space).
//
// liblnc waits for buffer space as send.block and send.timeout.ms say, and no longer than ctx.
// A record with neither Opaque nor a taker for its report (no WithReportChannel, no
// WithDeliveryFunc) is fire-and-forget: if it fails, the next Flush or Close returns
// ErrDeliveryFailed.
func (p *Producer) Produce(ctx context.Context, topic uint32, r Record) error {
	return p.produce(ctx, byID(topic), &r, nil)
}

// ProduceTo is Produce to a topic given by name: liblnc resolves it (and creates it when
// topic.auto.create is true, the default) and caches its id. The first record to a name may
// wait for the lookup, within request.timeout.ms and ctx.
func (p *Producer) ProduceTo(ctx context.Context, topic string, r Record) error {
	return p.produce(ctx, byName(topic), &r, nil)
}

// ProduceFunc is Produce with a per-record callback: fn receives this record's report (and
// the Reports channel / WithDeliveryFunc do not). fn runs on the dispatch goroutine; a panic in
// fn is handled like one in WithDeliveryFunc's function (returned by the next Flush or Close).
func (p *Producer) ProduceFunc(ctx context.Context, topic uint32, r Record, fn func(Report)) error {
	return p.produce(ctx, byID(topic), &r, fn)
}

// ProduceFuncTo is ProduceFunc to a topic given by name (see ProduceTo).
func (p *Producer) ProduceFuncTo(ctx context.Context, topic string, r Record, fn func(Report)) error {
	return p.produce(ctx, byName(topic), &r, fn)
}

func (p *Producer) produce(ctx context.Context, to dest, r *Record, fn func(Report)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := p.opaqueID(r.Opaque, fn)
	err := p.send(ctx, to, r, id)
	if err != nil {
		p.unregister(id)
	}
	return err
}

// opaqueID registers what a record's report needs and returns the id liblnc carries for it.
func (p *Producer) opaqueID(opaque any, fn func(Report)) uint64 {
	switch {
	case opaque != nil || fn != nil:
		return p.register(&pending{opaque: opaque, fn: fn})
	case p.opts.deliveryFunc != nil || p.opts.reportCap > 0:
		return anonID
	}
	return 0
}

// ProduceBatch appends records to topic's batch atomically: all are accepted (and each gets
// exactly one Report) or none is (the error says why). It costs one cgo call for the whole
// slice, so it is the fastest way to produce many small records; the bytes are copied once
// into C memory for the call. It waits for buffer space like Produce.
func (p *Producer) ProduceBatch(ctx context.Context, topic uint32, recs []Record) error {
	return p.produceBatch(ctx, byID(topic), recs)
}

// ProduceBatchTo is ProduceBatch to a topic given by name (see ProduceTo).
func (p *Producer) ProduceBatchTo(ctx context.Context, topic string, recs []Record) error {
	return p.produceBatch(ctx, byName(topic), recs)
}

func (p *Producer) produceBatch(ctx context.Context, to dest, recs []Record) error {
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
		opaques[i] = p.opaqueID(r.Opaque, nil)
	}
	err := p.sendBatch(ctx, to, &msgs[0], opaques, n)
	if err != nil {
		for _, id := range opaques {
			p.unregister(id)
		}
	}
	return err
}

// ProduceSync produces one record and waits for its acknowledgement
// (lnc_producer_send_sync); it returns the batch id. Linger is skipped while it waits. The
// record has no Report: its outcome is this call's result. When ctx ends first the error
// matches ctx's error (and liblnc's CANCELLED or TIMED_OUT); if the record was accepted by
// then, it may still be delivered. Allowed inside delivery callbacks (it does not wait for the
// dispatcher).
func (p *Producer) ProduceSync(ctx context.Context, topic uint32, r Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return p.sendSync(ctx, byID(topic), &r)
}

// ProduceSyncTo is ProduceSync to a topic given by name (see ProduceTo).
func (p *Producer) ProduceSyncTo(ctx context.Context, topic string, r Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return p.sendSync(ctx, byName(topic), &r)
}

// TopicID resolves a topic name the way ProduceTo does (liblnc's cache; the server on a miss,
// creating the topic when topic.auto.create is true), within request.timeout.ms and ctx.
func (p *Producer) TopicID(ctx context.Context, name string) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return p.topicID(ctx, name)
}

// Flush sends everything buffered now and waits until every accepted record's report was
// handed over (or counted), or ctx ends. It returns how many records remain (0 on success);
// on ctx's end the error is ctx.Err(). When every report was handed over, the error reports
// what no report told: ErrDeliveryFailed (an *Error with the count and the first failure)
// when fire-and-forget records failed since the last Flush, and the *CallbackPanicError of a
// delivery callback that panicked since the last Flush (joined when both). From inside a
// delivery callback: IN_CALLBACK.
func (p *Producer) Flush(ctx context.Context) (int, error) {
	if err := p.guardCallback("Flush"); err != nil {
		return p.remaining(), err
	}
	var failed error // liblnc's DELIVERY_FAILED, taken by one of the slices
	for {
		rem, f, err := p.flushSlice(ctx, pollSlice)
		failed = join(failed, f)
		if err != nil {
			return p.remaining(), join(err, failed)
		}
		if rem == 0 {
			ch := p.progress()
			if p.remaining() == 0 {
				p.progDone()
				return 0, join(join(failed, p.panicked.take()), p.logs.takePanic())
			}
			select {
			case <-ch:
			case <-ctx.Done():
			case <-time.After(pollSlice):
			}
			p.progDone()
		}
		if err := ctx.Err(); err != nil {
			return p.remaining(), join(err, failed)
		}
	}
}

// flushSlice calls lnc_producer_flush for at most one slice (so that Flush also waits for the
// dispatcher's hand-over and honours ctx): rem is liblnc's count of records without a queued
// report, failed liblnc's DELIVERY_FAILED.
func (p *Producer) flushSlice(ctx context.Context, slice time.Duration) (rem int, failed, err error) {
	if p.closing.Load() {
		return -1, nil, closedError("producer")
	}
	var n C.size_t
	var cerr *C.lnc_error_t
	rc := C.lnc_producer_flush(p.h, sliceMs(ctx, slice), &n, &cerr)
	runtime.KeepAlive(p) // the handle is freed by a finalizer once p is unreachable
	switch rc {
	case C.LNC_ERR_OK, C.LNC_ERR_TIMED_OUT:
		if cerr != nil {
			C.lnc_error_free(cerr)
		}
		return int(n), nil, nil
	case C.LNC_ERR_DELIVERY_FAILED:
		return 0, errorFrom(rc, cerr), nil
	}
	return -1, nil, errorFrom(rc, cerr)
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
	m.EventsDropped = p.events.dropped.Load()
	return m
}

// Close flushes for up to the close timeout (WithCloseTimeout, default 5 s), fails what is
// left with reports (PURGED / UNKNOWN_OUTCOME), hands every report over, and stops liblnc's
// threads (liblnc's remaining memory is freed when the Producer is garbage collected).
// Idempotent and safe to call concurrently with Produce (which then fails with CLOSED). From
// inside a delivery callback it returns IN_CALLBACK and does nothing. Like Flush, it returns
// ErrDeliveryFailed for fire-and-forget records that failed since the last Flush (those purged
// here included) and a delivery callback's *CallbackPanicError not yet returned (joined with
// liblnc's close error if any).
func (p *Producer) Close() error {
	if err := p.guardCallback("Close"); err != nil {
		return err
	}
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		var cerr *C.lnc_error_t
		var ms C.int32_t // liblnc reads a negative timeout as "no limit": never pass one
		if p.opts.closeTimeout > 0 {
			ms = durationMs(p.opts.closeTimeout)
		}
		rc := C.lnc_producer_close(p.h, ms, &cerr)
		runtime.KeepAlive(p)
		p.libClosed.Store(true)
		t := time.AfterFunc(p.opts.closeTimeout, func() { close(p.abandon) })
		<-p.dispatchDone
		t.Stop()
		p.events.stop() // after liblnc's close: the Events channel gets the close's events too
		p.closeErr = join(join(errorFrom(rc, cerr), p.panicked.take()), p.logs.takePanic())
	})
	return p.closeErr
}

// guardCallback refuses calls that wait for the dispatcher when made from inside one of its
// callbacks (they would wait for themselves). O(1): the dispatcher keeps its OS thread locked,
// so the calling goroutine is the dispatcher exactly when it runs on that thread; the thread is
// known before NewProducer returns and forgotten before the dispatcher unlocks it.
func (p *Producer) guardCallback(what string) error {
	if p.inUserCode.Load() == 0 {
		return nil
	}
	if me := currentThread(); p.dispatchThread.Load() == me {
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
	if id >= firstID {
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

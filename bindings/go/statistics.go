package lnc

// Statistics documents (lnc_*_statistics, JSON schema version 1: liblnc's docs/statistics.md)
// and the consumer's flat counters (lnc_consumer_metrics).

/*
#include "lnc.h"
*/
import "C"

import (
	"runtime"
	"time"
)

// Statistics returns the producer's statistics document: JSON, schema version 1 (liblnc's
// docs/statistics.md): counters, gauges, ack latency quantiles from an HDR histogram and one
// entry per connection. It never waits for the network and works after Close. The same
// document arrives periodically as an EventStatistics event when statistics.interval.ms is set.
func (p *Producer) Statistics() (string, error) {
	var js *C.char
	rc := C.lnc_producer_statistics(p.h, &js)
	runtime.KeepAlive(p) // the handle is freed by a finalizer once p is unreachable
	return takeString(rc, js)
}

// Statistics returns the consumer's statistics document (JSON, schema version 1; see
// Producer.Statistics). CLOSED after Close.
func (c *Consumer) Statistics() (string, error) {
	if !c.ref.acquire() {
		return "", closedError("consumer")
	}
	defer c.ref.release()
	var js *C.char
	return takeString(C.lnc_consumer_statistics(c.h, &js), js)
}

// takeString copies and frees a string liblnc returned as owned.
func takeString(rc C.lnc_err_t, s *C.char) (string, error) {
	if s == nil {
		if rc == C.LNC_ERR_OK {
			rc = C.LNC_ERR_PANIC // OK with no document: never expected
		}
		return "", codeError(Code(rc))
	}
	defer C.lnc_string_free(s)
	if rc != C.LNC_ERR_OK {
		return "", codeError(Code(rc))
	}
	return C.GoString(s), nil
}

// ConsumerMetrics are liblnc's consumer counters and gauges (lnc_consumer_metrics) plus the
// binding's. The statistics document (Consumer.Statistics) has them too, with the connection
// and latency details.
type ConsumerMetrics struct {
	Records              uint64        // records handed to the application by Poll
	Bytes                uint64        // value bytes of those records
	Errors               uint64        // errors handed to the application by Poll
	Fetches              uint64        // Fetch replies received (data, empty or CatchingUp)
	EmptyFetches         uint64        // Fetch replies without data (at the tail)
	FetchBytes           uint64        // bytes of Fetch reply payloads
	CatchingUp           uint64        // CatchingUp replies
	Position             uint64        // the position just past the last record handed out
	EndOffsetKnown       bool          // whether EndOffset, EndOffsetAge and Lag are known
	EndOffset            uint64        // the topic's end as last learned from the server
	EndOffsetAge         time.Duration // how old EndOffset is
	Lag                  uint64        // EndOffset − Position (saturating)
	QueuedEvents         uint64        // gauge: records and errors waiting for Poll
	QueuedBytes          uint64        // gauge: their bytes
	ReassemblyCarryBytes uint64        // gauge: bytes held by the reassembler
	FetchLatencyP50      time.Duration // median Fetch latency
	FetchLatencyP99      time.Duration // 99th percentile Fetch latency
	FetchLatencyMax      time.Duration // largest Fetch latency
	Reconnects           uint64        // fetch connection re-establishments

	// Binding counter.
	EventsDropped uint64 // events not handed to a full Events channel (each counted in an EventEventsDropped event)
}

// Metrics returns a snapshot of the consumer's counters. CLOSED after Close.
func (c *Consumer) Metrics() (ConsumerMetrics, error) {
	if !c.ref.acquire() {
		return ConsumerMetrics{}, closedError("consumer")
	}
	defer c.ref.release()
	var m C.lnc_consumer_metrics_t
	if rc := C.lnc_consumer_metrics(c.h, &m); rc != C.LNC_ERR_OK {
		return ConsumerMetrics{}, codeError(Code(rc))
	}
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	return ConsumerMetrics{
		Records: uint64(m.records), Bytes: uint64(m.bytes), Errors: uint64(m.errors),
		Fetches: uint64(m.fetches), EmptyFetches: uint64(m.empty_fetches), FetchBytes: uint64(m.fetch_bytes),
		CatchingUp: uint64(m.catching_up), Position: uint64(m.position),
		EndOffsetKnown: m.end_offset_known != 0, EndOffset: uint64(m.end_offset),
		EndOffsetAge: time.Duration(m.end_offset_age_ms) * time.Millisecond, Lag: uint64(m.lag),
		QueuedEvents: uint64(m.queued_events), QueuedBytes: uint64(m.queued_bytes),
		ReassemblyCarryBytes: uint64(m.reassembly_carry_bytes),
		FetchLatencyP50:      us(m.fetch_latency_p50_us), FetchLatencyP99: us(m.fetch_latency_p99_us),
		FetchLatencyMax: us(m.fetch_latency_max_us), Reconnects: uint64(m.reconnects),
		EventsDropped: c.events.dropped.Load(),
	}, nil
}

package lnc

// Events (lnc_event_t): one model for every handle. A pump goroutine per handle, started by the
// first Events() call, takes them from liblnc with lnc_*_poll_events (never a C thread calling
// Go) and hands them to a bounded channel without ever blocking on it.

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// EventKind says what an Event reports (lnc_event_kind_t).
type EventKind int

// Event kinds (see liblnc's README, "Events and logs").
const (
	// EventConnecting: a connection attempt starts (Server = the first address tried).
	EventConnecting EventKind = C.LNC_EVENT_CONNECTING
	// EventConnected: a connection is up and authenticated (Server; NodeID 0 = unknown).
	EventConnected EventKind = C.LNC_EVENT_CONNECTED
	// EventDisconnected: a connection was lost (Code/Err and Message say why).
	EventDisconnected EventKind = C.LNC_EVENT_DISCONNECTED
	// EventReconnectScheduled: a connect attempt failed; the next starts after Delay (Attempt =
	// failures in a row).
	EventReconnectScheduled EventKind = C.LNC_EVENT_RECONNECT_SCHEDULED
	// EventLeaderChanged: a NOT_LEADER reply redirected the handle to Server.
	EventLeaderChanged EventKind = C.LNC_EVENT_LEADER_CHANGED
	// EventAuthFailed: the server refused auth.token (never retried).
	EventAuthFailed EventKind = C.LNC_EVENT_AUTH_FAILED
	// EventFatal: the handle failed for good (Code/Err, Message).
	EventFatal EventKind = C.LNC_EVENT_FATAL
	// EventCircuitOpen: the circuit breaker opened (Delay until the half-open trial).
	EventCircuitOpen EventKind = C.LNC_EVENT_CIRCUIT_OPEN
	// EventCircuitHalfOpen: the circuit breaker lets one trial connection through.
	EventCircuitHalfOpen EventKind = C.LNC_EVENT_CIRCUIT_HALF_OPEN
	// EventCircuitClosed: the circuit breaker closed (a connection succeeded).
	EventCircuitClosed EventKind = C.LNC_EVENT_CIRCUIT_CLOSED
	// EventStatistics: the periodic statistics document (statistics.interval.ms); Message is
	// the JSON text (schema: liblnc's docs/statistics.md).
	EventStatistics EventKind = C.LNC_EVENT_STATISTICS
	// EventEventsDropped: Attempt events were dropped at this place in the sequence, because
	// liblnc's queue (events.queue.max) or the Events channel (WithEventBuffer) was full.
	EventEventsDropped EventKind = C.LNC_EVENT_EVENTS_DROPPED
)

// String returns liblnc's lower-case name of the kind ("reconnect_scheduled"), or "unknown".
func (k EventKind) String() string {
	if k < math.MinInt32 || k > math.MaxInt32 {
		return "unknown"
	}
	return C.GoString(C.lnc_event_kind_name(C.int32_t(k)))
}

// Event is one thing that happened to a handle's connections (or its periodic statistics).
// Fields a kind does not use are zero.
type Event struct {
	Kind EventKind
	// Code is the error behind the event (CodeOK when none), Err the same as an *Error (nil
	// when none) for errors.Is with the Err* sentinels.
	Code Code
	Err  error
	// Server is the server concerned ("host:port"), "" when none.
	Server string
	// NodeID is the node id when known (0 = unknown: LWP's handshake does not name the node).
	NodeID uint32
	// Attempt is the failures in a row (EventReconnectScheduled) or the events dropped
	// (EventEventsDropped).
	Attempt uint32
	// Delay is the wait before the next attempt (EventReconnectScheduled, EventCircuitOpen).
	Delay time.Duration
	// Message is the reason as a sentence, or the JSON document (EventStatistics). It never
	// contains the token.
	Message string
}

// String renders the event for logs: "reconnect_scheduled server=… attempt=2 delay=80ms: …".
func (e Event) String() string {
	s := e.Kind.String()
	if e.Server != "" {
		s += " server=" + e.Server
	}
	if e.Code != CodeOK {
		s += " code=" + e.Code.String()
	}
	if e.Attempt != 0 {
		s += fmt.Sprintf(" attempt=%d", e.Attempt)
	}
	if e.Delay != 0 {
		s += " delay=" + e.Delay.String()
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// eventFrom copies a filled lnc_event_t (the caller frees it).
func eventFrom(ce *C.lnc_event_t) Event {
	e := Event{
		Kind:    EventKind(ce.kind),
		Code:    Code(ce.err),
		NodeID:  uint32(ce.node_id),
		Attempt: uint32(ce.attempt),
		Delay:   time.Duration(ce.delay_ms) * time.Millisecond,
	}
	if ce.server != nil {
		e.Server = C.GoString(ce.server)
	}
	if ce.message != nil {
		e.Message = C.GoString(ce.message)
	}
	if e.Code != CodeOK {
		msg := e.Message
		if msg == "" || e.Kind == EventStatistics {
			msg = e.Code.Description()
		}
		e.Err = &Error{Code: e.Code, Message: msg}
	}
	return e
}

// defaultEventBuffer is the Events channel's capacity without WithEventBuffer.
const defaultEventBuffer = 256

// eventBatch is how many events one lnc_*_poll_events call takes at most.
const eventBatch = 64

// eventPoller is one lnc_*_poll_events call on a handle. ok is false when the handle is gone
// (closed for good): the pump then stops.
type eventPoller func(ms C.int32_t, out *C.lnc_event_t, limit C.size_t, n *C.size_t) (ok bool)

// eventPump moves a handle's events from liblnc to the Events channel.
//
// Policy: the pump never blocks on the channel. An event that finds the channel full is
// dropped and counted; once the reader makes room, one EventEventsDropped event with the count
// (Attempt) takes the dropped events' place in the sequence, before any later event. liblnc
// itself queues up to events.queue.max events until the pump takes them (and counts the
// excess the same way), so nothing is lost silently.
type eventPump struct {
	capacity int
	poll     eventPoller

	mu      sync.Mutex
	started bool
	stopped bool
	ch      chan Event

	stopping atomic.Bool
	done     chan struct{}

	pendingDrops uint64        // dropped, not yet reported in the channel (pump goroutine only)
	dropped      atomic.Uint64 // dropped by the binding since the handle was created
}

func newEventPump(capacity int, poll eventPoller) *eventPump {
	if capacity < 1 {
		capacity = defaultEventBuffer
	}
	return &eventPump{capacity: capacity, poll: poll, done: make(chan struct{})}
}

// events returns the channel, starting the pump on the first call. After stop, the channel is
// closed (at once when the pump never ran).
func (e *eventPump) events() <-chan Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		e.started = true
		e.ch = make(chan Event, e.capacity)
		if e.stopped {
			close(e.ch)
			close(e.done)
		} else {
			go e.run()
		}
	}
	return e.ch
}

// stop makes the pump take what liblnc still holds (call it after liblnc's close, so the
// close's own events are included), close the channel and exit; it waits for that (at most one
// poll slice). Idempotent and safe from several goroutines.
func (e *eventPump) stop() {
	e.mu.Lock()
	e.stopped = true
	started := e.started
	e.mu.Unlock()
	if !started {
		return
	}
	e.stopping.Store(true)
	<-e.done
}

func (e *eventPump) run() {
	defer close(e.done)
	defer close(e.ch)
	// A panic here would be a binding bug. It must not kill the process from a goroutine the
	// user cannot see, nor vanish: it ends the pump with a last EventFatal (CodePanic) event,
	// then the channel is closed.
	defer func() {
		if v := recover(); v != nil {
			msg := fmt.Sprintf("lnc: the event goroutine panicked (a binding bug): %v", v)
			select {
			case e.ch <- Event{Kind: EventFatal, Code: CodePanic, Err: &Error{Code: CodePanic, Message: msg}, Message: msg}:
			default:
				e.dropped.Add(1)
			}
		}
	}()
	arr := (*C.lnc_event_t)(C.calloc(eventBatch, C.size_t(unsafe.Sizeof(C.lnc_event_t{}))))
	if arr == nil {
		return
	}
	defer C.free(unsafe.Pointer(arr))
	evs := unsafe.Slice(arr, eventBatch)
	for {
		final := e.stopping.Load()
		ms := C.int32_t(pollSlice / time.Millisecond)
		if final {
			ms = 0
		}
		var n C.size_t
		began := time.Now()
		ok := e.poll(ms, arr, eventBatch, &n)
		for i := 0; i < int(n); i++ {
			ev := eventFrom(&evs[i])
			C.lnc_event_free(&evs[i])
			e.offer(ev)
		}
		e.offerDrops()
		if !ok || (final && int(n) < eventBatch) {
			return
		}
		if !final && n == 0 && time.Since(began) < time.Millisecond {
			time.Sleep(10 * time.Millisecond) // liblnc returned at once with nothing: never spin
		}
	}
}

// offer hands ev over unless the channel is full (then it is counted as dropped).
func (e *eventPump) offer(ev Event) {
	if !e.offerDrops() {
		e.drop()
		return
	}
	select {
	case e.ch <- ev:
	default:
		e.drop()
	}
}

func (e *eventPump) drop() {
	e.pendingDrops++
	e.dropped.Add(1)
}

// offerDrops reports pending drops as one EventEventsDropped event; false while it cannot (the
// channel is still full).
func (e *eventPump) offerDrops() bool {
	if e.pendingDrops == 0 {
		return true
	}
	n := e.pendingDrops
	if n > math.MaxUint32 {
		n = math.MaxUint32
	}
	ev := Event{
		Kind:    EventEventsDropped,
		Attempt: uint32(n),
		Message: fmt.Sprintf("%d events dropped: the Events channel was full", n),
	}
	select {
	case e.ch <- ev:
		e.pendingDrops -= n
		return e.pendingDrops == 0
	default:
		return false
	}
}

// Events returns the producer's event channel: connection changes, circuit breaker changes,
// statistics documents (statistics.interval.ms), in the order liblnc raised them. The first
// call starts a goroutine that takes them from liblnc (lnc_producer_poll_events); until then
// liblnc keeps up to events.queue.max of them. Every call returns the same channel; it is
// closed by Close, after the events of the close itself.
//
// The channel holds WithEventBuffer events (default 256). The binding never blocks on it, so an
// application that does not read never slows reports nor liblnc: an event that finds the
// channel full is dropped and counted (Metrics().EventsDropped), and once there is room one
// EventEventsDropped event (Attempt = how many) takes their place in the sequence.
func (p *Producer) Events() <-chan Event { return p.events.events() }

// Events returns the consumer's event channel (connection and circuit breaker changes of its
// fetch connection, statistics documents); see Producer.Events for the policy. Closed by
// Close.
func (c *Consumer) Events() <-chan Event { return c.events.events() }

// Events returns the admin handle's event channel (connection and circuit breaker changes,
// statistics documents); see Producer.Events for the policy. Closed by Close.
func (a *Admin) Events() <-chan Event { return a.events.events() }

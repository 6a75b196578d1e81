package lnc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// eventLog collects a handle's events from its Events channel, in order.
type eventLog struct {
	mu     sync.Mutex
	evs    []lnc.Event
	closed bool
}

func collect(ch <-chan lnc.Event) *eventLog {
	l := &eventLog{}
	go func() {
		for e := range ch {
			l.mu.Lock()
			l.evs = append(l.evs, e)
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
	}()
	return l
}

func (l *eventLog) snapshot() []lnc.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]lnc.Event(nil), l.evs...)
}

// waitFor returns the index of the first event at or after from that satisfies pred; it fails
// the test after 20 s with what it saw.
func (l *eventLog) waitFor(t *testing.T, what string, from int, pred func(lnc.Event) bool) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs := l.snapshot()
		for i := from; i < len(evs); i++ {
			if pred(evs[i]) {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not seen within 20 s; saw %v", what, describe(l.snapshot()))
	return -1
}

func kindIs(k lnc.EventKind) func(lnc.Event) bool {
	return func(e lnc.Event) bool { return e.Kind == k }
}

func describe(evs []lnc.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		if e.Kind != lnc.EventStatistics {
			out = append(out, e.String())
		}
	}
	return out
}

// withoutStatistics drops the statistics documents (they interleave with everything).
func withoutStatistics(evs []lnc.Event) []lnc.Event {
	out := make([]lnc.Event, 0, len(evs))
	for _, e := range evs {
		if e.Kind != lnc.EventStatistics {
			out = append(out, e)
		}
	}
	return out
}

func kindsOf(evs []lnc.Event) []lnc.EventKind {
	out := make([]lnc.EventKind, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// checkOutage: disconnected → reconnect scheduled (growing delays, counted attempts) →
// connected, with nothing between but connect attempts.
func checkOutage(t *testing.T, who string, all []lnc.Event) {
	t.Helper()
	evs := withoutStatistics(all)
	d, c := -1, -1
	for i, e := range evs {
		if e.Kind == lnc.EventDisconnected && d < 0 {
			d = i
		}
		if e.Kind == lnc.EventConnected {
			c = i
		}
	}
	if d < 0 || c < d {
		t.Fatalf("%s: want disconnected … connected, got %v", who, describe(evs))
	}
	if evs[d].Err == nil || evs[d].Message == "" {
		t.Errorf("%s: disconnected without a reason: %v", who, evs[d])
	}
	var scheduled []lnc.Event
	for _, e := range evs[d+1 : c] {
		switch e.Kind {
		case lnc.EventReconnectScheduled:
			scheduled = append(scheduled, e)
		case lnc.EventConnecting:
		default:
			t.Errorf("%s: unexpected %v between disconnected and connected: %v", who, e, describe(evs))
		}
	}
	if len(scheduled) < 2 {
		t.Fatalf("%s: want ≥ 2 reconnects scheduled while the broker was down, got %v", who, describe(evs))
	}
	for i := 1; i < len(scheduled); i++ {
		a, b := scheduled[i-1], scheduled[i]
		if b.Delay <= a.Delay || b.Attempt != a.Attempt+1 {
			t.Errorf("%s: delays must grow with the attempt: %v then %v", who, a, b)
		}
	}
}

// outage is evs from the last disconnection before index failed to index connected.
func outage(evs []lnc.Event, failed, connected int) []lnc.Event {
	d := failed
	for d > 0 && evs[d].Kind != lnc.EventDisconnected {
		d--
	}
	return evs[d : connected+1]
}

var outageKeys = lnc.Config{
	"reconnect.backoff.ms":     "40",
	"reconnect.jitter":         "0",
	"circuit.breaker.failures": "0",
	"linger.ms":                "0",
	"log.level":                "off",
}

func withKeys(base lnc.Config, kv ...string) lnc.Config {
	out := lnc.Config{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// statsDoc is the part of the statistics document (schema version 1) these tests read.
type statsDoc struct {
	Version      int    `json:"version"`
	Kind         string `json:"kind"`
	Circuit      string `json:"circuit"`
	RecordsAcked uint64 `json:"records_acked"`
	RecordsFail  uint64 `json:"records_failed"`
	Records      uint64 `json:"records"`
	Errors       uint64 `json:"errors"`
	Connections  []struct {
		Name        string `json:"name"`
		State       string `json:"state"`
		Connects    uint64 `json:"connects"`
		Disconnects uint64 `json:"disconnects"`
	} `json:"connections"`
}

func parseStats(t *testing.T, js string) statsDoc {
	t.Helper()
	var d statsDoc
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatalf("statistics document is not JSON: %v: %s", err, js)
	}
	if d.Version != 1 {
		t.Fatalf("statistics version %d: %s", d.Version, js)
	}
	return d
}

// TestEventsKillingTheMockUnderAProducerAndAConsumer kills the mock broker under a running
// producer and consumer and starts a new one on the same port: each handle's Events channel
// shows disconnected → reconnect scheduled (growing delays) → connected, and then the
// statistics (the document and the periodic event) agree with the delivery reports and the
// records polled.
func TestEventsKillingTheMockUnderAProducerAndAConsumer(t *testing.T) {
	m1, err := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "0"})
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(m1.Port())
	before, _ := m1.CreateTopic("outage-before")
	consumed, _ := m1.CreateTopic("outage-consumed")

	var acked, failed atomic.Uint64
	p := mustProducer(t, withKeys(outageKeys, "bootstrap.servers", m1.Addr(), "statistics.interval.ms", "100"),
		lnc.WithDeliveryFunc(func(r lnc.Report) {
			if r.Err != nil {
				failed.Add(1)
				return
			}
			acked.Add(1)
		}))
	c, err := lnc.NewConsumer(ctxT(t, 10*time.Second),
		withKeys(outageKeys, "bootstrap.servers", m1.Addr(), "topic.id", itoa(consumed)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pe, ce := collect(p.Events()), collect(c.Events())

	// The application's poll loop runs throughout the outage.
	pollCtx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	var polled, pollErrors atomic.Int64
	pollDone := make(chan error, 1)
	go func() {
		for {
			recs, err := c.Poll(pollCtx)
			polled.Add(int64(len(recs)))
			var le *lnc.Error
			if errors.As(err, &le) && le.Retryable() {
				pollErrors.Add(1) // the consumer is reconnecting: keep polling
				continue
			}
			if err != nil {
				if pollCtx.Err() != nil {
					err = nil
				}
				pollDone <- err
				return
			}
		}
	}()

	ctx := ctxT(t, 60*time.Second)
	for i := 0; i < 20; i++ {
		if err := p.Produce(ctx, before, lnc.Record{Value: []byte(fmt.Sprint("before ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Flush(ctx); n != 0 || err != nil {
		t.Fatalf("Flush: %d, %v", n, err)
	}
	pc := pe.waitFor(t, "producer connected", 0, kindIs(lnc.EventConnected))
	cc := ce.waitFor(t, "consumer connected", 0, kindIs(lnc.EventConnected))
	for who, evs := range map[string][]lnc.Event{"producer": pe.snapshot()[:pc+1], "consumer": ce.snapshot()[:cc+1]} {
		ks := kindsOf(withoutStatistics(evs))
		if len(ks) != 2 || ks[0] != lnc.EventConnecting || ks[1] != lnc.EventConnected {
			t.Fatalf("%s: want connecting, connected; got %v", who, describe(evs))
		}
		if last := withoutStatistics(evs)[1]; last.Server != m1.Addr() {
			t.Errorf("%s connected to %q, want %q", who, last.Server, m1.Addr())
		}
	}

	// Kill the broker.
	if err := m1.Stop(); err != nil {
		t.Fatal(err)
	}
	_ = m1.Close()
	if err := p.Produce(ctx, before, lnc.Record{Value: []byte("during the outage")}); err != nil {
		t.Fatalf("a blocking send is accepted while the broker is down: %v", err)
	}
	third := func(e lnc.Event) bool { return e.Kind == lnc.EventReconnectScheduled && e.Attempt >= 3 }
	p3 := pe.waitFor(t, "producer: third reconnect scheduled", pc+1, third)
	c3 := ce.waitFor(t, "consumer: third reconnect scheduled", cc+1, third)

	// A new broker on the same port, with the same topics (same ids).
	m2 := startMock(t, map[string]string{"ack.delay.ms": "0", "port": port})
	if id, _ := m2.CreateTopic("outage-before"); id != before {
		t.Fatalf("topic id %d after the restart, want %d", id, before)
	}
	if id, _ := m2.CreateTopic("outage-consumed"); id != consumed {
		t.Fatalf("topic id %d after the restart, want %d", id, consumed)
	}
	pr := pe.waitFor(t, "producer reconnected", p3+1, kindIs(lnc.EventConnected))
	cr := ce.waitFor(t, "consumer reconnected", c3+1, kindIs(lnc.EventConnected))
	// The outage is checked from the last disconnection before the failed attempts: a handle
	// that lost a connection and reconnected just before the kill shows that cycle first.
	checkOutage(t, "producer", outage(pe.snapshot(), p3, pr))
	checkOutage(t, "consumer", outage(ce.snapshot(), c3, cr))

	const after = 30
	for i := 0; i < after; i++ {
		if err := p.Produce(ctx, consumed, lnc.Record{Value: []byte(fmt.Sprint("after ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Flush(ctx); n != 0 || err != nil {
		t.Fatalf("Flush after the outage: %d, %v", n, err)
	}
	for polled.Load() < after {
		select {
		case err := <-pollDone:
			t.Fatalf("Poll failed after %d records: %v", polled.Load(), err)
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("consumed %d/%d records after the outage", polled.Load(), after)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Statistics agree with the reports: the document...
	if failed.Load() != 0 {
		t.Fatalf("%d records failed", failed.Load())
	}
	reports := acked.Load()
	if reports != 20+1+after {
		t.Fatalf("%d acked reports, want %d", reports, 20+1+after)
	}
	ps, err := p.Statistics()
	if err != nil {
		t.Fatal(err)
	}
	doc := parseStats(t, ps)
	if doc.Kind != "producer" || doc.RecordsAcked != reports || doc.RecordsFail != failed.Load() {
		t.Fatalf("producer statistics disagree with %d acked reports: %s", reports, ps)
	}
	if len(doc.Connections) == 0 || doc.Connections[0].Disconnects < 1 || doc.Connections[0].Connects < 2 {
		t.Errorf("the producer's connection shows no outage: %s", ps)
	}
	// ...and the periodic statistics event that follows the reconnection.
	pe.waitFor(t, "a statistics event counting every report", pr+1, func(e lnc.Event) bool {
		return e.Kind == lnc.EventStatistics && parseStats(t, e.Message).RecordsAcked == reports
	})
	cs, err := c.Statistics()
	if err != nil {
		t.Fatal(err)
	}
	if d := parseStats(t, cs); d.Kind != "consumer" || d.Records != uint64(polled.Load()) || d.Errors != uint64(pollErrors.Load()) {
		t.Fatalf("consumer statistics disagree with %d records and %d errors polled: %s", polled.Load(), pollErrors.Load(), cs)
	}
	cm, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if cm.Records != uint64(polled.Load()) || cm.Errors != uint64(pollErrors.Load()) || cm.Reconnects < 1 || cm.EventsDropped != 0 {
		t.Fatalf("consumer metrics %+v, polled %d", cm, polled.Load())
	}
	stopPolling()
	if err := <-pollDone; err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if polled.Load() != after {
		t.Fatalf("polled %d records, %d were produced to the consumed topic", polled.Load(), after)
	}
}

// captureHandler is a slog.Handler keeping every record (level, message).
type captureHandler struct {
	mu    sync.Mutex
	lines []slog.Record
	level slog.Level
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.lines = append(h.lines, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.lines...)
}

func (h *captureHandler) waitFor(t *testing.T, what string, pred func(slog.Record) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range h.records() {
			if pred(r) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: no such log record within 20 s", what)
}

// TestEventsAuthFailedThenFatalAndTheTokenNeverAppears: a refused token gives connecting →
// auth_failed → fatal, the record's report fails with AUTH_FAILED, the logger gets an error
// line, and the token is in no line and no event.
func TestEventsAuthFailedThenFatalAndTheTokenNeverAppears(t *testing.T) {
	const token = "s3cret-wrong-token-xyz"
	m := fastMock(t)
	topic := newTopic(t, m)
	if err := m.RequireToken("the-right-one"); err != nil {
		t.Fatal(err)
	}
	logs := &captureHandler{level: slog.LevelDebug}
	var reps []lnc.Report
	var mu sync.Mutex
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "auth.token": token},
		lnc.WithLogger(slog.New(logs)),
		lnc.WithDeliveryFunc(func(r lnc.Report) { mu.Lock(); reps = append(reps, r); mu.Unlock() }))
	evs := collect(p.Events())
	if err := p.Produce(ctxT(t, 10*time.Second), topic, lnc.Record{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	f := evs.waitFor(t, "fatal", 0, kindIs(lnc.EventFatal))
	seen := withoutStatistics(evs.snapshot()[:f+1])
	ks := kindsOf(seen)
	if len(ks) != 3 || ks[0] != lnc.EventConnecting || ks[1] != lnc.EventAuthFailed || ks[2] != lnc.EventFatal {
		t.Fatalf("want connecting, auth_failed, fatal; got %v", describe(seen))
	}
	for _, e := range seen[1:] {
		if e.Code != lnc.CodeAuthFailed || !errors.Is(e.Err, lnc.ErrAuthFailed) {
			t.Errorf("%v: want AUTH_FAILED", e)
		}
	}
	if _, err := p.Flush(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	mu.Lock()
	if len(reps) != 1 || !errors.Is(reps[0].Err, lnc.ErrAuthFailed) {
		t.Fatalf("reports %+v: want one AUTH_FAILED", reps)
	}
	mu.Unlock()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	logs.waitFor(t, "an error line about the refused token", func(r slog.Record) bool {
		return r.Level == slog.LevelError && strings.Contains(r.Message, "auth_failed")
	})
	logs.waitFor(t, "a debug line (log.level follows the logger)", func(r slog.Record) bool {
		return r.Level == slog.LevelDebug
	})
	for _, r := range logs.records() {
		if strings.Contains(r.Message, token) {
			t.Errorf("token in a log line: %s", r.Message)
		}
		handle := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "handle" {
				handle = a.Value.String()
			}
			return true
		})
		if handle != "producer" {
			t.Errorf("log record without handle=producer: %v", r)
		}
	}
	for _, e := range evs.snapshot() {
		if strings.Contains(e.String(), token) {
			t.Errorf("token in an event: %v", e)
		}
	}
}

// TestEventsNotLeaderRedirectIsALeaderChangedEvent: "NOT_LEADER: redirect to …" from the
// follower gives one leader_changed event naming the leader, then a connection to it.
func TestEventsNotLeaderRedirectIsALeaderChangedEvent(t *testing.T) {
	follower := fastMock(t)
	leader := fastMock(t)
	topic, _ := follower.CreateTopic("moved")
	if id, _ := leader.CreateTopic("moved"); id != topic {
		t.Fatalf("topic ids differ: %d, %d", id, topic)
	}
	p := mustProducer(t, lnc.Config{"bootstrap.servers": follower.Addr(), "linger.ms": "0", "log.level": "off"})
	evs := collect(p.Events())
	ctx := ctxT(t, 20*time.Second)
	if _, err := p.ProduceSync(ctx, topic, lnc.Record{Value: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	if err := follower.FailNextIngests(1, "NOT_LEADER: redirect to "+leader.Addr(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx, topic, lnc.Record{Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	evs.waitFor(t, "connected to the leader", 0, func(e lnc.Event) bool {
		return e.Kind == lnc.EventConnected && e.Server == leader.Addr()
	})
	var changes []lnc.Event
	for _, e := range evs.snapshot() {
		if e.Kind == lnc.EventLeaderChanged {
			changes = append(changes, e)
		}
	}
	if len(changes) != 1 || changes[0].Server != leader.Addr() || !errors.Is(changes[0].Err, lnc.ErrNotLeader) {
		t.Fatalf("want one leader_changed to %s with NOT_LEADER, got %v", leader.Addr(), describe(evs.snapshot()))
	}
}

// TestEventsCircuitOpenFailsNonBlockingSendsFast: with the broker down, the circuit opens;
// a send with send.block=false then fails at once with CIRCUIT_OPEN; the circuit goes
// half-open, opens again, and closes once a broker is back. Records accepted keep their
// reports; the refused one gets none.
func TestEventsCircuitOpenFailsNonBlockingSendsFast(t *testing.T) {
	m1, err := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "0"})
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(m1.Port())
	topic, _ := m1.CreateTopic("circuit")
	var mu sync.Mutex
	var reps []lnc.Report
	p := mustProducer(t, lnc.Config{
		"bootstrap.servers":        m1.Addr(),
		"reconnect.backoff.ms":     "10",
		"reconnect.backoff.max.ms": "20",
		"circuit.breaker.failures": "3",
		"circuit.breaker.reset.ms": "300",
		"send.block":               "false",
		"linger.ms":                "0",
		"log.level":                "off",
	}, lnc.WithDeliveryFunc(func(r lnc.Report) { mu.Lock(); reps = append(reps, r); mu.Unlock() }))
	evs := collect(p.Events())
	ctx := ctxT(t, 30*time.Second)
	if _, err := p.ProduceSync(ctx, topic, lnc.Record{Value: []byte("up")}); err != nil {
		t.Fatal(err)
	}
	_ = m1.Stop()
	_ = m1.Close()
	if err := p.Produce(ctx, topic, lnc.Record{Value: []byte("accepted"), Opaque: 1}); err != nil {
		t.Fatalf("accepted before the circuit opened: %v", err)
	}
	open := evs.waitFor(t, "circuit open", 0, kindIs(lnc.EventCircuitOpen))
	if d := evs.snapshot()[open].Delay; d <= 0 || d > 300*time.Millisecond {
		t.Errorf("circuit_open delay %v, want (0, 300ms]", d)
	}
	err = p.Produce(ctx, topic, lnc.Record{Value: []byte("refused"), Opaque: 2})
	if !errors.Is(err, lnc.ErrCircuitOpen) {
		t.Fatalf("non-blocking send while open: %v, want CIRCUIT_OPEN", err)
	}
	half := evs.waitFor(t, "circuit half-open", open+1, kindIs(lnc.EventCircuitHalfOpen))
	evs.waitFor(t, "circuit open again (the trial failed)", half+1, kindIs(lnc.EventCircuitOpen))
	m2 := startMock(t, map[string]string{"ack.delay.ms": "0", "port": port})
	if id, _ := m2.CreateTopic("circuit"); id != topic {
		t.Fatalf("topic id %d after the restart, want %d", id, topic)
	}
	evs.waitFor(t, "circuit closed", half+1, kindIs(lnc.EventCircuitClosed))
	if err := p.Produce(ctx, topic, lnc.Record{Value: []byte("after"), Opaque: 3}); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Flush(ctx); n != 0 || err != nil {
		t.Fatalf("Flush: %d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	got := map[any]error{}
	for _, r := range reps {
		got[r.Opaque] = r.Err
	}
	if len(reps) != 2 || got[1] != nil || got[3] != nil {
		t.Fatalf("reports %+v: want records 1 and 3 acknowledged, none for the refused 2", reps)
	}
	st, _ := p.Statistics()
	if d := parseStats(t, st); d.Circuit != "closed" {
		t.Errorf("circuit %q in the statistics, want closed", d.Circuit)
	}
}

// TestEventsAdminConnectsAndReportsLostConnections: the admin handle's events after a
// disconnect (DisconnectAll) and after a kill and restart.
func TestEventsAdminConnectsAndReportsLostConnections(t *testing.T) {
	m1, err := lnc.NewMockBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(m1.Port())
	logs := &captureHandler{level: slog.LevelInfo}
	a, err := lnc.NewAdmin(lnc.Config{
		"bootstrap.servers":        m1.Addr(),
		"reconnect.backoff.ms":     "10",
		"reconnect.jitter":         "0",
		"circuit.breaker.failures": "0",
	}, lnc.WithLogger(slog.New(logs)), lnc.WithEventBuffer(16))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	evs := collect(a.Events())
	ctx := ctxT(t, 20*time.Second)
	if _, err := a.CreateTopic(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	first := evs.waitFor(t, "connected", 0, kindIs(lnc.EventConnected))
	if ks := kindsOf(withoutStatistics(evs.snapshot()[:first+1])); len(ks) != 2 || ks[0] != lnc.EventConnecting {
		t.Fatalf("want connecting, connected; got %v", describe(evs.snapshot()))
	}
	_ = m1.Stop()
	_ = m1.Close()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := a.ListTopics(short); err == nil {
		t.Fatal("ListTopics succeeded with the broker down")
	}
	cancel()
	startMock(t, map[string]string{"port": port})
	if _, err := a.ListTopics(ctx); err != nil {
		t.Fatal(err)
	}
	again := evs.waitFor(t, "connected again", first+1, kindIs(lnc.EventConnected))
	ks := kindsOf(withoutStatistics(evs.snapshot()[first+1 : again+1]))
	if !containsKind(ks, lnc.EventDisconnected) {
		t.Fatalf("want disconnected … connected, got %v", describe(evs.snapshot()))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "an info line about the connection", func(r slog.Record) bool {
		return r.Level == slog.LevelInfo && strings.Contains(r.Message, "connected")
	})
	if a.EventsDropped() != 0 {
		t.Errorf("%d events dropped with a reader", a.EventsDropped())
	}
}

func containsKind(ks []lnc.EventKind, k lnc.EventKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// TestEventsDisconnectAndRestartFaults: the mock cutting every connection (DisconnectAll) and
// restarting (Restart) each give disconnected → connected (with connection attempts between),
// and the producer's statistics count the lost connections.
func TestEventsDisconnectAndRestartFaults(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "linger.ms": "0", "log.level": "off",
		"reconnect.backoff.ms": "10", "reconnect.jitter": "0"})
	evs := collect(p.Events())
	ctx := ctxT(t, 30*time.Second)
	if _, err := p.ProduceSync(ctx, topic, lnc.Record{Value: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	from := evs.waitFor(t, "connected", 0, kindIs(lnc.EventConnected)) + 1
	for i, fault := range []func() error{m.DisconnectAll, m.Restart} {
		if err := fault(); err != nil {
			t.Fatal(err)
		}
		d := evs.waitFor(t, "disconnected", from, kindIs(lnc.EventDisconnected))
		if _, err := p.ProduceSync(ctx, topic, lnc.Record{Value: []byte("again")}); err != nil {
			t.Fatalf("fault %d: %v", i, err)
		}
		c := evs.waitFor(t, "connected again", d+1, kindIs(lnc.EventConnected))
		for _, e := range withoutStatistics(evs.snapshot()[d+1 : c]) {
			if e.Kind != lnc.EventConnecting && e.Kind != lnc.EventReconnectScheduled {
				t.Errorf("fault %d: unexpected %v between disconnected and connected", i, e)
			}
		}
		if !errors.Is(evs.snapshot()[d].Err, lnc.ErrTransport) {
			t.Errorf("fault %d: disconnected with %v, want TRANSPORT", i, evs.snapshot()[d])
		}
		from = c + 1
	}
	st, err := p.Statistics()
	if err != nil {
		t.Fatal(err)
	}
	var disconnects uint64
	for _, c := range parseStats(t, st).Connections {
		disconnects += c.Disconnects
	}
	if disconnects < 2 {
		t.Fatalf("statistics count %d disconnects after two faults: %s", disconnects, st)
	}
}

// TestEventsLiblncQueueOverflowIsReported: before the first Events call liblnc keeps at most
// events.queue.max events and reports the excess as one events_dropped event of its own.
func TestEventsLiblncQueueOverflowIsReported(t *testing.T) {
	m := fastMock(t)
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "log.level": "off",
		"events.queue.max": "4", "statistics.interval.ms": "1"})
	time.Sleep(100 * time.Millisecond) // ~100 statistics documents for a queue of 4
	evs := collect(p.Events())
	i := evs.waitFor(t, "liblnc's events_dropped", 0, kindIs(lnc.EventEventsDropped))
	e := evs.snapshot()[i]
	if e.Attempt == 0 || strings.Contains(e.Message, "Events channel") {
		t.Fatalf("want liblnc's own count, got %v", e)
	}
	if p.Metrics().EventsDropped != 0 {
		t.Fatalf("the binding dropped %d events with a reader", p.Metrics().EventsDropped)
	}
}

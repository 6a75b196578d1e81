package lnc_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// TestEventKindNames: every kind has liblnc's name; others are "unknown".
func TestEventKindNames(t *testing.T) {
	want := map[lnc.EventKind]string{
		lnc.EventConnecting:         "connecting",
		lnc.EventConnected:          "connected",
		lnc.EventDisconnected:       "disconnected",
		lnc.EventReconnectScheduled: "reconnect_scheduled",
		lnc.EventLeaderChanged:      "leader_changed",
		lnc.EventAuthFailed:         "auth_failed",
		lnc.EventFatal:              "fatal",
		lnc.EventCircuitOpen:        "circuit_open",
		lnc.EventCircuitHalfOpen:    "circuit_half_open",
		lnc.EventCircuitClosed:      "circuit_closed",
		lnc.EventStatistics:         "statistics",
		lnc.EventEventsDropped:      "events_dropped",
		0:                           "unknown",
		13:                          "unknown",
		-1:                          "unknown",
		1 << 40:                     "unknown",
	}
	for k, name := range want {
		if got := k.String(); got != name {
			t.Errorf("EventKind(%d).String() = %q, want %q", int(k), got, name)
		}
	}
}

// TestEventsFullChannelDropsAreCountedAndNeverBlock: an Events channel nobody reads neither
// blocks the producer nor Close; once read, one events_dropped event counts what was dropped,
// and the count matches Metrics().EventsDropped.
func TestEventsFullChannelDropsAreCountedAndNeverBlock(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "statistics.interval.ms": "2", "log.level": "off"},
		lnc.WithEventBuffer(2), lnc.WithReportChannel(16))
	ch := p.Events()
	ctx := ctxT(t, 20*time.Second)
	// Statistics documents pile up (every 2 ms) while the application produces and ignores them.
	for p.Metrics().EventsDropped < 20 {
		if err := p.Produce(ctx, topic, lnc.Record{Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		<-p.Reports()
		if ctx.Err() != nil {
			t.Fatal("no events dropped within 20 s")
		}
	}
	// Read: the two events kept, then the count of those dropped after them.
	var dropped uint64
	for dropped == 0 {
		select {
		case e := <-ch:
			if e.Kind == lnc.EventEventsDropped && strings.Contains(e.Message, "Events channel") {
				dropped += uint64(e.Attempt)
			}
		case <-ctx.Done():
			t.Fatal("no events_dropped event")
		}
	}
	if dropped < 20 {
		t.Fatalf("events_dropped counts %d, Metrics said ≥ 20 before", dropped)
	}
	// Stop reading again and close: Close never waits for a reader.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for e := range ch { // closed by Close, with what was left
		if e.Kind == lnc.EventEventsDropped && strings.Contains(e.Message, "Events channel") {
			dropped += uint64(e.Attempt)
		}
	}
	if total := p.Metrics().EventsDropped; dropped > total || total == 0 {
		t.Fatalf("events_dropped events count %d, Metrics %d", dropped, total)
	}
}

// TestEventsAndStatisticsRaceClose: Events (read and unread), Statistics and Metrics from
// several goroutines while others Close, on every handle kind: no crash, no hang, errors are
// CLOSED only, and every Events channel ends closed.
func TestEventsAndStatisticsRaceClose(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	cfg := lnc.Config{"bootstrap.servers": m.Addr(), "statistics.interval.ms": "1", "log.level": "off"}
	okOrClosed := func(what string, err error) {
		if err != nil && !errors.Is(err, lnc.ErrClosed) {
			t.Errorf("%s: %v", what, err)
		}
	}
	for round := 0; round < 10; round++ {
		p := mustProducer(t, cfg, lnc.WithEventBuffer(4))
		c, err := lnc.NewConsumer(ctxT(t, 10*time.Second), withKeys(cfg, "topic.id", itoa(topic)), lnc.WithEventBuffer(4))
		if err != nil {
			t.Fatal(err)
		}
		a, err := lnc.NewAdmin(cfg, lnc.WithEventBuffer(4))
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Produce(context.Background(), topic, lnc.Record{Value: []byte("r")})
		var wg sync.WaitGroup
		start := make(chan struct{})
		run := func(f func()) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				f()
			}()
		}
		for g := 0; g < 3; g++ {
			read := g == 0 // one goroutine reads each channel to the end; others only take it
			run(func() {
				for _, ch := range []<-chan lnc.Event{p.Events(), c.Events(), a.Events()} {
					if read {
						for range ch {
						}
					}
				}
			})
			run(func() {
				for i := 0; i < 20; i++ {
					_, err := p.Statistics()
					okOrClosed("producer Statistics", err)
					_, err = c.Statistics()
					okOrClosed("consumer Statistics", err)
					_, err = c.Metrics()
					okOrClosed("consumer Metrics", err)
					_ = p.Metrics()
					_ = a.EventsDropped()
				}
			})
			run(func() {
				time.Sleep(time.Duration(round) * time.Millisecond)
				okOrClosed("producer Close", p.Close())
				okOrClosed("consumer Close", c.Close())
				okOrClosed("admin Close", a.Close())
			})
		}
		close(start)
		wg.Wait()
		// After Close every channel is closed (a call made only now gets a closed channel too).
		for _, ch := range []<-chan lnc.Event{p.Events(), c.Events(), a.Events()} {
			for range ch {
			}
		}
		// Handles that never had Events called close cleanly and return a closed channel.
		p2 := mustProducer(t, cfg)
		okOrClosed("Close", p2.Close())
		if _, ok := <-p2.Events(); ok {
			t.Fatal("Events after Close: an open channel")
		}
	}
}

// blockingHandler blocks every record until released, then counts them.
type blockingHandler struct {
	release chan struct{}
	mu      sync.Mutex
	msgs    []string
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *blockingHandler) Handle(_ context.Context, r slog.Record) error {
	<-h.release
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *blockingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *blockingHandler) WithGroup(string) slog.Handler      { return h }

// TestLoggerSlowHandlerNeverBlocksLiblnc: a logger that blocks does not slow liblnc (its
// threads only queue lines); lines beyond the queue are dropped and then counted in one warn
// record.
func TestLoggerSlowHandlerNeverBlocksLiblnc(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	h := &blockingHandler{release: make(chan struct{})}
	// Debug: every 1 ms statistics document is a log line too.
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "statistics.interval.ms": "1", "linger.ms": "0"},
		lnc.WithLogger(slog.New(h)))
	ctx := ctxT(t, 30*time.Second)
	deadline := time.Now().Add(2 * time.Second)
	sent := 0
	for time.Now().Before(deadline) { // the producer works while the logger is stuck
		if _, err := p.ProduceSync(ctx, topic, lnc.Record{Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	close(h.release)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		var found bool
		for _, msg := range h.msgs {
			found = found || strings.Contains(msg, "log lines dropped")
		}
		n := len(h.msgs)
		h.mu.Unlock()
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dropped-lines record among %d records (sent %d)", n, sent)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// panickyHandler panics on every record.
type panickyHandler struct{}

func (panickyHandler) Enabled(context.Context, slog.Level) bool { return true }
func (panickyHandler) Handle(context.Context, slog.Record) error {
	panic("logger boom")
}
func (h panickyHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panickyHandler) WithGroup(string) slog.Handler      { return h }

// TestLoggerPanicIsRecoveredAndReturnedByClose: a panicking logger kills nothing; the panic
// comes back from the handle's Close as a *CallbackPanicError.
func TestLoggerPanicIsRecoveredAndReturnedByClose(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	cfg := lnc.Config{"bootstrap.servers": m.Addr(), "log.level": "debug", "topic.id": itoa(topic)}
	c, err := lnc.NewConsumer(ctxT(t, 10*time.Second), cfg, lnc.WithLogger(slog.New(panickyHandler{})))
	if err != nil {
		t.Fatal(err)
	}
	// Debug lines (connect attempts) come with the consumer's connection; wait for a few.
	time.Sleep(200 * time.Millisecond)
	if _, err := c.TryPoll(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var cp *lnc.CallbackPanicError
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Close()
		if errors.As(err, &cp) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Close: %v, want a *CallbackPanicError from the logger", err)
		}
		time.Sleep(20 * time.Millisecond) // the logger goroutine may not have run yet
	}
	if cp.Callback != "WithLogger" || cp.Value != "logger boom" {
		t.Fatalf("%+v", cp)
	}
}

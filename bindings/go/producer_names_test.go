package lnc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// Topic by name: liblnc resolves (and, with topic.auto.create, creates) the name and caches
// its id; the binding never looks names up itself.
func TestRuleTopicByName(t *testing.T) {
	m := fastMock(t)
	ctx := ctxT(t, 20*time.Second)
	name := fmt.Sprintf("go-by-name-%d", time.Now().UnixNano())
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr()}, lnc.WithReportChannel(16))
	if err := p.ProduceTo(ctx, name, lnc.Record{Value: []byte("a"), Opaque: "a"}); err != nil {
		t.Fatalf("ProduceTo a new name: %v", err)
	}
	id, err := p.ProduceSyncTo(ctx, name, lnc.RawRecord([]byte("b")))
	if err != nil || id == 0 {
		t.Fatalf("ProduceSyncTo: %d %v", id, err)
	}
	if err := p.ProduceBatchTo(ctx, name, []lnc.Record{lnc.RawRecord([]byte("c")), lnc.RawRecord([]byte("d"))}); err != nil {
		t.Fatal(err)
	}
	got := make(chan lnc.Report, 1)
	if err := p.ProduceFuncTo(ctx, name, lnc.RawRecord([]byte("e")), func(r lnc.Report) { got <- r }); err != nil {
		t.Fatal(err)
	}
	topic, err := p.TopicID(ctx, name)
	if err != nil || topic == 0 {
		t.Fatalf("TopicID: %d %v", topic, err)
	}
	if rem, err := p.Flush(ctx); rem != 0 || err != nil {
		t.Fatalf("Flush: %d %v", rem, err)
	}
	if r := <-got; r.Err != nil || r.Topic != topic {
		t.Fatalf("ProduceFuncTo report %+v (topic %d)", r, topic)
	}
	for i := 0; i < 3; i++ {
		if r := <-p.Reports(); r.Err != nil || r.Topic != topic {
			t.Fatalf("report %+v (topic %d)", r, topic)
		}
	}
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if tp, err := a.FindTopic(ctx, name); err != nil || tp.ID != topic {
		t.Fatalf("the producer created %q: %+v %v", name, tp, err)
	}
	if size, _ := m.TopicSize(topic); size == 0 {
		t.Fatal("nothing stored under the name")
	}

	// Without auto-create an unknown name is refused and nothing is accepted.
	strict := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.auto.create": "false"})
	if err := strict.ProduceTo(ctx, "go-no-such-topic", lnc.RawRecord([]byte("x"))); !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("unknown name without auto-create: %v", err)
	}
	if _, err := strict.TopicID(ctx, "go-no-such-topic"); !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("TopicID of an unknown name: %v", err)
	}
	if got, err := strict.TopicID(ctx, name); err != nil || got != topic {
		t.Fatalf("TopicID of an existing name without auto-create: %d %v", got, err)
	}
	if mt := strict.Metrics(); mt.Accepted != 0 {
		t.Fatalf("refused records accepted: %+v", mt)
	}
	// Bad names get a clear error: the core's rule, and a NUL byte a C string cannot carry.
	for _, bad := range []string{"", "bad name!", "nul\x00byte"} {
		if err := p.ProduceTo(ctx, bad, lnc.RawRecord([]byte("x"))); !errors.Is(err, lnc.ErrInvalidName) && !errors.Is(err, lnc.ErrInvalidArg) {
			t.Errorf("ProduceTo(%q): %v", bad, err)
		}
	}
}

// A failed fire-and-forget record (no Opaque, no callback, no report taker) is not raised in a
// callback: the next Flush (or Close) returns DELIVERY_FAILED with the count and the first error.
func TestRuleDeliveryFailed(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	ctx := ctxT(t, 20*time.Second)
	p, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	const unknown = 4242
	for i := 0; i < 3; i++ {
		if err := p.Produce(ctx, unknown, lnc.RawRecord([]byte("lost"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Produce(ctx, topic, lnc.RawRecord([]byte("kept"))); err != nil {
		t.Fatal(err)
	}
	rem, err := p.Flush(ctx)
	var e *lnc.Error
	if rem != 0 || !errors.Is(err, lnc.ErrDeliveryFailed) || !errors.As(err, &e) ||
		!strings.Contains(e.Message, "3 fire-and-forget") || !strings.Contains(e.Message, "UNKNOWN_TOPIC") {
		t.Fatalf("Flush after failed fire-and-forget records: %d %v", rem, err)
	}
	if rem, err := p.Flush(ctx); rem != 0 || err != nil { // reported once
		t.Fatalf("second Flush: %d %v", rem, err)
	}
	if mt := p.Metrics(); mt.RecordsFailed != 3 || mt.Failed != 3 || mt.Acked != 1 {
		t.Fatalf("metrics %+v", mt)
	}
	// Failures after the last Flush come back from Close.
	if err := p.Produce(ctx, unknown, lnc.RawRecord([]byte("lost"))); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); !errors.Is(err, lnc.ErrDeliveryFailed) {
		t.Fatalf("Close: %v", err)
	}

	// A record whose report someone takes is not fire-and-forget: its report tells.
	pr := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr()}, lnc.WithReportChannel(4))
	if err := pr.Produce(ctx, unknown, lnc.RawRecord([]byte("told"))); err != nil {
		t.Fatal(err)
	}
	if rem, err := pr.Flush(ctx); rem != 0 || err != nil {
		t.Fatalf("Flush with a report channel: %d %v", rem, err)
	}
	if r := <-pr.Reports(); !errors.Is(r.Err, lnc.ErrUnknownTopic) {
		t.Fatalf("report %+v", r)
	}
}

// TestProducerCallsRaceClose: every producer call, the by-name ones included, runs from several
// goroutines while Close runs; calls fail only with CLOSED (or their context's error), and each
// accepted record gets exactly one report.
func TestProducerCallsRaceClose(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	name := fmt.Sprintf("go-race-%d", time.Now().UnixNano())
	ctx := ctxT(t, 30*time.Second)
	p, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": m.Addr()}, lnc.WithReportChannel(256))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[uint64]int)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for r := range p.Reports() {
			if id, ok := r.Opaque.(uint64); ok {
				mu.Lock()
				seen[id]++
				mu.Unlock()
			}
		}
	}()
	var accepted, funcReports atomic.Int64
	var next atomic.Uint64
	ok := func(err error) bool {
		return err == nil || errors.Is(err, lnc.ErrClosed) || errors.Is(err, context.Canceled)
	}
	calls := []func(ctx context.Context) error{
		func(ctx context.Context) error {
			err := p.ProduceTo(ctx, name, lnc.Record{Value: []byte("n"), Opaque: next.Add(1)})
			if err == nil {
				accepted.Add(1)
			}
			return err
		},
		func(ctx context.Context) error {
			err := p.ProduceBatchTo(ctx, name, []lnc.Record{{Value: []byte("b1"), Opaque: next.Add(1)}, {Value: []byte("b2"), Opaque: next.Add(1)}})
			if err == nil {
				accepted.Add(2)
			}
			return err
		},
		func(ctx context.Context) error {
			return p.ProduceFuncTo(ctx, name, lnc.RawRecord([]byte("f")), func(lnc.Report) { funcReports.Add(1) })
		},
		func(ctx context.Context) error {
			_, err := p.ProduceSyncTo(ctx, name, lnc.RawRecord([]byte("s")))
			return err
		},
		func(ctx context.Context) error { _, err := p.TopicID(ctx, name); return err },
		func(ctx context.Context) error {
			err := p.Produce(ctx, topic, lnc.Record{Value: []byte("i"), Opaque: next.Add(1)})
			if err == nil {
				accepted.Add(1)
			}
			return err
		},
		func(ctx context.Context) error {
			_, err := p.Flush(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		},
		func(context.Context) error { _ = p.Metrics(); return nil },
	}
	var funcAccepted atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 2*len(calls); g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			call := calls[g%len(calls)]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Every other call gets a context cancelled at a random point.
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i%7)*time.Millisecond+time.Millisecond)
				if i%2 == 0 {
					cctx, cancel = context.WithCancel(ctx)
				}
				err := call(cctx)
				cancel()
				if g%len(calls) == 2 && err == nil {
					funcAccepted.Add(1)
				}
				if errors.Is(err, lnc.ErrClosed) {
					return
				}
				if !ok(err) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("call %d: %v", g%len(calls), err)
					return
				}
			}
		}(g)
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	close(stop)
	wg.Wait()
	<-readerDone
	mu.Lock()
	defer mu.Unlock()
	if int64(len(seen)) != accepted.Load() || funcReports.Load() != funcAccepted.Load() {
		t.Fatalf("accepted %d with %d distinct reports; ProduceFuncTo accepted %d with %d reports",
			accepted.Load(), len(seen), funcAccepted.Load(), funcReports.Load())
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %d reported %d times", id, n)
		}
	}
	if accepted.Load() == 0 {
		t.Fatal("nothing produced")
	}
}

// TestProduceToLookupIsBounded: a name lookup on a server that does not answer is bounded by
// request.timeout.ms, and a context that ended meanwhile is what the error matches. (liblnc's
// cancel token ends the waits between lookup attempts, not a request in flight: a cancelled
// ctx cannot cut the lookup shorter than request.timeout.ms today.)
func TestProduceToLookupIsBounded(t *testing.T) {
	m := fastMock(t)
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "request.timeout.ms": "1000"},
		lnc.WithCloseTimeout(100*time.Millisecond))
	if err := m.StallReading(true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.StallReading(false) }()
	time.Sleep(100 * time.Millisecond) // the mock notices the stall within its 20 ms read timeout
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := p.ProduceTo(ctx, fmt.Sprintf("go-stalled-%d", time.Now().UnixNano()), lnc.RawRecord([]byte("x")))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ProduceTo during a stalled lookup: %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("ProduceTo returned after %v, want at most request.timeout.ms (1 s)", d)
	}
	if mt := p.Metrics(); mt.Accepted != 0 {
		t.Fatalf("accepted %d", mt.Accepted)
	}
}

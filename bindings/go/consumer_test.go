package lnc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// produceN produces n raw records "rec-<i>" and waits until all are acknowledged.
func produceN(t testing.TB, m *lnc.MockBroker, topic uint32, n int) {
	t.Helper()
	if err := produceRecords(m, topic, n); err != nil {
		t.Fatal(err)
	}
}

func produceRecords(m *lnc.MockBroker, topic uint32, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		return err
	}
	defer p.Close()
	for i := 0; i < n; i++ {
		if err := p.Produce(ctx, topic, lnc.RawRecord([]byte(fmt.Sprintf("rec-%d", i)))); err != nil {
			return err
		}
	}
	if rem, err := p.Flush(ctx); rem != 0 || err != nil {
		return fmt.Errorf("Flush: %d %v", rem, err)
	}
	if mt := p.Metrics(); mt.Acked != uint64(n) {
		return fmt.Errorf("acked %d of %d", mt.Acked, n)
	}
	return nil
}

func TestConsumerSeekCommitLagPosition(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 100)
	ctx := ctxT(t, 20*time.Second)
	store := &lnc.MemoryOffsetStore{}
	c, err := lnc.NewConsumerWithStore(context.Background(), lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic),
		"max.poll.records": "10", "enable.auto.commit": "false"}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.TopicID() != topic {
		t.Fatalf("TopicID %d", c.TopicID())
	}
	recs, err := c.Poll(ctx)
	if err != nil || len(recs) == 0 || len(recs) > 10 || string(recs[0].Value) != "rec-0" {
		t.Fatalf("Poll: %d %v", len(recs), err)
	}
	pos, err := c.Position()
	if err != nil || pos <= recs[len(recs)-1].Offset {
		t.Fatalf("Position %d %v", pos, err)
	}
	size, _ := m.TopicSize(topic)
	lag, err := c.Lag(ctx)
	if err != nil || lag != size-pos {
		t.Fatalf("Lag %d (size %d pos %d) %v", lag, size, pos, err)
	}
	committed, err := c.Commit(ctx)
	if err != nil || committed != pos {
		t.Fatalf("Commit %d %v", committed, err)
	}
	if off, ok, _ := store.Load(topic); !ok || off != pos {
		t.Fatalf("store holds %d %v", off, ok)
	}
	// Seek to a record's offset, to the beginning and to the end.
	third := recs[3]
	if p, err := c.Seek(ctx, lnc.SeekOffset, third.Offset); err != nil || p != third.Offset {
		t.Fatalf("Seek offset: %d %v", p, err)
	}
	recs, err = c.Poll(ctx)
	if err != nil || string(recs[0].Value) != "rec-3" {
		t.Fatalf("after seek: %v %v", recs, err)
	}
	if p, err := c.Seek(ctx, lnc.SeekBeginning, 0); err != nil || p != 0 {
		t.Fatalf("Seek beginning: %d %v", p, err)
	}
	if recs, err = c.Poll(ctx); err != nil || string(recs[0].Value) != "rec-0" {
		t.Fatalf("after seek beginning: %v", err)
	}
	end, err := c.Seek(ctx, lnc.SeekEnd, 0)
	if err != nil || end != size {
		t.Fatalf("Seek end: %d (size %d) %v", end, size, err)
	}
	if lag, err := c.Lag(ctx); err != nil || lag != 0 {
		t.Fatalf("Lag at end: %d %v", lag, err)
	}
	// Nothing more: Poll honours its deadline.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if recs, err := c.Poll(short); !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
		t.Fatalf("Poll at end: %d %v", len(recs), err)
	}
	if d := time.Since(start); d < 140*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("Poll deadline took %v", d)
	}
	if recs, err := c.TryPoll(0); err != nil || len(recs) != 0 {
		t.Fatalf("TryPoll: %d %v", len(recs), err)
	}
	start = time.Now()
	if recs, err := c.TryPoll(-time.Hour); err != nil || len(recs) != 0 || time.Since(start) > time.Second {
		t.Fatalf("TryPoll(negative) = %d %v after %v, want no wait", len(recs), err, time.Since(start))
	}
	// Cancellation from another goroutine.
	cctx, ccancel := context.WithCancel(ctx)
	go func() { time.Sleep(60 * time.Millisecond); ccancel() }()
	if _, err := c.Poll(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Poll: %v", err)
	}
	// New records arrive while polling.
	perr := make(chan error, 1)
	go func() { perr <- produceRecords(m, topic, 5) }()
	got := consumeN(t, ctx, c, 5)
	if err := <-perr; err != nil {
		t.Fatal(err)
	}
	if string(got[0].Value) != "rec-0" {
		t.Fatalf("tail record %q", got[0].Value)
	}
}

func TestConsumerResumesFromUserStore(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 50)
	ctx := ctxT(t, 20*time.Second)
	store := &lnc.MemoryOffsetStore{}
	cfg := lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "max.poll.records": "20"}
	c, err := lnc.NewConsumerWithStore(context.Background(), cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	first := consumeN(t, ctx, c, 1)
	if err := c.Close(); err != nil { // auto-commit on close
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := c.Poll(ctx); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("Poll after close: %v", err)
	}
	if _, err := c.Position(); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("Position after close: %v", err)
	}
	c2, err := lnc.NewConsumerWithStore(context.Background(), cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	next, err := c2.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("rec-%d", len(first))
	if string(next[0].Value) != want {
		t.Fatalf("resumed at %q, want %q", next[0].Value, want)
	}
}

type faultyStore struct {
	lnc.MemoryOffsetStore
	mu        sync.Mutex
	failLoad  error
	failSave  error
	panicSave bool
	onSave    func()
}

var errStore = errors.New("disk on fire")

func (s *faultyStore) Load(topic uint32) (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLoad != nil {
		return 0, false, s.failLoad
	}
	return s.MemoryOffsetStore.Load(topic)
}

func (s *faultyStore) Save(topic uint32, off uint64) error {
	s.mu.Lock()
	f, p, cb := s.failSave, s.panicSave, s.onSave
	s.mu.Unlock()
	if cb != nil {
		cb()
	}
	if p {
		panic("store panic")
	}
	if f != nil {
		return f
	}
	return s.MemoryOffsetStore.Save(topic, off)
}

func TestConsumerStoreErrorsAndCallbacks(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 10)
	ctx := ctxT(t, 20*time.Second)
	cfg := lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "enable.auto.commit": "false"}

	if _, err := lnc.NewConsumerWithStore(context.Background(), cfg, nil); !errors.Is(err, lnc.ErrInvalidArg) {
		t.Fatalf("nil store: %v", err)
	}
	_, err := lnc.NewConsumerWithStore(context.Background(), cfg, &faultyStore{failLoad: errStore})
	if !errors.Is(err, errStore) || !errors.Is(err, lnc.ErrIO) {
		t.Fatalf("load failure: %v", err)
	}

	s := &faultyStore{}
	c, err := lnc.NewConsumerWithStore(context.Background(), cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	consumeN(t, ctx, c, 1)
	s.mu.Lock()
	s.failSave = errStore
	s.mu.Unlock()
	if _, err := c.Commit(ctx); !errors.Is(err, errStore) || !errors.Is(err, lnc.ErrIO) {
		t.Fatalf("save failure: %v", err)
	}
	s.mu.Lock()
	s.failSave, s.panicSave = nil, true
	s.mu.Unlock()
	_, err = c.Commit(ctx)
	var pe *lnc.CallbackPanicError
	if !errors.Is(err, lnc.ErrIO) || !strings.Contains(err.Error(), "store panic") || !errors.As(err, &pe) ||
		pe.Callback != "OffsetStore.Save" || pe.Value != "store panic" || !strings.Contains(string(pe.Stack), "faultyStore") {
		t.Fatalf("save panic: %v", err)
	}
	// Re-entrant calls from inside the store callback are refused with IN_CALLBACK.
	var inCb []error
	s.mu.Lock()
	s.panicSave = false
	s.onSave = func() {
		inCb = append(inCb, c.Close())
		_, err := c.Poll(ctx)
		inCb = append(inCb, err)
		_, err = c.TryPoll(0)
		inCb = append(inCb, err)
		_, err = c.PollFunc(ctx, func(*lnc.Record) {})
		inCb = append(inCb, err)
		_, err = c.Commit(ctx)
		inCb = append(inCb, err)
		_, err = c.Lag(ctx)
		inCb = append(inCb, err)
		_, err = c.Seek(ctx, lnc.SeekBeginning, 0)
		inCb = append(inCb, err)
	}
	s.mu.Unlock()
	if _, err := c.Commit(context.Background()); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if len(inCb) != 7 {
		t.Fatalf("inside callback: %v", inCb)
	}
	for i, err := range inCb {
		if !errors.Is(err, lnc.ErrInCallback) {
			t.Errorf("call %d inside the store callback: %v, want IN_CALLBACK", i, err)
		}
	}
	s.mu.Lock()
	s.onSave = nil
	s.mu.Unlock()
	if _, err := c.Seek(ctx, lnc.SeekBeginning, 0); err != nil { // still usable
		t.Fatal(err)
	}
	if _, err := c.Poll(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerFileStoreAndRecordsChannel(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 30)
	dir := t.TempDir()
	cfg := lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "consumer.name": "go-file",
		"offset.dir": dir}
	c := mustConsumer(t, cfg)
	ctx, cancel := context.WithCancel(ctxT(t, 20*time.Second))
	defer cancel()
	recs, errc := c.Records(ctx)
	n := 0
	for r := range recs {
		if string(r.Value) != fmt.Sprintf("rec-%d", n) {
			t.Fatalf("record %d: %q", n, r.Value)
		}
		n++
		if n == 30 {
			cancel()
			break
		}
	}
	for range recs { // drain until the feeder stops
	}
	if err := <-errc; err != nil {
		t.Fatalf("Records error: %v", err)
	}
	if _, err := c.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// A new consumer with the same name resumes at the end.
	c2 := mustConsumer(t, cfg)
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if got, err := c2.Poll(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("resumed consumer got %d records, %v", len(got), err)
	}
}

func TestConsumerErrors(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 3)
	ctx := ctxT(t, 20*time.Second)
	_, err := lnc.NewConsumer(context.Background(), lnc.Config{"bootstrap.servers": m.Addr(), "topic": "no-such-topic", "request.timeout.ms": "2000"})
	if !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	size, _ := m.TopicSize(topic)
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic),
		"start.offset": fmt.Sprint(size + 1000), "catching.up.retries": "1", "fetch.max.wait.ms": "5"})
	_, err = c.Poll(ctx)
	var e *lnc.Error
	if !errors.Is(err, lnc.ErrOffsetOutOfRange) || !errors.As(err, &e) {
		t.Fatalf("past the end: %v", err)
	}
	if !e.HasServerOffset || e.ServerOffset != size {
		t.Errorf("server offset %v %d, want %d", e.HasServerOffset, e.ServerOffset, size)
	}
	// Raw mode delivers undecoded chunks.
	raw := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "consume.raw": "true"})
	chunks, err := raw.Poll(ctx)
	if err != nil || len(chunks) == 0 || chunks[0].Type != lnc.TypeRawChunk || len(chunks[0].Value) == 0 {
		t.Fatalf("raw: %v %v", chunks, err)
	}
}

func TestConsumerPollFuncBorrowedAndClone(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	ctx := ctxT(t, 20*time.Second)
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr()})
	ts := time.Unix(1700000000, 5)
	for _, r := range []lnc.Record{lnc.RawRecord([]byte("a")), lnc.KeyTimestampedRecord(ts, []byte("key"), []byte("value")),
		lnc.TombstoneRecord(), lnc.KeyValueRecord(nil, nil)} {
		if err := p.Produce(ctx, topic, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic)})
	var kept []lnc.Record
	for len(kept) < 4 {
		if _, err := c.PollFunc(ctx, func(r *lnc.Record) { kept = append(kept, r.Clone()) }); err != nil {
			t.Fatal(err)
		}
	}
	if string(kept[0].Value) != "a" || kept[0].Key != nil {
		t.Errorf("raw: %+v", kept[0])
	}
	if string(kept[1].Key) != "key" || string(kept[1].Value) != "value" || kept[1].Timestamp != uint64(ts.UnixNano()) {
		t.Errorf("key-timestamped: %+v", kept[1])
	}
	if !kept[2].IsTombstone() || len(kept[2].Value) != 0 {
		t.Errorf("tombstone: %+v", kept[2])
	}
	if kept[3].Key == nil || len(kept[3].Key) != 0 || kept[3].Type != lnc.TypeKeyValue {
		t.Errorf("empty key: %+v", kept[3])
	}
	// Cloned slices alias the clone's own Raw, not liblnc's memory.
	if len(kept[1].Raw) < len(kept[1].Key)+len(kept[1].Value) {
		t.Errorf("raw %x", kept[1].Raw)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if n, err := c.PollFunc(short, func(*lnc.Record) {}); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PollFunc at end: %d %v", n, err)
	}
}

// TestConsumerCloseWhilePolling: goroutines poll (and call Lag/Commit) while Close runs; they
// all end with CLOSED or their data, without a race or a crash.
func TestConsumerCloseWhilePolling(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 200)
	ctx := ctxT(t, 20*time.Second)
	c, err := lnc.NewConsumer(context.Background(), lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "max.poll.records": "7"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 7; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				var err error
				switch g {
				case 0, 1: // concurrent Polls use distinct poll buffers
					_, err = c.Poll(ctx)
				case 2:
					_, err = c.PollFunc(ctx, func(*lnc.Record) {})
				case 3:
					_, err = c.TryPoll(time.Millisecond)
				case 4:
					_, err = c.Seek(ctx, lnc.SeekBeginning, 0)
				case 5:
					_, err = c.Position()
				default:
					if _, err = c.Lag(ctx); err == nil {
						_, err = c.Commit(ctx)
					}
				}
				if errors.Is(err, lnc.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		}(g)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("Close + pollers took %v", d)
	}
}

// TestConsumerCloseInsideFinalCommit: Close called by the offset store during Close's own final
// auto-commit is refused with IN_CALLBACK (liblnc's own re-entrancy check) instead of waiting
// for itself; the outer Close completes and commits.
func TestConsumerCloseInsideFinalCommit(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 5)
	ctx := ctxT(t, 20*time.Second)
	s := &faultyStore{}
	c, err := lnc.NewConsumerWithStore(ctx, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic),
		"enable.auto.commit": "true"}, s)
	if err != nil {
		t.Fatal(err)
	}
	consumeN(t, ctx, c, 5)
	inner := make(chan error, 4)
	s.mu.Lock()
	s.onSave = func() { inner <- c.Close() }
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("outer Close: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close from inside the final commit deadlocked")
	}
	if err := <-inner; !errors.Is(err, lnc.ErrInCallback) {
		t.Fatalf("inner Close: %v", err)
	}
	if off, ok, _ := s.MemoryOffsetStore.Load(topic); !ok || off == 0 {
		t.Fatalf("final commit not stored: %d %v", off, ok)
	}
}

// TestNewConsumerContext: a context that already ended is returned at once, creating nothing.
func TestNewConsumerContext(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store := &faultyStore{}
	c, err := lnc.NewConsumerWithStore(ctx, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic)}, store)
	if c != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("NewConsumer with a cancelled context: %v %v", c, err)
	}
}

// TestConsumerDeadlines: server calls take ctx's deadline as liblnc's timeout (shorter than
// request.timeout.ms here), and the error matches both context.DeadlineExceeded and TIMED_OUT.
func TestConsumerDeadlines(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 3)
	name := fmt.Sprintf("go-deadline-%d", time.Now().UnixNano())
	if _, err := m.CreateTopic(name); err != nil {
		t.Fatal(err)
	}
	cfg := lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "request.timeout.ms": "20000"}
	c := mustConsumer(t, cfg)
	if err := m.StallReading(true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.StallReading(false) }()
	time.Sleep(100 * time.Millisecond) // the mock notices the stall within its 20 ms read timeout

	short := func() context.Context { return ctxT(t, 300*time.Millisecond) }
	check := func(what string, err error, start time.Time) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, lnc.ErrTimedOut) {
			t.Errorf("%s on a stalled server: %v", what, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v with a 300 ms deadline", what, d)
		}
	}
	start := time.Now()
	_, err := c.Seek(short(), lnc.SeekEnd, 0)
	check("Seek(end)", err, start)
	start = time.Now()
	_, err = lnc.NewConsumer(short(), lnc.Config{"bootstrap.servers": m.Addr(), "topic": name, "request.timeout.ms": "20000"})
	check("NewConsumer", err, start)
}

// TestConsumerRecordLargerThanPollBuffer: a record larger than a poll buffer (1 MiB) is still
// returned, by Poll and by PollFunc, and the records around it too.
func TestConsumerRecordLargerThanPollBuffer(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	ctx := ctxT(t, 20*time.Second)
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr()})
	big := bytes.Repeat([]byte("L"), 3<<20/2)
	for _, v := range [][]byte{[]byte("before"), big, []byte("after"), big} {
		if _, err := p.ProduceSync(ctx, topic, lnc.RawRecord(v)); err != nil {
			t.Fatal(err)
		}
	}
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic)})
	recs := consumeN(t, ctx, c, 3)
	if string(recs[0].Value) != "before" || !bytes.Equal(recs[1].Value, big) || string(recs[2].Value) != "after" {
		t.Fatalf("records %d %d %d bytes", len(recs[0].Value), len(recs[1].Value), len(recs[2].Value))
	}
	var got []byte
	if _, err := c.PollFunc(ctx, func(r *lnc.Record) { got = append(got, r.Value...) }); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("PollFunc of a large record: %d bytes, %v", len(got), err)
	}
}

package lnc_test

// One test per cross-binding rule of docs/bindings.md (each binding has the same set).

import (
	"errors"
	"fmt"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// Ping: the round trip in the language's duration type (Go: time.Duration), in real time units.
func TestRulePingIsDuration(t *testing.T) {
	m := fastMock(t)
	ctx := ctxT(t, 20*time.Second)
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Ping(ctx); err != nil { // connects
		t.Fatal(err)
	}
	// A server that reads nothing for 300 ms: the round trip is at least that, and never more
	// than the wall time of the call (a unit error of 1000× either way fails one of the two).
	const stall = 300 * time.Millisecond
	if err := m.StallReading(true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the mock notices the stall within its 20 ms read timeout
	timer := time.AfterFunc(stall, func() { _ = m.StallReading(false) })
	defer timer.Stop()
	start := time.Now()
	var rtt time.Duration
	rtt, err = a.Ping(ctx)
	wall := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if rtt < stall*2/3 || rtt > wall {
		t.Fatalf("Ping = %v for a %v stall (call took %v)", rtt, stall, wall)
	}
}

// PANIC (-9): an *Error with CodePanic, matching ErrPanic and no other sentinel.
func TestRulePanicIsErrPanic(t *testing.T) {
	if lnc.CodePanic != lnc.Code(-9) || lnc.CodePanic.String() != "PANIC" || lnc.Sentinel(lnc.Code(-9)) != lnc.ErrPanic {
		t.Fatalf("PANIC maps to %d %q", int(lnc.CodePanic), lnc.CodePanic)
	}
	var err error = fmt.Errorf("poll: %w", &lnc.Error{Code: lnc.Code(-9), Message: "a panic was caught"})
	var e *lnc.Error
	if !errors.Is(err, lnc.ErrPanic) || !errors.As(err, &e) || e.Code != lnc.CodePanic {
		t.Fatalf("%v is not ErrPanic", err)
	}
	for _, c := range lnc.AllCodes {
		if c != lnc.CodePanic && errors.Is(err, lnc.Sentinel(c)) {
			t.Fatalf("PANIC matches %v", c)
		}
	}
}

// u64 values (offsets, positions, lag, ids, retention) cross the binding exactly, above 2^53 too.
func TestRuleU64Exact(t *testing.T) {
	// Test vectors of src/wire/consumer_id.rs: ids above 2^53 come back exact.
	for name, want := range map[string]uint64{
		"my-consumer": 18044035401257023742, "worker-1": 16750551406947868958, "": 3476900567878811119,
	} {
		if id, err := lnc.ConsumerID(name); err != nil || id != want {
			t.Errorf("ConsumerID(%q) = %d %v, want %d", name, id, err, want)
		}
	}
	m := fastMock(t)
	topic := newTopic(t, m)
	ctx := ctxT(t, 20*time.Second)
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic)})
	const big = uint64(1)<<53 + 1
	if pos, err := c.Seek(ctx, lnc.SeekOffset, big); err != nil || pos != big {
		t.Fatalf("Seek(2^53+1) = %d %v", pos, err)
	}
	if pos, err := c.Position(); err != nil || pos != big {
		t.Fatalf("Position = %d %v, want %d", pos, err, big)
	}
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	name := fmt.Sprintf("go-u64-%d", time.Now().UnixNano())
	// The largest age the server takes (u64 milliseconds), and bytes above 2^53.
	const maxAge = uint64(18446744072) // one below the server's "no limit" encoding
	tp, err := a.CreateTopicWithRetention(ctx, name, maxAge, big)
	if err != nil || tp.MaxAgeSecs != maxAge || tp.MaxBytes != big {
		t.Fatalf("retention round trip: %+v %v", tp, err)
	}
}

// Retention 0 means "no retention limit" everywhere, never an error.
func TestRuleRetentionZeroIsUnlimited(t *testing.T) {
	m := fastMock(t)
	ctx := ctxT(t, 20*time.Second)
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tp, err := a.CreateTopicWithRetention(ctx, fmt.Sprintf("go-ret0-%d", time.Now().UnixNano()), 0, 0)
	if err != nil || tp.ID == 0 || tp.MaxAgeSecs == 0 || tp.MaxBytes == 0 {
		t.Fatalf("CreateTopicWithRetention(0, 0): %+v %v", tp, err)
	}
	if err := a.SetRetention(ctx, tp.ID, 0, 0); err != nil {
		t.Fatalf("SetRetention(0, 0): %v", err)
	}
	if err := a.SetRetention(ctx, tp.ID, 0, lnc.RetentionUnlimited); err != nil {
		t.Fatalf("SetRetention(0, unlimited): %v", err)
	}
}

package lnc_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

func TestAdminTopicsAndRetention(t *testing.T) {
	m := fastMock(t)
	ctx := ctxT(t, 20*time.Second)
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	t1, err := a.CreateTopic(ctx, "orders")
	if err != nil || t1.ID == 0 || t1.Name != "orders" || t1.CreatedAt.IsZero() {
		t.Fatalf("CreateTopic: %+v %v", t1, err)
	}
	again, err := a.EnsureTopic(ctx, "orders")
	if err != nil || again.ID != t1.ID {
		t.Fatalf("EnsureTopic existing: %+v %v", again, err)
	}
	fresh, err := a.EnsureTopic(ctx, "payments")
	if err != nil || fresh.ID == t1.ID {
		t.Fatalf("EnsureTopic new: %+v %v", fresh, err)
	}
	r, err := a.CreateTopicWithRetention(ctx, "logs", 3600, lnc.RetentionUnlimited)
	if err != nil || !r.HasRetention || r.MaxAgeSecs != 3600 || r.MaxBytes != lnc.RetentionUnlimited {
		t.Fatalf("CreateTopicWithRetention: %+v %v", r, err)
	}
	// Retention 0 (= unlimited): TestRuleRetentionZeroIsUnlimited.
	list, err := a.ListTopics(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListTopics: %+v %v", list, err)
	}
	names := map[string]uint32{}
	for _, tp := range list {
		names[tp.Name] = tp.ID
	}
	if names["orders"] != t1.ID || names["payments"] != fresh.ID || names["logs"] != r.ID {
		t.Fatalf("list %v", names)
	}
	if g, err := a.GetTopic(ctx, fresh.ID); err != nil || g.Name != "payments" {
		t.Fatalf("GetTopic: %+v %v", g, err)
	}
	if f, err := a.FindTopic(ctx, "logs"); err != nil || f.ID != r.ID {
		t.Fatalf("FindTopic: %+v %v", f, err)
	}
	if err := a.SetRetention(ctx, t1.ID, 60, 1<<30); err != nil {
		t.Fatalf("SetRetention: %v", err)
	}
	if err := a.SetRetention(ctx, 999999, 60, 1<<30); !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("SetRetention unknown: %v", err)
	}
	if err := a.DeleteTopic(ctx, fresh.ID); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if _, err := a.GetTopic(ctx, fresh.ID); !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("deleted topic: %v", err)
	}
}

func TestAdminClusterPingFetchSubscribe(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 5)
	ctx := ctxT(t, 20*time.Second)
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.ClusterStatus(ctx)
	if err != nil || !st.IsStandalone {
		t.Fatalf("ClusterStatus: %+v %v", st, err)
	}
	if rtt, err := a.Ping(ctx); err != nil || rtt <= 0 || rtt > 5*time.Second {
		t.Fatalf("Ping: %v %v", rtt, err)
	}
	size, _ := m.TopicSize(topic)
	fr, err := a.Fetch(ctx, topic, 0, 1<<20)
	if err != nil || fr.CatchingUp || uint64(len(fr.Data)) != size || fr.NextOffset != size {
		t.Fatalf("Fetch: %+v (size %d) %v", fr, size, err)
	}
	fr, err = a.Fetch(ctx, topic, size, 1<<20)
	if err != nil || len(fr.Data) != 0 || (fr.CatchingUp && fr.EndOffset != size) {
		t.Fatalf("Fetch at end: %+v %v", fr, err)
	}
	if err := m.ForceCatchingUp(1); err != nil {
		t.Fatal(err)
	}
	fr, err = a.Fetch(ctx, topic, 0, 1<<20)
	if err != nil || !fr.CatchingUp || fr.EndOffset != size {
		t.Fatalf("forced CatchingUp: %+v %v", fr, err)
	}
	if _, err := a.Fetch(ctx, 999999, 0, 1024); !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("Fetch unknown: %v", err)
	}
	id, err := lnc.ConsumerID("go-consumer")
	if err != nil || id == 0 {
		t.Fatalf("ConsumerID: %d %v", id, err)
	}
	if id2, _ := lnc.ConsumerID("go-consumer"); id2 != id {
		t.Fatal("ConsumerID not stable")
	}
	if _, err := a.Subscribe(ctx, topic, 0, 1<<16, id); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := a.CommitOffset(ctx, topic, id, size); err != nil {
		t.Fatalf("CommitOffset: %v", err)
	}
	if err := a.Unsubscribe(ctx, topic, id); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
}

// silentServer accepts TCP connections and never answers (a hung broker).
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestAdminContextAndClose(t *testing.T) {
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": silentServer(t), "request.timeout.ms": "10000"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	// Deadline: the call's timeout is the context's remaining time.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = a.ListTopics(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung ListTopics: %v", err)
	}
	if d := time.Since(start); d < 140*time.Millisecond || d > 2*time.Second {
		t.Fatalf("deadline not honoured: %v", d)
	}
	// Cancellation returns at once.
	cctx, ccancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); ccancel() }()
	start = time.Now()
	if _, err := a.ClusterStatus(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ClusterStatus: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancellation not honoured: %v", d)
	}
	// Without a deadline, request.timeout.ms bounds the call (liblnc's TIMED_OUT).
	b, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": silentServer(t), "request.timeout.ms": "200"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Ping(context.Background()); !errors.Is(err, lnc.ErrTimedOut) && !errors.Is(err, lnc.ErrTransport) {
		t.Fatalf("request.timeout.ms: %v", err)
	}
	// Close waits for the abandoned call (bounded by its timeout) and is idempotent.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ListTopics(ctx); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

package lnc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// TestMockBrokerControls drives every fault control and checks its visible effect.
func TestMockBrokerControls(t *testing.T) {
	m := startMock(t, map[string]string{"ack.delay.ms": "1", "segment.bytes": "65536"})
	if m.Addr() == "" || m.Port() == 0 {
		t.Fatalf("addr %q port %d", m.Addr(), m.Port())
	}
	ctx := ctxT(t, 30*time.Second)
	topic := newTopic(t, m)
	if _, err := m.CreateTopic("bad name!"); !errors.Is(err, lnc.ErrInvalidName) {
		t.Fatalf("invalid name: %v", err)
	}
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "retry.backoff.ms": "1", "reconnect.backoff.ms": "1"})
	send := func() error {
		_, err := p.ProduceSync(ctx, topic, lnc.RawRecord([]byte("m")))
		return err
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(send())
	must(m.SetAckDelay(0))
	must(m.DisconnectAll())
	must(send())
	must(m.DropAfterFrames(1))
	must(send())
	must(m.DropAfterBytes(10))
	must(send())
	must(m.FailNextIngests(1, "FORWARD_FAILED: test", false))
	must(send())
	must(m.FailNextIngests(1, "Rate limit exceeded", false))
	must(send())
	st, err := m.Stats()
	must(err)
	if st.ConnectionsAccepted < 3 || st.ErrorsSent < 2 || st.IngestsStored < 5 || st.AcksSent < 5 {
		t.Fatalf("stats %+v", st)
	}
	pm := p.Metrics()
	if pm.Disconnects < 2 || pm.ServerErrors < 2 || pm.BatchesRetried < 2 {
		t.Fatalf("producer metrics %+v", pm)
	}
	// Dropped acks: the record is stored but never acknowledged.
	before, _ := m.Stats()
	must(m.DropNextAcks(1))
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = p.ProduceSync(short, topic, lnc.RawRecord([]byte("lost ack")))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dropped ack: %v", err)
	}
	st, _ = m.Stats()
	if st.AcksDropped != before.AcksDropped+1 {
		t.Fatalf("AcksDropped %d -> %d", before.AcksDropped, st.AcksDropped)
	}
	// Consumer-side controls.
	must(m.SetFetchRateLimit(0))
	must(m.ForceCatchingUp(2))
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "fetch.max.wait.ms": "5"})
	if _, err := c.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	must(c.Close()) // its fetches would take the injected failure
	must(m.FailNextRequests(1, "Some failure"))
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	must(err)
	defer a.Close()
	if _, err := a.ListTopics(ctx); !errors.Is(err, lnc.ErrServerError) {
		t.Fatalf("FailNextRequests: %v", err)
	}
	size, err := m.TopicSize(topic)
	must(err)
	must(m.TruncateFront(topic, 0))
	must(m.Restart())
	// (s2 may exceed size: the producer resends its never-acked record after the restart.)
	if s2, _ := m.TopicSize(topic); s2 < size {
		t.Fatalf("restart lost data: %d -> %d", size, s2)
	}
	if _, err := m.TopicSize(999999); !errors.Is(err, lnc.ErrUnknownTopic) {
		t.Fatalf("TopicSize unknown: %v", err)
	}
	// Authentication controls.
	must(m.RequireToken("tok"))
	pt := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "auth.token": "tok"})
	if _, err := pt.ProduceSync(ctx, topic, lnc.RawRecord([]byte("a"))); err != nil {
		t.Fatalf("with token: %v", err)
	}
	must(m.SetWriteOnly(true))
	must(m.SetWriteOnly(false))
	must(m.RequireToken(""))
	must(m.StallReading(true))
	must(m.StallReading(false))
	must(m.Stop())
	must(m.Stop())
	if _, err := m.Stats(); err != nil {
		t.Fatalf("Stats after Stop: %v", err)
	}
	must(m.Close())
	must(m.Close())
	if err := m.DisconnectAll(); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if m.Port() != 0 {
		t.Fatal("port after close")
	}
}

func TestMockTruncateFront(t *testing.T) {
	m := fastMock(t)
	topic := newTopic(t, m)
	produceN(t, m, topic, 20)
	size, err := m.TopicSize(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.TruncateFront(topic, 10); err != nil {
		t.Fatal(err)
	}
	if s2, _ := m.TopicSize(topic); s2 != size-10 {
		t.Fatalf("size %d -> %d", size, s2)
	}
	_ = context.Background
}

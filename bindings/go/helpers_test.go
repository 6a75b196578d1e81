package lnc_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

var topicSeq atomic.Uint64

// startMock starts a mock broker closed at the end of the test.
func startMock(tb testing.TB, settings map[string]string) *lnc.MockBroker {
	tb.Helper()
	m, err := lnc.NewMockBroker(settings)
	if err != nil {
		tb.Fatalf("NewMockBroker: %v", err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

// fastMock is a mock with no ack delay.
func fastMock(tb testing.TB) *lnc.MockBroker {
	return startMock(tb, map[string]string{"ack.delay.ms": "0"})
}

// newTopic creates a fresh topic on the mock.
func newTopic(tb testing.TB, m *lnc.MockBroker) uint32 {
	tb.Helper()
	id, err := m.CreateTopic(fmt.Sprintf("go-test-%d-%d", time.Now().UnixNano()%1e9, topicSeq.Add(1)))
	if err != nil {
		tb.Fatalf("CreateTopic: %v", err)
	}
	return id
}

func ctxT(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func mustProducer(tb testing.TB, cfg lnc.Config, opts ...lnc.ProducerOption) *lnc.Producer {
	tb.Helper()
	p, err := lnc.NewProducer(cfg, opts...)
	if err != nil {
		tb.Fatalf("NewProducer: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

func mustConsumer(tb testing.TB, cfg lnc.Config) *lnc.Consumer {
	tb.Helper()
	c, err := lnc.NewConsumer(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("NewConsumer: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// consumeN polls until n records arrived or ctx ends.
func consumeN(tb testing.TB, ctx context.Context, c *lnc.Consumer, n int) []lnc.Record {
	tb.Helper()
	var out []lnc.Record
	for len(out) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			tb.Fatalf("Poll after %d/%d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	return out
}

func itoa(v uint32) string { return fmt.Sprint(v) }

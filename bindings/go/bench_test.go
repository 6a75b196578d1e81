package lnc_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// BenchmarkProduce produces 100-byte raw records against the embedded mock (ack delay 0) and
// reports records/s including the final flush (every record acknowledged).
func BenchmarkProduce(b *testing.B) {
	m := fastMock(b)
	topic := newTopic(b, m)
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx := context.Background()
	val := make([]byte, 100)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	rec := lnc.RawRecord(val)
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Produce(ctx, topic, rec); err != nil {
			b.Fatal(err)
		}
	}
	if rem, err := p.Flush(ctx); err != nil || rem != 0 {
		b.Fatalf("flush: %d %v", rem, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if m := p.Metrics(); m.Acked != uint64(b.N) {
		b.Fatalf("acked %d of %d", m.Acked, b.N)
	}
}

// BenchmarkProduceCancellableContext is BenchmarkProduce with a context that can end (the usual
// case in servers): liblnc gets a cancel token only when the buffer is full.
func BenchmarkProduceCancellableContext(b *testing.B) {
	m := fastMock(b)
	topic := newTopic(b, m)
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := lnc.RawRecord(make([]byte, 100))
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Produce(ctx, topic, rec); err != nil {
			b.Fatal(err)
		}
	}
	if rem, err := p.Flush(ctx); err != nil || rem != 0 {
		b.Fatalf("flush: %d %v", rem, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProduceTo is BenchmarkProduce by topic name (liblnc's cache resolves it).
func BenchmarkProduceTo(b *testing.B) {
	m := fastMock(b)
	if _, err := m.CreateTopic("bench-by-name"); err != nil {
		b.Fatal(err)
	}
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx := context.Background()
	rec := lnc.RawRecord(make([]byte, 100))
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.ProduceTo(ctx, "bench-by-name", rec); err != nil {
			b.Fatal(err)
		}
	}
	if rem, err := p.Flush(ctx); err != nil || rem != 0 {
		b.Fatalf("flush: %d %v", rem, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProduceBatch is BenchmarkProduce with ProduceBatch (one cgo call per 256 records).
func BenchmarkProduceBatch(b *testing.B) {
	m := fastMock(b)
	topic := newTopic(b, m)
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx := context.Background()
	val := make([]byte, 100)
	batch := make([]lnc.Record, 256)
	for i := range batch {
		batch[i] = lnc.RawRecord(val)
	}
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		k := min(len(batch), b.N-i)
		if err := p.ProduceBatch(ctx, topic, batch[:k]); err != nil {
			b.Fatal(err)
		}
	}
	if rem, err := p.Flush(ctx); err != nil || rem != 0 {
		b.Fatalf("flush: %d %v", rem, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if m := p.Metrics(); m.Acked != uint64(b.N) {
		b.Fatalf("acked %d of %d", m.Acked, b.N)
	}
}

// consumeBench produces b.N 100-byte records (untimed), then times consuming them with poll.
func consumeBench(b *testing.B, poll func(ctx context.Context, c *lnc.Consumer) (int, error)) {
	m := fastMock(b)
	topic := newTopic(b, m)
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx := context.Background()
	val := make([]byte, 100)
	for i := 0; i < b.N; i++ {
		if err := p.Produce(ctx, topic, lnc.RawRecord(val)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	// The same consumer settings as `lnc bench consume`.
	c := mustConsumer(b, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic), "start.offset": "beginning",
		"max.poll.records": "65536", "offset.store": "none", "enable.auto.commit": "false"})
	b.SetBytes(100)
	b.ResetTimer()
	got := 0
	for got < b.N {
		n, err := poll(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
	b.StopTimer()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkConsume consumes with Poll: every record copied into Go memory.
func BenchmarkConsume(b *testing.B) {
	var sink int
	consumeBench(b, func(ctx context.Context, c *lnc.Consumer) (int, error) {
		recs, err := c.Poll(ctx)
		for i := range recs {
			sink += len(recs[i].Value)
		}
		return len(recs), err
	})
	_ = sink
}

// BenchmarkConsumeZeroCopy consumes with PollFunc: records borrowed from liblnc's memory.
func BenchmarkConsumeZeroCopy(b *testing.B) {
	var sink int
	consumeBench(b, func(ctx context.Context, c *lnc.Consumer) (int, error) {
		return c.PollFunc(ctx, func(r *lnc.Record) { sink += len(r.Value) })
	})
	_ = sink
}

// BenchmarkProduceToCancellableContext is BenchmarkProduceTo with a context that can end.
func BenchmarkProduceToCancellableContext(b *testing.B) {
	m := fastMock(b)
	if _, err := m.CreateTopic("bench-by-name"); err != nil {
		b.Fatal(err)
	}
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := lnc.RawRecord(make([]byte, 100))
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.ProduceTo(ctx, "bench-by-name", rec); err != nil {
			b.Fatal(err)
		}
	}
	if rem, err := p.Flush(ctx); err != nil || rem != 0 {
		b.Fatalf("flush: %d %v", rem, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProduceObserved is BenchmarkProduce with everything observable switched on: the
// Events channel read by a goroutine, statistics every second (statistics.interval.ms=1000)
// and liblnc's log lines at info going to a slog.Logger. Compare with BenchmarkProduce in the
// same run: events and logs are off the hot path, so the figures should match within noise.
func BenchmarkProduceObserved(b *testing.B) {
	m := fastMock(b)
	topic := newTopic(b, m)
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr(), "statistics.interval.ms": "1000"},
		lnc.WithLogger(logger))
	events := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range p.Events() {
			events++
		}
	}()
	ctx := context.Background()
	rec := lnc.RawRecord(make([]byte, 100))
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Produce(ctx, topic, rec); err != nil {
			b.Fatal(err)
		}
	}
	if rem, err := p.Flush(ctx); err != nil || rem != 0 {
		b.Fatalf("flush: %d %v", rem, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	<-done
	if events == 0 {
		b.Fatal("no events seen (connecting/connected at least)")
	}
}

package lnc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// A producer with a report channel: Produce is asynchronous, and every accepted record gets
// exactly one Report.
func ExampleProducer() {
	mock, err := lnc.NewMockBroker(nil) // for a real server, use its host:port instead
	if err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	topic, _ := mock.CreateTopic("events")

	p, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": mock.Addr(), "linger.ms": "2"},
		lnc.WithReportChannel(100))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for i := 1; i <= 3; i++ {
		rec := lnc.KeyValueRecord([]byte(fmt.Sprintf("user-%d", i)), []byte("signed up"))
		rec.Opaque = i
		if err := p.Produce(ctx, topic, rec); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	acked := 0
	for i := 0; i < 3; i++ {
		if r := <-p.Reports(); r.Err == nil {
			acked++
		}
	}
	batch, err := p.ProduceSync(ctx, topic, lnc.JSONRecord([]byte(`{"done":true}`)))
	fmt.Println("acked:", acked, "sync acked:", err == nil && batch > 0)
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}
	// Output: acked: 3 sync acked: true
}

// A consumer reading a topic from the beginning, with Seek and Lag.
func ExampleConsumer() {
	mock, _ := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "0"})
	defer mock.Close()
	topic, _ := mock.CreateTopic("greetings")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	p, _ := lnc.NewProducer(lnc.Config{"bootstrap.servers": mock.Addr()})
	for _, s := range []string{"hello", "bonjour", "hallo"} {
		_ = p.Produce(ctx, topic, lnc.RawRecord([]byte(s)))
	}
	_, _ = p.Flush(ctx)
	_ = p.Close()

	c, err := lnc.NewConsumer(ctx, lnc.Config{
		"bootstrap.servers": mock.Addr(),
		"topic":             "greetings",
		"start.offset":      "beginning",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var got []lnc.Record
	for len(got) < 3 {
		recs, err := c.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		got = append(got, recs...)
	}
	for _, r := range got {
		fmt.Printf("%s %s\n", r.Type, r.Value)
	}
	lag, _ := c.Lag(ctx)
	_, _ = c.Seek(ctx, lnc.SeekOffset, got[1].Offset)
	again, _ := c.Poll(ctx)
	fmt.Println("lag:", lag, "after seek:", string(again[0].Value))
	// Output:
	// raw hello
	// raw bonjour
	// raw hallo
	// lag: 0 after seek: bonjour
}

// Topic administration and typed errors.
func ExampleAdmin() {
	mock, _ := lnc.NewMockBroker(nil)
	defer mock.Close()
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": mock.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	orders, _ := a.CreateTopic(ctx, "orders")
	_, _ = a.CreateTopicWithRetention(ctx, "audit", 7*24*3600, lnc.RetentionUnlimited)
	_, err = a.CreateTopic(ctx, "orders")
	fmt.Println("exists:", errors.Is(err, lnc.ErrTopicExists))
	same, _ := a.EnsureTopic(ctx, "orders")
	fmt.Println("ensure finds it:", same.ID == orders.ID)

	topics, _ := a.ListTopics(ctx)
	for _, t := range topics {
		fmt.Println("topic:", t.Name)
	}
	st, _ := a.ClusterStatus(ctx)
	fmt.Println("standalone:", st.IsStandalone)

	_, err = a.FindTopic(ctx, "missing")
	var e *lnc.Error
	if errors.As(err, &e) {
		fmt.Println("code:", e.Code, "retryable:", e.Retryable())
	}
	// Output:
	// exists: true
	// ensure finds it: true
	// topic: orders
	// topic: audit
	// standalone: true
	// code: UNKNOWN_TOPIC retryable: false
}

// Fault injection in a user's test: the mock answers FORWARD_FAILED once and liblnc retries.
func ExampleMockBroker() {
	mock, _ := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "0"})
	defer mock.Close()
	topic, _ := mock.CreateTopic("flaky")
	p, _ := lnc.NewProducer(lnc.Config{"bootstrap.servers": mock.Addr(), "retry.backoff.ms": "1"})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_ = mock.FailNextIngests(1, "FORWARD_FAILED: leader unreachable", false)
	_, err := p.ProduceSync(ctx, topic, lnc.RawRecord([]byte("eventually stored")))
	stats, _ := mock.Stats()
	fmt.Println("err:", err, "errors sent:", stats.ErrorsSent, "batches retried:", p.Metrics().BatchesRetried)
	// Output: err: <nil> errors sent: 1 batches retried: 1
}

// Producing by topic name: liblnc looks the name up (creating the topic, as topic.auto.create
// defaults to true) and caches its id; a failed fire-and-forget record surfaces at Flush.
func ExampleProducer_ProduceTo() {
	mock, _ := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "0"})
	defer mock.Close()
	p, _ := lnc.NewProducer(lnc.Config{"bootstrap.servers": mock.Addr()})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_ = p.ProduceTo(ctx, "clicks", lnc.RawRecord([]byte("fire and forget")))
	batch, err := p.ProduceSyncTo(ctx, "clicks", lnc.RawRecord([]byte("and wait")))
	id, _ := p.TopicID(ctx, "clicks")
	_, flushErr := p.Flush(ctx)
	fmt.Println("sync acked:", err == nil && batch > 0, "topic known:", id > 0, "flush:", flushErr)

	_ = p.Produce(ctx, 999, lnc.RawRecord([]byte("to a topic that does not exist")))
	_, flushErr = p.Flush(ctx)
	fmt.Println("delivery failed:", errors.Is(flushErr, lnc.ErrDeliveryFailed))
	// Output:
	// sync acked: true topic known: true flush: <nil>
	// delivery failed: true
}

// Watching a producer's connection and statistics through its Events channel, with liblnc's
// log lines going to a slog.Logger.
func ExampleProducer_Events() {
	mock, _ := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "0"})
	defer mock.Close()
	topic, _ := mock.CreateTopic("watched")

	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": mock.Addr(), "statistics.interval.ms": "50"},
		lnc.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	events := p.Events() // closed by p.Close
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.ProduceSync(ctx, topic, lnc.RawRecord([]byte("hello"))); err != nil {
		log.Fatal(err)
	}
	for e := range events {
		switch e.Kind {
		case lnc.EventConnecting, lnc.EventConnected:
			fmt.Println(e.Kind)
		case lnc.EventStatistics:
			var doc struct {
				Kind         string `json:"kind"`
				RecordsAcked uint64 `json:"records_acked"`
			}
			_ = json.Unmarshal([]byte(e.Message), &doc)
			if doc.RecordsAcked == 1 {
				fmt.Println(doc.Kind, "statistics: 1 record acked")
				_ = p.Close()
				for range events { // the close's own events; then the channel is closed
				}
				return
			}
		}
	}
	// Output:
	// connecting
	// connected
	// producer statistics: 1 record acked
}

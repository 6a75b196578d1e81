package lnc_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// TestFaultInjectionCounting produces 50,000 records while the mock cuts connections, drops
// connections after N frames/bytes, answers FORWARD_FAILED, and while every 50th record goes
// to a topic that does not exist. Every record must get exactly one report:
// sent == acked + failed, failures are exactly the unknown-topic records, and consuming the
// topic back yields exactly the acknowledged records (duplicates only from resends after an
// unknown outcome, which liblnc counts).
func TestFaultInjectionCounting(t *testing.T) {
	const n = 50_000
	const unknownTopic = 999_999
	m := fastMock(t)
	topic := newTopic(t, m)
	ctx := ctxT(t, 120*time.Second)

	var mu sync.Mutex
	outcome := make([]int8, n) // 0 = none, 1 = acked, 2 = failed
	dupReports := 0
	wrongFailures := []error{}
	p := mustProducer(t, lnc.Config{
		"bootstrap.servers":    m.Addr(),
		"batch.size":           "4096",
		"retry.backoff.ms":     "1",
		"reconnect.backoff.ms": "1",
		"reconnect.jitter":     "0",
	}, lnc.WithDeliveryFunc(func(r lnc.Report) {
		i := r.Opaque.(int)
		mu.Lock()
		defer mu.Unlock()
		if outcome[i] != 0 {
			dupReports++
		}
		if r.Err == nil {
			outcome[i] = 1
			return
		}
		outcome[i] = 2
		if r.Topic != unknownTopic || !errors.Is(r.Err, lnc.ErrUnknownTopic) {
			wrongFailures = append(wrongFailures, fmt.Errorf("record %d topic %d: %w", i, r.Topic, r.Err))
		}
	}))

	stop := make(chan struct{})
	faults := make(chan map[string]int, 1)
	go func() {
		count := map[string]int{}
		defer func() { faults <- count }()
		tick := time.NewTicker(15 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var err error
			switch k % 4 {
			case 0:
				err = m.DisconnectAll()
				count["disconnect_all"]++
			case 1:
				err = m.FailNextIngests(2, "FORWARD_FAILED: leader election in progress", false)
				count["forward_failed"] += 2
			case 2:
				err = m.DropAfterFrames(3)
				count["drop_after_frames"]++
			case 3:
				err = m.DropAfterBytes(20_000)
				count["drop_after_bytes"]++
			}
			if err != nil {
				t.Errorf("fault injection: %v", err)
				return
			}
		}
	}()

	sentUnknown := 0
	val := make([]byte, 0, 32)
	for i := 0; i < n; i++ {
		dst := topic
		if i%50 == 0 {
			dst = unknownTopic
			sentUnknown++
		}
		val = strconv.AppendInt(append(val[:0], "f-"...), int64(i), 10)
		if err := p.Produce(ctx, dst, lnc.Record{Value: val, Opaque: i}); err != nil {
			t.Fatalf("Produce %d: %v", i, err)
		}
		if i%5000 == 0 {
			time.Sleep(5 * time.Millisecond) // let faults land mid-stream
		}
	}
	close(stop)
	injected := <-faults
	if err := m.FailNextIngests(0, "FORWARD_FAILED: off", false); err != nil {
		t.Fatal(err)
	}
	if rem, err := p.Flush(ctx); rem != 0 || err != nil {
		t.Fatalf("Flush: %d remaining, %v", rem, err)
	}

	mt := p.Metrics()
	mu.Lock()
	acked, failed := 0, 0
	for i, o := range outcome {
		switch o {
		case 1:
			acked++
			if i%50 == 0 {
				t.Errorf("record %d to the unknown topic acked", i)
			}
		case 2:
			failed++
		default:
			t.Fatalf("record %d has no report", i)
		}
	}
	mu.Unlock()
	t.Logf("faults injected %v; producer: %d acked, %d failed, disconnects %d, server errors %d, batches retried %d, possible duplicates %d",
		injected, acked, failed, mt.Disconnects, mt.ServerErrors, mt.BatchesRetried, mt.PossibleDuplicates)
	if dupReports != 0 {
		t.Fatalf("%d duplicate reports", dupReports)
	}
	if len(wrongFailures) > 0 {
		t.Fatalf("%d unexpected failures, first: %v", len(wrongFailures), wrongFailures[0])
	}
	if acked+failed != n || failed != sentUnknown {
		t.Fatalf("sent %d != acked %d + failed %d (unknown-topic records %d)", n, acked, failed, sentUnknown)
	}
	if mt.Accepted != n || mt.Acked != uint64(acked) || mt.Failed != uint64(failed) ||
		mt.RecordsAcked != uint64(acked) || mt.RecordsFailed != uint64(failed) {
		t.Fatalf("metrics disagree with reports: %+v", mt)
	}
	if mt.Disconnects == 0 || mt.ServerErrors == 0 {
		t.Fatalf("faults did not hit the producer: %+v", mt)
	}

	// Consume the topic back: exactly the acked records (by content), duplicates bounded by
	// liblnc's possible-duplicate count.
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": m.Addr(), "topic.id": itoa(topic),
		"start.offset": "beginning", "max.poll.records": "5000"})
	size, _ := m.TopicSize(topic)
	seen := make(map[int]int, acked)
	total := 0
	for {
		pos, err := c.Position()
		if err != nil {
			t.Fatal(err)
		}
		if pos >= size {
			break
		}
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		for _, r := range recs {
			i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "f-"))
			if err != nil {
				t.Fatalf("foreign record %q", r.Value)
			}
			seen[i]++
			total++
		}
	}
	if len(seen) != acked {
		t.Fatalf("consumed %d distinct records, acked %d", len(seen), acked)
	}
	for i := range seen {
		if outcome[i] != 1 {
			t.Fatalf("consumed record %d that was not acked", i)
		}
	}
	if dups := total - len(seen); uint64(dups) > mt.PossibleDuplicates+mt.RecordsRetried {
		t.Fatalf("%d duplicates consumed, liblnc counted %d possible", dups, mt.PossibleDuplicates)
	} else {
		t.Logf("consumed %d records (%d distinct == acked, %d duplicates from resends)", total, len(seen), dups)
	}
	_ = context.Background
}

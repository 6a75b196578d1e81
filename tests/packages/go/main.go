// Package test (scripts/test-packages.sh): a program outside the checkout that fetches the Go
// module from the packaged GOPROXY tree and links the installed liblnc through pkg-config.
// Produces N records to a fresh topic on the broker at os.Args[1], consumes them back from the
// beginning, and checks every value and the order.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

const n = 1000

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: roundtrip HOST:PORT TOPIC")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "go roundtrip:", err)
		os.Exit(1)
	}
}

func run(addr, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := lnc.Config{"bootstrap.servers": addr}
	admin, err := lnc.NewAdmin(cfg)
	if err != nil {
		return err
	}
	topic, err := admin.EnsureTopic(ctx, name)
	admin.Close()
	if err != nil {
		return err
	}

	p, err := lnc.NewProducer(cfg, lnc.WithReportChannel(n))
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := p.Produce(ctx, topic.ID, lnc.Record{Value: []byte(fmt.Sprintf("go-%d", i))}); err != nil {
			return fmt.Errorf("produce %d: %w", i, err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	for i := 0; i < n; i++ {
		select {
		case r := <-p.Reports():
			if r.Err != nil {
				return fmt.Errorf("delivery report: %w", r.Err)
			}
		case <-ctx.Done():
			return fmt.Errorf("only %d/%d delivery reports", i, n)
		}
	}
	if err := p.Close(); err != nil {
		return err
	}

	c, err := lnc.NewConsumer(ctx, lnc.Config{"bootstrap.servers": addr, "topic.id": fmt.Sprint(topic.ID), "start.offset": "beginning"})
	if err != nil {
		return err
	}
	defer c.Close()
	got := 0
	for got < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			return fmt.Errorf("poll after %d records: %w", got, err)
		}
		for _, r := range recs {
			if want := fmt.Sprintf("go-%d", got); got >= n || string(r.Value) != want {
				return fmt.Errorf("record %d is %q, want %q", got, r.Value, want)
			}
			got++
		}
	}
	fmt.Printf("go: liblnc %s, %d/%d records produced, acked and consumed in order\n", lnc.Version(), got, n)
	return nil
}

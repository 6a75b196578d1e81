package lnc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

func TestErrorCodesAndSentinels(t *testing.T) {
	if len(lnc.AllCodes) != 31 {
		t.Fatalf("AllCodes has %d codes", len(lnc.AllCodes))
	}
	for _, c := range lnc.AllCodes {
		s := lnc.Sentinel(c)
		if s == nil {
			t.Fatalf("no sentinel for %v", c)
		}
		if c.String() == "UNKNOWN" || c.Description() == "unknown error" {
			t.Errorf("code %d has no name/description in liblnc", int(c))
		}
		e := &lnc.Error{Code: c, Message: "detail"}
		wrapped := fmt.Errorf("context: %w", e)
		if !errors.Is(wrapped, s) {
			t.Errorf("errors.Is(%v, sentinel %v) = false", e, s)
		}
		for _, other := range lnc.AllCodes {
			if other != c && errors.Is(wrapped, lnc.Sentinel(other)) {
				t.Errorf("%v matches sentinel %v", c, other)
			}
		}
		var as *lnc.Error
		if !errors.As(wrapped, &as) || as.Code != c || as.Message != "detail" {
			t.Errorf("errors.As failed for %v", c)
		}
		if !strings.Contains(e.Error(), c.String()) || !strings.Contains(e.Error(), "detail") {
			t.Errorf("Error() = %q", e.Error())
		}
	}
	if lnc.Sentinel(lnc.CodeOK) != nil {
		t.Error("sentinel for OK")
	}
	named := map[*lnc.Error]string{
		lnc.ErrTimedOut: "TIMED_OUT", lnc.ErrQueueFull: "QUEUE_FULL", lnc.ErrUnknownTopic: "UNKNOWN_TOPIC",
		lnc.ErrNotLeader: "NOT_LEADER", lnc.ErrForwardFailed: "FORWARD_FAILED", lnc.ErrClosed: "CLOSED",
		lnc.ErrInCallback: "IN_CALLBACK", lnc.ErrServerError: "SERVER_ERROR",
	}
	for s, name := range named {
		if s.Code.String() != name {
			t.Errorf("%v named %q, want %q", s.Code, s.Code.String(), name)
		}
	}
	if lnc.ErrTimedOut.Retryable() || lnc.ErrTimedOut.Fatal() {
		t.Error("sentinels carry no retryable/fatal flags")
	}
	var nilErr *lnc.Error
	if nilErr.Retryable() || nilErr.Fatal() || nilErr.Error() != "<nil>" {
		t.Error("nil *Error methods")
	}
}

func TestConfigErrors(t *testing.T) {
	err := lnc.ValidateConfig(lnc.Config{"linger_ms": "5"})
	var e *lnc.Error
	if !errors.Is(err, lnc.ErrUnknownKey) || !errors.As(err, &e) || e.Key != "linger_ms" ||
		!strings.Contains(e.Message, "linger.ms") {
		t.Fatalf("unknown key: %v (%#v)", err, e)
	}
	err = lnc.ValidateConfig(lnc.Config{"linger.ms": "-1"})
	if !errors.Is(err, lnc.ErrInvalidValue) || !errors.As(err, &e) || e.Key != "linger.ms" || e.Message == "" {
		t.Fatalf("invalid value: %v", err)
	}
	if err := lnc.ValidateConfig(lnc.Config{"linger.ms": "7", "batch.size": "1000"}); err != nil {
		t.Fatal(err)
	}
	if v, err := lnc.ConfigValue(lnc.Config{"linger.ms": "7"}, "linger.ms"); err != nil || v != "7" {
		t.Fatalf("ConfigValue: %q %v", v, err)
	}
	if v, err := lnc.ConfigValue(nil, "max.in.flight"); err != nil || v != "16" {
		t.Fatalf("ConfigValue default: %q %v", v, err)
	}
	if _, err := lnc.ConfigValue(nil, "no.such.key"); !errors.Is(err, lnc.ErrUnknownKey) {
		t.Fatalf("ConfigValue unknown: %v", err)
	}
	bad := lnc.Config{"bogus.key": "1"}
	if _, err := lnc.NewProducer(bad); !errors.Is(err, lnc.ErrUnknownKey) {
		t.Errorf("NewProducer: %v", err)
	}
	if _, err := lnc.NewConsumer(context.Background(), bad); !errors.Is(err, lnc.ErrUnknownKey) {
		t.Errorf("NewConsumer: %v", err)
	}
	if _, err := lnc.NewAdmin(bad); !errors.Is(err, lnc.ErrUnknownKey) {
		t.Errorf("NewAdmin: %v", err)
	}
	if _, err := lnc.NewAdmin(lnc.Config{"request.timeout.ms": "zero"}); !errors.Is(err, lnc.ErrInvalidValue) {
		t.Errorf("NewAdmin invalid: %v", err)
	}
	if _, err := lnc.NewMockBroker(map[string]string{"ack.delay.ms": "soon"}); !errors.Is(err, lnc.ErrInvalidValue) {
		t.Errorf("NewMockBroker: %v", err)
	}
	if lnc.Version() == "" || lnc.VersionNumber() == 0 && lnc.Version() != "0.0.0" {
		t.Errorf("version %q %x", lnc.Version(), lnc.VersionNumber())
	}
}

// TestServerErrorMapping checks that server error texts reach Go as the right codes, with
// liblnc's details (message, leader address, retryable).
func TestServerErrorMapping(t *testing.T) {
	m := fastMock(t)
	ctx := ctxT(t, 20*time.Second)
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr(), "redirect.max": "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	_, err = a.CreateTopic(ctx, "bad name!")
	expectCode(t, err, lnc.ErrInvalidName)
	tp, err := a.CreateTopic(ctx, "errmap")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.CreateTopic(ctx, "errmap")
	expectCode(t, err, lnc.ErrTopicExists)
	_, err = a.FindTopic(ctx, "nope")
	expectCode(t, err, lnc.ErrUnknownTopic)
	_, err = a.GetTopic(ctx, 987654)
	expectCode(t, err, lnc.ErrUnknownTopic)

	if err := m.FailNextRequests(1, "NOT_LEADER: redirect to 127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	_, err = a.GetTopic(ctx, tp.ID)
	e := expectCode(t, err, lnc.ErrNotLeader)
	if e != nil && e.LeaderAddr != "127.0.0.1:9" {
		t.Errorf("LeaderAddr = %q", e.LeaderAddr)
	}

	if err := m.FailNextRequests(1, "Some other failure"); err != nil {
		t.Fatal(err)
	}
	_, err = a.GetTopic(ctx, tp.ID)
	if e := expectCode(t, err, lnc.ErrServerError); e != nil && e.Message != "Some other failure" {
		t.Errorf("server text not kept: %q", e.Message)
	}

	// Producer side: an ingest answered FORWARD_FAILED is retried by liblnc; with retries=0 the
	// record's outcome is unknown (the server may have stored it) and the text is kept.
	p := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "retries": "0"})
	if err := m.FailNextIngests(1, "FORWARD_FAILED: quorum lost", false); err != nil {
		t.Fatal(err)
	}
	_, err = p.ProduceSync(ctx, tp.ID, lnc.RawRecord([]byte("x")))
	if e := expectCode(t, err, lnc.ErrUnknownOutcome); e != nil && !strings.Contains(e.Message, "FORWARD_FAILED: quorum lost") {
		t.Errorf("server text lost: %#v", e)
	}
	// With retries, the same failure is transparent.
	p2 := mustProducer(t, lnc.Config{"bootstrap.servers": m.Addr(), "retry.backoff.ms": "1"})
	if err := m.FailNextIngests(2, "FORWARD_FAILED: quorum lost", false); err != nil {
		t.Fatal(err)
	}
	if _, err = p2.ProduceSync(ctx, tp.ID, lnc.RawRecord([]byte("x"))); err != nil {
		t.Errorf("FORWARD_FAILED not retried: %v", err)
	}
	_, err = p.ProduceSync(ctx, 4242, lnc.RawRecord([]byte("x")))
	if e := expectCode(t, err, lnc.ErrUnknownTopic); e != nil && e.Retryable() {
		t.Errorf("UNKNOWN_TOPIC retryable")
	}

	// Authentication.
	am := startMock(t, map[string]string{"ack.delay.ms": "0", "auth.token": "s3cret"})
	aa, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": am.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer aa.Close()
	expectCode(t, aa.Authenticate(ctx, "wrong"), lnc.ErrAuthFailed)
	if err := aa.Authenticate(ctx, "s3cret"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	atp, err := am.CreateTopic("authed")
	if err != nil {
		t.Fatal(err)
	}
	pa := mustProducer(t, lnc.Config{"bootstrap.servers": am.Addr(), "auth.token": "wrong"})
	_, err = pa.ProduceSync(ctx, atp, lnc.RawRecord([]byte("x")))
	if e := expectCode(t, err, lnc.ErrAuthFailed); e != nil && !e.Fatal() {
		t.Errorf("AUTH_FAILED not fatal: %#v", e)
	}
	pok := mustProducer(t, lnc.Config{"bootstrap.servers": am.Addr(), "auth.token": "s3cret"})
	if _, err := pok.ProduceSync(ctx, atp, lnc.RawRecord([]byte("x"))); err != nil {
		t.Fatalf("authenticated produce: %v", err)
	}
}

func expectCode(t *testing.T, err error, want *lnc.Error) *lnc.Error {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("got %v, want %v", err, want.Code)
		return nil
	}
	var e *lnc.Error
	if !errors.As(err, &e) {
		t.Errorf("%v is not an *lnc.Error", err)
		return nil
	}
	return e
}

func TestContextHelpersRespectCancellation(t *testing.T) {
	m := fastMock(t)
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.ListTopics(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

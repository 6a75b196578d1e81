package lnc_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

// tlsEnv is what `lnc tls-fixture` prints: stunnel (client certificates demanded) in front of a
// plaintext mock, the mock's own TLS listener, and throwaway certificates.
type tlsEnv struct {
	Stunnel string `json:"stunnel"`
	TLSMock string `json:"tls_mock"`
	CA      string `json:"ca"`
	Cert    string `json:"cert"`
	Key     string `json:"key"`
	OtherCA string `json:"other_ca"`
}

func tlsUnavailable(t *testing.T, why string) {
	t.Helper()
	if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
		t.Fatalf("TLS environment unavailable under CI=true: %s", why)
	}
	t.Skipf("SKIPPED: %s", why)
}

// startTLSEnv runs `lnc tls-fixture` for the duration of the test.
func startTLSEnv(t *testing.T) tlsEnv {
	t.Helper()
	probe, err := lnc.NewAdmin(lnc.Config{"security.protocol": "tls", "bootstrap.servers": "127.0.0.1:1"})
	if err != nil {
		tlsUnavailable(t, fmt.Sprintf("liblnc built without TLS: %v", err))
	}
	_ = probe.Close()
	exe := os.Getenv("LNC_BIN")
	if exe == "" {
		exe, _ = filepath.Abs("../../target/release/lnc")
	}
	if _, err := os.Stat(exe); err != nil {
		tlsUnavailable(t, fmt.Sprintf("%s not found (cargo build --release --features tls --bin lnc)", exe))
	}
	cmd := exec.Command(exe, "tls-fixture")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the fixture stops when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tlsUnavailable(t, fmt.Sprintf("lnc tls-fixture printed nothing: %v %s", err, stderr.String()))
	}
	var env tlsEnv
	if err := json.Unmarshal([]byte(line), &env); err != nil {
		t.Fatalf("fixture line %q: %v", line, err)
	}
	return env
}

func tlsRoundTrip(t *testing.T, env tlsEnv, addr string) {
	cfg := lnc.Config{"bootstrap.servers": addr, "linger.ms": "1"}.WithTLS(lnc.TLS{CAFile: env.CA, CertFile: env.Cert, KeyFile: env.Key})
	ctx := ctxT(t, 60*time.Second)
	a, err := lnc.NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	topic, err := a.EnsureTopic(ctx, fmt.Sprintf("go-tls-%d", topicSeq.Add(1)))
	if err != nil {
		t.Fatalf("EnsureTopic over TLS: %v", err)
	}
	if _, err := a.Ping(ctx); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	const n = 300
	p := mustProducer(t, cfg)
	for i := 0; i < n; i++ {
		if err := p.Produce(ctx, topic.ID, lnc.Record{Value: []byte(fmt.Sprintf("go tls record %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := p.Flush(ctx); err != nil || left != 0 {
		t.Fatalf("Flush: %d left, %v", left, err)
	}
	c := mustConsumer(t, lnc.Config{"bootstrap.servers": addr, "topic.id": fmt.Sprint(topic.ID), "start.offset": "beginning"}.WithTLS(lnc.TLS{CAFile: env.CA, CertFile: env.Cert, KeyFile: env.Key}))
	recs := consumeN(t, ctx, c, n)
	for i, r := range recs[:n] {
		if want := fmt.Sprintf("go tls record %d", i); string(r.Value) != want {
			t.Fatalf("record %d = %q, want %q", i, r.Value, want)
		}
	}
}

func TestTLSRoundTripThroughStunnelWithClientCertificates(t *testing.T) {
	env := startTLSEnv(t)
	tlsRoundTrip(t, env, env.Stunnel)
	tlsRoundTrip(t, env, env.TLSMock)
}

func TestTLSHandshakeFailuresAreClear(t *testing.T) {
	env := startTLSEnv(t)
	cases := []struct {
		name   string
		tls    lnc.TLS
		needle string
	}{
		{"wrong CA", lnc.TLS{CAFile: env.OtherCA, CertFile: env.Cert, KeyFile: env.Key}, "unknown issuer"},
		{"wrong server name", lnc.TLS{CAFile: env.CA, CertFile: env.Cert, KeyFile: env.Key, ServerName: "wrong.example"}, "server name mismatch"},
		{"missing client certificate", lnc.TLS{CAFile: env.CA}, "client certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": env.Stunnel}.WithTLS(tc.tls))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			_, err = a.ListTopics(ctxT(t, 20*time.Second))
			var le *lnc.Error
			if !errors.Is(err, lnc.ErrTLS) || !errors.As(err, &le) {
				t.Fatalf("want ErrTLS, got %v", err)
			}
			if !strings.Contains(le.Message, tc.needle) || le.Retryable() {
				t.Fatalf("want %q (not retryable) in %+v", tc.needle, le)
			}
		})
	}
}

func TestTLSKeyWithPlaintextIsRefused(t *testing.T) {
	_, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": "127.0.0.1:1", "tls.ca.location": "/tmp/ca.pem"})
	if !errors.Is(err, lnc.ErrInvalidValue) || !strings.Contains(err.Error(), "security.protocol") {
		t.Fatalf("want INVALID_VALUE naming security.protocol, got %v", err)
	}
}

package lnc

// The log callback (lnc_conf_set_log_cb): liblnc's threads hand lines to a bounded queue,
// and a goroutine per handle passes them to the user's *slog.Logger (WithLogger).

/*
#include <stdint.h>
#include "lnc.h"

extern void lncGoLog(int level, char *line, uintptr_t h);

static void lnc_go_log_tramp(lnc_log_level_t level, const char *line, void *opaque) {
	lncGoLog((int)level, (char *)line, (uintptr_t)opaque);
}
static lnc_err_t lnc_go_conf_set_log(lnc_conf_t *conf, uintptr_t h) {
	return lnc_conf_set_log_cb(conf, lnc_go_log_tramp, (void *)h);
}
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/cgo"
	"sync"
	"sync/atomic"
)

// logQueue is how many lines wait for the logger at most (per handle).
const logQueue = 1024

type logLine struct {
	level slog.Level
	text  string
}

// logSink is the cgo.Handle target of a handle's log callback.
type logSink struct {
	logger  *slog.Logger
	kind    string // "producer", "consumer", "admin"
	ch      chan logLine
	dropped atomic.Uint64
	handle  cgo.Handle
	once    sync.Once
	done    chan struct{}
	panics  panicBox
}

// newLogSink wires logger into cf (nil logger: nothing to do, nil sink). Close the sink once
// liblnc can no longer call back: after the handle was freed, or after cf was freed when no
// handle took it.
func newLogSink(cf *conf, cfg Config, logger *slog.Logger, kind string) (*logSink, error) {
	if logger == nil {
		return nil, nil
	}
	if _, set := cfg["log.level"]; !set {
		if err := cf.set("log.level", logLevelFor(logger)); err != nil {
			return nil, err
		}
	}
	s := &logSink{logger: logger, kind: kind, ch: make(chan logLine, logQueue), done: make(chan struct{})}
	s.handle = cgo.NewHandle(s)
	if rc := C.lnc_go_conf_set_log(cf.c, C.uintptr_t(s.handle)); rc != C.LNC_ERR_OK {
		s.handle.Delete()
		return nil, codeError(Code(rc))
	}
	go s.run()
	return s, nil
}

// logLevelFor is liblnc's log.level for the least severe level logger is enabled for.
func logLevelFor(logger *slog.Logger) string {
	ctx := context.Background()
	for _, l := range []struct {
		level slog.Level
		name  string
	}{{slog.LevelDebug, "debug"}, {slog.LevelInfo, "info"}, {slog.LevelWarn, "warn"}, {slog.LevelError, "error"}} {
		if logger.Enabled(ctx, l.level) {
			return l.name
		}
	}
	return "off"
}

// slogLevel maps lnc_log_level_t (syslog numbering) to slog.
func slogLevel(level C.int) slog.Level {
	switch {
	case level <= C.LNC_LOG_ERROR:
		return slog.LevelError
	case level <= C.LNC_LOG_WARN:
		return slog.LevelWarn
	case level <= C.LNC_LOG_INFO:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// enqueue runs on liblnc's thread: never blocks.
func (s *logSink) enqueue(l logLine) {
	select {
	case s.ch <- l:
	default:
		s.dropped.Add(1)
	}
}

func (s *logSink) run() {
	defer close(s.done)
	for l := range s.ch {
		s.reportDrops()
		s.emit(l)
	}
	s.reportDrops()
}

func (s *logSink) reportDrops() {
	if d := s.dropped.Swap(0); d > 0 {
		s.emit(logLine{slog.LevelWarn, fmt.Sprintf("lnc: %d log lines dropped: the logger was slower than liblnc", d)})
	}
}

// emit runs the user's handler; a panic is kept for the handle's Close.
func (s *logSink) emit(l logLine) {
	defer func() {
		if v := recover(); v != nil {
			s.panics.put(newCallbackPanic("WithLogger", v))
		}
	}()
	s.logger.Log(context.Background(), l.level, l.text, "handle", s.kind)
}

// close ends the goroutine after it passed every queued line on. Only once liblnc cannot call
// back any more. nil-safe, idempotent.
func (s *logSink) close() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		s.handle.Delete()
		close(s.ch)
	})
}

// takePanic returns the first panic recovered from the logger (nil-safe).
func (s *logSink) takePanic() error {
	if s == nil {
		return nil
	}
	return s.panics.take()
}

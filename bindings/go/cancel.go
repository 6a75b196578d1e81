package lnc

/*
#include "lnc.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// cancelToken is a liblnc cancellation token (lnc_cancel_t) fired when a context ends, so
// that liblnc's own waits (buffer space, acknowledgement, name lookup) end with CANCELLED as
// soon as the context does: the binding never waits in slices for them.
type cancelToken struct {
	c     *C.lnc_cancel_t
	stop  func() bool
	fired chan struct{} // closed once the AfterFunc fired the token
}

// bindCancel returns a token fired by context.AfterFunc(ctx, ...), or nil (pass NULL) when
// ctx can never end. Release it after the call that used it returned.
func bindCancel(ctx context.Context) (*cancelToken, error) {
	if ctx.Done() == nil {
		return nil, nil
	}
	c := C.lnc_cancel_new()
	if c == nil {
		return nil, &Error{Code: CodePanic, Message: "lnc_cancel_new returned NULL"}
	}
	t := &cancelToken{c: c, fired: make(chan struct{})}
	t.stop = context.AfterFunc(ctx, func() {
		C.lnc_cancel_fire(t.c)
		close(t.fired)
	})
	return t, nil
}

// ptr is the token to hand to liblnc (NULL for a nil token).
func (t *cancelToken) ptr() *C.lnc_cancel_t {
	if t == nil {
		return nil
	}
	return t.c
}

// release frees the token once its AfterFunc can no longer run, or has finished running.
func (t *cancelToken) release() {
	if t == nil {
		return
	}
	if !t.stop() {
		<-t.fired
	}
	C.lnc_cancel_free(t.c)
}

// deadlineMs is the timeout_ms for one liblnc call bounded by ctx's deadline: -1 (the
// configuration's) without a deadline, else the remaining time rounded up (at least 1 ms).
func deadlineMs(ctx context.Context) C.int32_t {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return durationMs(time.Until(dl))
}

// durationMs converts d to a positive timeout_ms (rounded up, at least 1, at most MaxInt32).
func durationMs(d time.Duration) C.int32_t {
	if d <= 0 {
		return 1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		ms = math.MaxInt32
	}
	return C.int32_t(ms)
}

// withCtx makes a liblnc TIMED_OUT caused by the context's deadline, and a CANCELLED caused by
// its token, match both ctx's error (context.DeadlineExceeded / context.Canceled) and liblnc's
// sentinel.
func withCtx(ctx context.Context, err error) error {
	e, ok := err.(*Error)
	if !ok || (e.Code != CodeTimedOut && e.Code != CodeCancelled) {
		return err
	}
	cerr := ctx.Err()
	if dl, has := ctx.Deadline(); cerr == nil && has && e.Code == CodeTimedOut && time.Until(dl) < 5*time.Millisecond {
		cerr = context.DeadlineExceeded // liblnc's timer fired just before the context's
	}
	if cerr != nil {
		return fmt.Errorf("%w: %w", cerr, e)
	}
	return err
}

// join is errors.Join that returns a lone error itself (so == and type assertions still work).
func join(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return errors.Join(a, b)
}

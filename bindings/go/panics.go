package lnc

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// CallbackPanicError reports a panic recovered from user code that the binding ran (a delivery
// callback, a ProduceFunc callback, an OffsetStore method). The binding never lets such a panic
// kill its goroutine nor swallows it: it is returned by the next call that reports on that code
// (Producer.Flush / Producer.Close for delivery callbacks; the consumer call that invoked the
// offset store, wrapped in liblnc's IO error). Use errors.As to get it.
type CallbackPanicError struct {
	// Callback names the user code that panicked, e.g. "WithDeliveryFunc" or "OffsetStore.Save".
	Callback string
	// Value is the value passed to panic.
	Value any
	// Stack is the panicking goroutine's stack (runtime/debug.Stack) at the recovery.
	Stack []byte
	// More counts further panics recovered after this one and before it was returned.
	More uint64
}

// Error implements error.
func (e *CallbackPanicError) Error() string {
	s := fmt.Sprintf("lnc: %s panicked: %v", e.Callback, e.Value)
	if e.More > 0 {
		s += fmt.Sprintf(" (and %d more callback panics)", e.More)
	}
	return s
}

// Unwrap returns the panic value when it is an error (panic(err)), so errors.Is/As see it.
func (e *CallbackPanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// newCallbackPanic captures the stack; call it from the deferred function that recovered v.
func newCallbackPanic(callback string, v any) *CallbackPanicError {
	return &CallbackPanicError{Callback: callback, Value: v, Stack: debug.Stack()}
}

// panicBox keeps the first unreported callback panic (and counts the later ones) until a call
// takes it to return it.
type panicBox struct {
	mu    sync.Mutex
	first *CallbackPanicError
}

func (b *panicBox) put(e *CallbackPanicError) {
	b.mu.Lock()
	if b.first == nil {
		b.first = e
	} else {
		b.first.More++
	}
	b.mu.Unlock()
}

// take returns the kept panic (nil if none) and empties the box.
func (b *panicBox) take() error {
	b.mu.Lock()
	e := b.first
	b.first = nil
	b.mu.Unlock()
	if e == nil {
		return nil
	}
	return e
}

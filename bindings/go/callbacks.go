package lnc

// Exported callbacks (C → Go). This file's preamble may only declare, never define (cgo rule
// for files with //export). The handle arrives as an integer (uintptr_t): consumer.go's C
// trampolines convert liblnc's void* opaque, so Go never holds an integer in a pointer type.

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
)

// storeState is the cgo.Handle target of a consumer with a user offset store.
type storeState struct {
	store   OffsetStore
	lastErr func(error)
}

//export lncGoOffsetLoad
func lncGoOffsetLoad(topic C.uint32_t, offset *C.uint64_t, h C.uintptr_t) (rc C.int) {
	st := storeOf(h)
	if st == nil {
		return -3
	}
	defer recoverStore(st, "Load", &rc)
	off, found, err := st.store.Load(uint32(topic))
	if err != nil {
		st.lastErr(err)
		return -1
	}
	if !found {
		return 0
	}
	*offset = C.uint64_t(off)
	return 1
}

//export lncGoOffsetSave
func lncGoOffsetSave(topic C.uint32_t, offset C.uint64_t, h C.uintptr_t) (rc C.int) {
	st := storeOf(h)
	if st == nil {
		return -3
	}
	defer recoverStore(st, "Save", &rc)
	if err := st.store.Save(uint32(topic), uint64(offset)); err != nil {
		st.lastErr(err)
		return -1
	}
	return 0
}

func storeOf(h C.uintptr_t) (st *storeState) {
	defer func() {
		if recover() != nil { // an invalid handle: never expected
			st = nil
		}
	}()
	st, _ = cgo.Handle(h).Value().(*storeState)
	return st
}

// recoverStore turns a panic in the user's store into a failed callback: liblnc then reports an
// IO error, which the consumer call that ran the store wraps with a *CallbackPanicError.
func recoverStore(st *storeState, what string, rc *C.int) {
	if v := recover(); v != nil {
		st.lastErr(newCallbackPanic("OffsetStore."+what, v))
		*rc = -2
	}
}

// lncGoLog runs on a liblnc thread for every log line of a handle with WithLogger: it copies
// the line and queues it without blocking (logs.go).
//
//export lncGoLog
func lncGoLog(level C.int, line *C.char, h C.uintptr_t) {
	defer func() { _ = recover() }() // an invalid handle: never expected, never fatal
	s, _ := cgo.Handle(h).Value().(*logSink)
	if s == nil || line == nil {
		return
	}
	s.enqueue(logLine{level: slogLevel(level), text: C.GoString(line)})
}

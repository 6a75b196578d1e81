package lnc

/*
#include <pthread.h>
#include <stdint.h>

static uintptr_t lnc_go_thread_self(void) { return (uintptr_t)pthread_self(); }
*/
import "C"

// currentThread identifies the OS thread running the calling goroutine. It is O(1) (no stack
// walk) and meaningful only for comparison with the id of a thread that a goroutine keeps locked
// (runtime.LockOSThread): while that lock holds, no other goroutine runs on that thread, so
// equality means "the calling goroutine is that one".
func currentThread() uintptr { return uintptr(C.lnc_go_thread_self()) }

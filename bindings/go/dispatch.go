package lnc

// The dispatch goroutine: takes delivery reports from liblnc in bulk and hands them to the
// per-record callbacks, WithDeliveryFunc and the Reports channel.

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

const reportBatch = 1024

// dispatchPause is how long the dispatcher lets reports accumulate after draining liblnc's
// queue.
var dispatchPause = time.Millisecond

// dispatch takes reports from liblnc in bulk and hands them over until Close drained them.
func (p *Producer) dispatch(started chan<- struct{}) {
	defer close(p.dispatchDone)
	// User callbacks run here: the locked thread identifies this goroutine (guardCallback).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p.dispatchThread.Store(currentThread())
	defer p.dispatchThread.Store(0)
	close(started)
	arr := (*C.lnc_report_t)(C.malloc(C.size_t(reportBatch) * C.size_t(unsafe.Sizeof(C.lnc_report_t{}))))
	defer C.free(unsafe.Pointer(arr))
	reps := unsafe.Slice(arr, reportBatch)
	batch := make([]Report, 0, reportBatch)
	ids := make([]uint64, 0, reportBatch)
	for {
		final := p.libClosed.Load()
		tmo := C.int32_t(pollSlice / time.Millisecond)
		if final {
			tmo = 0
		}
		var n C.size_t
		// The handle is freed only after this goroutine exits: no lock needed.
		rc := C.lnc_producer_poll_reports(p.h, tmo, arr, reportBatch, &n)
		if rc != C.LNC_ERR_OK {
			if final {
				break
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if n == 0 {
			if final {
				break
			}
			continue
		}
		batch = batch[:0]
		ids = ids[:0]
		anyID := false
		// Reports are built only for someone who takes them; all are counted.
		wanted := p.opts.deliveryFunc != nil || p.opts.reportCap > 0
		var nAcked, nFailed uint64
		for i := 0; i < int(n); i++ {
			cr := &reps[i]
			// The opaque is an integer id: read the pointer-sized field as one, never as a pointer.
			id := uint64(*(*uintptr)(unsafe.Pointer(&cr.opaque)))
			var err error
			if cr.err != C.LNC_ERR_OK || cr.error != nil {
				err = errorFrom(cr.err, cr.error)
				cr.error = nil
				nFailed++
			} else {
				nAcked++
			}
			if id == 0 && !wanted {
				continue
			}
			if id >= firstID {
				anyID = true
			}
			batch = append(batch, Report{Topic: uint32(cr.topic_id), BatchID: uint64(cr.batch_id), Err: err})
			ids = append(ids, id)
		}
		p.acked.Add(nAcked)
		p.failed.Add(nFailed)
		p.deliver(batch, ids, anyID)
		p.reported.Add(int64(n))
		if p.progWaiters.Load() > 0 {
			p.progMu.Lock()
			close(p.progCh)
			p.progCh = make(chan struct{})
			p.progMu.Unlock()
		}
		if int(n) < reportBatch && !final && dispatchPause > 0 {
			// The queue is drained: let reports accumulate briefly so that one wakeup takes
			// many (fewer thread switches on the producing cores; adds at most this latency).
			time.Sleep(dispatchPause)
		}
	}
	if p.opts.reportCap > 0 {
		close(p.reports)
	}
}

func (p *Producer) deliver(batch []Report, ids []uint64, anyID bool) {
	for i := range batch {
		var pd *pending
		if anyID && ids[i] >= firstID {
			p.pendMu.Lock()
			pd = p.pend[ids[i]]
			delete(p.pend, ids[i])
			p.pendMu.Unlock()
			if pd != nil {
				batch[i].Opaque = pd.opaque
				if pd.fn != nil {
					p.callback("ProduceFunc callback", pd.fn, batch[i])
					continue
				}
			}
		}
		if p.opts.deliveryFunc != nil {
			p.callback("WithDeliveryFunc callback", p.opts.deliveryFunc, batch[i])
		}
		if p.opts.reportCap > 0 {
			select {
			case p.reports <- batch[i]:
			default:
				select {
				case p.reports <- batch[i]:
				case <-p.abandon:
					p.dropped.Add(1)
				}
			}
		}
	}
}

// callback runs user code; a panic is counted and kept for Flush/Close to return.
func (p *Producer) callback(name string, fn func(Report), r Report) {
	p.inUserCode.Add(1)
	defer p.inUserCode.Add(-1)
	defer func() {
		if v := recover(); v != nil {
			p.panics.Add(1)
			p.panicked.put(newCallbackPanic(name, v))
		}
	}()
	fn(r)
}

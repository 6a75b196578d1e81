package lnc

/*
#include <stdlib.h>
#include "lnc.h"
*/
import "C"

import (
	"context"
	"time"
	"unsafe"
)

// Topic is a topic's metadata.
type Topic struct {
	ID         uint32    // topic id
	Name       string    // topic name
	CreatedAt  time.Time // creation time (second resolution)
	TopicEpoch uint64    // topic epoch (always 1 on the deployed server)
	// HasRetention reports whether MaxAgeSecs / MaxBytes are set (CreateTopicWithRetention
	// replies only).
	HasRetention bool
	MaxAgeSecs   uint64 // retention age in seconds (the server's largest value = none)
	MaxBytes     uint64 // retention size in bytes (RetentionUnlimited = none)
}

// ClusterStatus is the server's cluster view (standalone servers: IsStandalone, LeaderID 0).
type ClusterStatus struct {
	CurrentTerm     uint64 // Raft term
	HealthyNodes    uint32 // healthy nodes
	NodeCount       uint32 // nodes in the cluster
	NodeID          uint32 // this node's id
	LeaderID        int32  // -1 when no leader is known
	IsLeader        bool   // this node is the leader
	QuorumAvailable bool   // a quorum is available
	IsStandalone    bool   // a standalone server
}

// FetchResult is the reply of a raw Fetch.
type FetchResult struct {
	// CatchingUp is true when the server answered CatchingUp (offset at/past the end);
	// EndOffset is then set.
	CatchingUp bool
	NextOffset uint64 // offset after Data
	EndOffset  uint64 // the topic's end (CatchingUp only)
	Data       []byte // raw log bytes (decode with a Consumer, not by hand)
}

// Admin runs control requests (topics, retention, cluster status, ping, authentication and
// low-level fetch/subscribe/commit). Safe for concurrent use; connects on the first call.
//
// Each call is one request/reply: its timeout is the context's remaining time bounded by
// request.timeout.ms, and a cancelled context returns at once (the request then finishes in
// the background within its timeout).
type Admin struct {
	ref     handleRef
	h       *C.lnc_admin_t
	reqTime time.Duration

	events *eventPump
	logs   *logSink
}

// NewAdmin creates an admin handle from cfg.
func NewAdmin(cfg Config, opts ...AdminOption) (*Admin, error) {
	var o adminOptions
	for _, opt := range opts {
		opt.applyAdmin(&o)
	}
	cf, err := newConf(cfg)
	if err != nil {
		return nil, err
	}
	logs, err := newLogSink(cf, cfg, o.handle.logger, "admin")
	if err != nil {
		cf.free()
		return nil, err
	}
	a := &Admin{reqTime: cf.getDuration("request.timeout.ms", 30*time.Second), logs: logs}
	var cerr *C.lnc_error_t
	if rc := C.lnc_admin_new(cf.c, &a.h, &cerr); rc != C.LNC_ERR_OK {
		cf.free()
		logs.close() // liblnc cannot log for this conf any more
		return nil, errorFrom(rc, cerr)
	}
	cf.taken()
	a.ref.free = func() {
		C.lnc_admin_free(a.h)
		a.logs.close()
	}
	a.events = newEventPump(o.handle.eventBuffer, func(ms C.int32_t, out *C.lnc_event_t, limit C.size_t, n *C.size_t) bool {
		if !a.ref.acquire() {
			return false
		}
		defer a.ref.release()
		return C.lnc_admin_poll_events(a.h, ms, out, limit, n) == C.LNC_ERR_OK
	})
	return a, nil
}

// Close releases the handle (idempotent): calls still running (e.g. ones abandoned by a
// cancelled context) keep it alive until they return within their timeouts, and new calls
// fail with CLOSED. It returns at once, except that with Events in use it waits (at most one
// 50 ms poll slice) for the Events channel to be drained and closed. It returns a logger's
// *CallbackPanicError not yet returned (WithLogger).
func (a *Admin) Close() error {
	a.events.stop()
	a.ref.close()
	return a.logs.takePanic()
}

// EventsDropped counts the events not handed to a full Events channel (each also counted in an
// EventEventsDropped event).
func (a *Admin) EventsDropped() uint64 { return a.events.dropped.Load() }

// do runs one admin call under the handle's read lock with ctx's timeout. fn must own every C
// allocation it uses (it may outlive the caller when ctx is cancelled).
func do[T any](ctx context.Context, a *Admin, fn func(h *C.lnc_admin_t, ms C.int32_t, cerr **C.lnc_error_t) (T, C.lnc_err_t)) (T, error) {
	return runCall(ctx, func() (T, error) {
		var zero T
		if !a.ref.acquire() {
			return zero, closedError("admin")
		}
		defer a.ref.release()
		var cerr *C.lnc_error_t
		v, rc := fn(a.h, callMs(ctx, a.reqTime), &cerr)
		if rc != C.LNC_ERR_OK || cerr != nil {
			return zero, errorFrom(rc, cerr)
		}
		return v, nil
	})
}

func topicFrom(t *C.lnc_topic_t) Topic {
	return Topic{
		ID:           uint32(t.id),
		Name:         C.GoString(&t.name[0]),
		CreatedAt:    time.Unix(int64(t.created_at), 0),
		TopicEpoch:   uint64(t.topic_epoch),
		HasRetention: t.has_retention != 0,
		MaxAgeSecs:   uint64(t.max_age_secs),
		MaxBytes:     uint64(t.max_bytes),
	}
}

// CreateTopic creates a topic (names: 1–255 bytes of [A-Za-z0-9-]); TOPIC_EXISTS if taken.
func (a *Admin) CreateTopic(ctx context.Context, name string) (Topic, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (Topic, C.lnc_err_t) {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		var t C.lnc_topic_t
		rc := C.lnc_admin_create_topic(h, cn, ms, &t, e)
		return topicFrom(&t), rc
	})
}

// EnsureTopic creates the topic or finds the existing one with that name. liblnc retries
// retryable failures (a server starting, catching up or without a leader) with a growing
// backoff within the call's timeout (ctx's deadline, bounded by request.timeout.ms).
func (a *Admin) EnsureTopic(ctx context.Context, name string) (Topic, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (Topic, C.lnc_err_t) {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		var t C.lnc_topic_t
		rc := C.lnc_admin_ensure_topic(h, cn, ms, &t, e)
		return topicFrom(&t), rc
	})
}

// CreateTopicWithRetention creates a topic with retention limits (0 or RetentionUnlimited for
// no limit).
func (a *Admin) CreateTopicWithRetention(ctx context.Context, name string, maxAgeSecs, maxBytes uint64) (Topic, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (Topic, C.lnc_err_t) {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		var t C.lnc_topic_t
		rc := C.lnc_admin_create_topic_with_retention(h, cn, C.uint64_t(maxAgeSecs), C.uint64_t(maxBytes), ms, &t, e)
		return topicFrom(&t), rc
	})
}

// ListTopics lists every topic.
func (a *Admin) ListTopics(ctx context.Context) ([]Topic, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) ([]Topic, C.lnc_err_t) {
		var arr *C.lnc_topic_t
		var n C.size_t
		rc := C.lnc_admin_list_topics(h, ms, &arr, &n, e)
		if rc != C.LNC_ERR_OK {
			return nil, rc
		}
		defer C.lnc_topics_free(arr, n)
		out := make([]Topic, 0, int(n))
		if n > 0 {
			for _, t := range unsafe.Slice(arr, int(n)) {
				out = append(out, topicFrom(&t))
			}
		}
		return out, rc
	})
}

// FindTopic finds a topic by name; UNKNOWN_TOPIC if there is none.
func (a *Admin) FindTopic(ctx context.Context, name string) (Topic, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (Topic, C.lnc_err_t) {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		var t C.lnc_topic_t
		rc := C.lnc_admin_find_topic(h, cn, ms, &t, e)
		return topicFrom(&t), rc
	})
}

// GetTopic gets a topic by id.
func (a *Admin) GetTopic(ctx context.Context, id uint32) (Topic, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (Topic, C.lnc_err_t) {
		var t C.lnc_topic_t
		rc := C.lnc_admin_get_topic(h, C.uint32_t(id), ms, &t, e)
		return topicFrom(&t), rc
	})
}

// DeleteTopic deletes a topic and its data.
func (a *Admin) DeleteTopic(ctx context.Context, id uint32) error {
	_, err := do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (struct{}, C.lnc_err_t) {
		return struct{}{}, C.lnc_admin_delete_topic(h, C.uint32_t(id), ms, e)
	})
	return err
}

// SetRetention sets a topic's retention (0 or RetentionUnlimited for no limit).
func (a *Admin) SetRetention(ctx context.Context, id uint32, maxAgeSecs, maxBytes uint64) error {
	_, err := do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (struct{}, C.lnc_err_t) {
		return struct{}{}, C.lnc_admin_set_retention(h, C.uint32_t(id), C.uint64_t(maxAgeSecs), C.uint64_t(maxBytes), ms, e)
	})
	return err
}

// ClusterStatus returns the server's cluster status.
func (a *Admin) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (ClusterStatus, C.lnc_err_t) {
		var s C.lnc_cluster_status_t
		rc := C.lnc_admin_cluster_status(h, ms, &s, e)
		return ClusterStatus{
			CurrentTerm:     uint64(s.current_term),
			HealthyNodes:    uint32(s.healthy_nodes),
			NodeCount:       uint32(s.node_count),
			NodeID:          uint32(s.node_id),
			LeaderID:        int32(s.leader_id),
			IsLeader:        s.is_leader != 0,
			QuorumAvailable: s.quorum_available != 0,
			IsStandalone:    s.is_standalone != 0,
		}, rc
	})
}

// Ping runs a keepalive round trip and returns its duration.
func (a *Admin) Ping(ctx context.Context) (time.Duration, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (time.Duration, C.lnc_err_t) {
		var rtt C.uint64_t
		rc := C.lnc_admin_ping(h, ms, &rtt, e)
		return time.Duration(rtt) * time.Microsecond, rc
	})
}

// Authenticate checks token with the server (AUTH_FAILED when refused).
func (a *Admin) Authenticate(ctx context.Context, token string) error {
	_, err := do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (struct{}, C.lnc_err_t) {
		ct := C.CString(token)
		defer C.free(unsafe.Pointer(ct))
		return struct{}{}, C.lnc_admin_authenticate(h, ct, ms, e)
	})
	return err
}

// FetchTail is the start offset that asks Fetch for the topic's tail.
const FetchTail = ^uint64(0)

// Fetch runs one raw Fetch (maxBytes 1..16,777,156; start FetchTail asks for the tail).
func (a *Admin) Fetch(ctx context.Context, topic uint32, start uint64, maxBytes uint32) (FetchResult, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (FetchResult, C.lnc_err_t) {
		var r C.lnc_fetch_result_t
		rc := C.lnc_admin_fetch(h, C.uint32_t(topic), C.uint64_t(start), C.uint32_t(maxBytes), ms, &r, e)
		defer C.lnc_fetch_result_clear(&r)
		return FetchResult{
			CatchingUp: r.catching_up != 0,
			NextOffset: uint64(r.next_offset),
			EndOffset:  uint64(r.end_offset),
			Data:       append([]byte{}, cbytes(r.data, r.data_len)...),
		}, rc
	})
}

// Subscribe runs a server-side Subscribe and returns the server's offset (start 0 resolves
// to the server-side commit).
func (a *Admin) Subscribe(ctx context.Context, topic uint32, start uint64, maxBatchBytes uint32, consumerID uint64) (uint64, error) {
	return do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (uint64, C.lnc_err_t) {
		var off C.uint64_t
		rc := C.lnc_admin_subscribe(h, C.uint32_t(topic), C.uint64_t(start), C.uint32_t(maxBatchBytes), C.uint64_t(consumerID), ms, &off, e)
		return uint64(off), rc
	})
}

// Unsubscribe runs a server-side Unsubscribe.
func (a *Admin) Unsubscribe(ctx context.Context, topic uint32, consumerID uint64) error {
	_, err := do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (struct{}, C.lnc_err_t) {
		return struct{}{}, C.lnc_admin_unsubscribe(h, C.uint32_t(topic), C.uint64_t(consumerID), ms, e)
	})
	return err
}

// CommitOffset runs a server-side CommitOffset (kept in server memory only).
func (a *Admin) CommitOffset(ctx context.Context, topic uint32, consumerID, offset uint64) error {
	_, err := do(ctx, a, func(h *C.lnc_admin_t, ms C.int32_t, e **C.lnc_error_t) (struct{}, C.lnc_err_t) {
		return struct{}{}, C.lnc_admin_commit_offset(h, C.uint32_t(topic), C.uint64_t(consumerID), C.uint64_t(offset), ms, e)
	})
	return err
}

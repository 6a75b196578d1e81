package lnc

// GroupConsumer: translation of liblnc's lnc_group_consumer_* (docs/groups.md). Membership,
// assignment, fencing and commits all happen in liblnc; this file only converts batches.

/*
#include <stdlib.h>
#include "lnc.h"

// Copies a whole batch in one cgo call (one call per event costs more than the copy); returns
// how many events were copied (fewer only if liblnc refused an index).
static size_t lnc_go_group_events_copy(const lnc_group_events_t *b, lnc_group_event_t *out, size_t n) {
	for (size_t i = 0; i < n; i++) {
		if (lnc_group_events_get(b, i, &out[i]) != LNC_ERR_OK) {
			return i;
		}
	}
	return n;
}
*/
import "C"

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// GroupEventKind says what a GroupEvent is (lnc_group_event_kind_t).
type GroupEventKind int

// Group event kinds.
const (
	GroupRecord   GroupEventKind = C.LNC_GROUP_EVENT_RECORD   // a record of an owned topic
	GroupAssigned GroupEventKind = C.LNC_GROUP_EVENT_ASSIGNED // topics now owned by this member
	GroupRevoked  GroupEventKind = C.LNC_GROUP_EVENT_REVOKED  // topics no longer owned
	GroupError    GroupEventKind = C.LNC_GROUP_EVENT_ERROR    // a topic's consumer met an error
)

// String returns a readable name of the kind.
func (k GroupEventKind) String() string {
	switch k {
	case GroupRecord:
		return "record"
	case GroupAssigned:
		return "assigned"
	case GroupRevoked:
		return "revoked"
	case GroupError:
		return "error"
	}
	return "unknown"
}

// GroupTopic names a topic of the group. Name is looked up with the server when the topic is
// first assigned; it is empty when that lookup failed (it is tried again at the next
// assignment). IDs, not names, identify topics: a topic deleted and created again is new.
type GroupTopic struct {
	ID   uint32
	Name string
}

// GroupEvent is one entry of a GroupConsumer.Poll result, in liblnc's order: assignment
// changes come alone in their poll, an Assigned precedes every record of its topics and no
// record of a topic follows its Revoked.
type GroupEvent struct {
	// Kind says which fields are set.
	Kind GroupEventKind
	// Topic is the record's or the error's topic (GroupRecord, GroupError).
	Topic GroupTopic
	// Record is the record, owning its bytes (GroupRecord).
	Record Record
	// Topics are the topics assigned or revoked (GroupAssigned, GroupRevoked). Records of a
	// revoked topic that were already returned may be delivered again to its next owner.
	Topics []GroupTopic
	// Err is the *Error a topic's consumer met (GroupError); liblnc retries that topic.
	Err error
}

// GroupOption configures the Go side of a GroupConsumer: WithLogger (a HandleOption).
// WithEventBuffer has no effect on it: a group consumer reports through Poll, not Events.
type GroupOption interface{ applyGroup(*handleOptions) }

func (o HandleOption) applyGroup(h *handleOptions) { o.apply(h) }

// GroupConsumer is one member of a consumer group ("group.id" and "group.topics" or
// "group.topic.prefix" in its Config; see docs/groups.md): every shared topic is consumed by
// exactly one live member, a dead member's topics move to the others and resume at the
// group's newest commit. Delivery is at-least-once. Safe for concurrent use.
//
// A member commits what it processed: calling Poll again means the application is done with
// the records of the previous Poll. Close leaves the group cleanly (the others take its
// topics over at once, nothing is delivered twice).
type GroupConsumer struct {
	ref      handleRef
	h        *C.lnc_group_consumer_t
	memberID string
	closeTmo time.Duration
	logs     *logSink

	cfg   Config
	optsH handleOptions

	namesMu sync.Mutex
	names   map[uint32]string
	admin   *Admin // for name lookups, created at the first assignment (guarded by namesMu)
	closed  bool   // Close ran: no admin may be created any more (guarded by namesMu)

	closeOnce sync.Once
	closeErr  error
}

// NewGroupConsumer joins the group: it creates the group topic lnc-group-<group.id> if needed
// and starts liblnc's member thread. liblnc bounds this call by request.timeout.ms and offers
// no cancellation for it, so ctx is checked when the call starts only.
func NewGroupConsumer(ctx context.Context, cfg Config, opts ...GroupOption) (*GroupConsumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o handleOptions
	for _, opt := range opts {
		opt.applyGroup(&o)
	}
	cf, err := newConf(cfg)
	if err != nil {
		return nil, err
	}
	logs, err := newLogSink(cf, cfg, o.logger, "group")
	if err != nil {
		cf.free()
		return nil, err
	}
	g := &GroupConsumer{
		closeTmo: cf.getDuration("request.timeout.ms", 30*time.Second),
		logs:     logs,
		cfg:      cfg,
		optsH:    o,
		names:    make(map[uint32]string),
	}
	var cerr *C.lnc_error_t
	if rc := C.lnc_group_consumer_new(cf.c, &g.h, &cerr); rc != C.LNC_ERR_OK {
		cf.free()
		logs.close() // liblnc cannot log for this conf any more
		return nil, errorFrom(rc, cerr)
	}
	cf.taken()
	g.memberID = C.GoString(C.lnc_group_consumer_member_id(g.h))
	g.ref.free = func() {
		C.lnc_group_consumer_free(g.h)
		g.logs.close()
	}
	return g, nil
}

// MemberID is this member's id in the group (group.member.id, or the one liblnc generated).
func (g *GroupConsumer) MemberID() string { return g.memberID }

// Poll waits until something is ready or ctx ends, and returns assignment changes alone, or up
// to max.poll.records records (and errors) tagged with their topic. Calling Poll marks the
// records of earlier polls processed. After Close it returns an error matching ErrClosed (a
// waiting Poll wakes with it). When ctx ends first it returns (nil, ctx.Err()).
func (g *GroupConsumer) Poll(ctx context.Context) ([]GroupEvent, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		evs, err := g.pollOnce(sliceMs(ctx, pollSlice))
		if err != nil || len(evs) > 0 {
			if err == nil {
				g.nameTopics(ctx, evs)
			}
			return evs, err
		}
	}
}

// TryPoll is Poll with an explicit wait of at most d (0 or less = no wait): an empty result is
// not an error.
func (g *GroupConsumer) TryPoll(d time.Duration) ([]GroupEvent, error) {
	var ms C.int32_t // liblnc reads a negative timeout as "no limit": never pass one
	if d > 0 {
		ms = durationMs(d)
	}
	evs, err := g.pollOnce(ms)
	if err == nil && len(evs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), g.closeTmo)
		defer cancel()
		g.nameTopics(ctx, evs)
	}
	return evs, err
}

// pollOnce takes one batch from liblnc and copies it into Go memory (names not filled in).
func (g *GroupConsumer) pollOnce(ms C.int32_t) ([]GroupEvent, error) {
	if !g.ref.acquire() {
		return nil, closedError("group consumer")
	}
	defer g.ref.release()
	var batch *C.lnc_group_events_t
	var cerr *C.lnc_error_t
	if rc := C.lnc_group_consumer_poll(g.h, ms, &batch, &cerr); rc != C.LNC_ERR_OK {
		C.lnc_group_events_free(batch)
		return nil, errorFrom(rc, cerr)
	}
	defer C.lnc_group_events_free(batch)
	return copyGroupEvents(batch)
}

// copyGroupEvents converts a batch; records are copied with copyRecords (one allocation).
func copyGroupEvents(batch *C.lnc_group_events_t) ([]GroupEvent, error) {
	n := int(C.lnc_group_events_count(batch))
	if n == 0 {
		return nil, nil
	}
	out := make([]GroupEvent, n)
	raw := make([]C.lnc_group_event_t, n) // holds C pointers only: Go memory C may write
	if got := int(C.lnc_go_group_events_copy(batch, &raw[0], C.size_t(n))); got != n {
		return nil, &Error{Code: CodeState, Message: fmt.Sprintf("lnc_group_events_get refused event %d of %d", got, n)}
	}
	views := make([]C.lnc_record_view_t, 0, n) // copies of views pointing into the batch
	var recIdx []int
	for i := range out {
		ev := &raw[i]
		e := &out[i]
		e.Kind = GroupEventKind(ev.kind)
		switch e.Kind {
		case GroupRecord:
			e.Topic.ID = uint32(ev.topic_id)
			views = append(views, ev.record)
			recIdx = append(recIdx, i)
		case GroupAssigned, GroupRevoked:
			if ev.topic_count > 0 {
				ids := unsafe.Slice((*C.uint32_t)(unsafe.Pointer(ev.topics)), int(ev.topic_count))
				e.Topics = make([]GroupTopic, len(ids))
				for j, id := range ids {
					e.Topics[j].ID = uint32(id)
				}
			}
		case GroupError:
			e.Topic.ID = uint32(ev.topic_id)
			msg := Code(ev.error_code).Description()
			if ev.error_message != nil {
				msg = C.GoString(ev.error_message)
			}
			e.Err = &Error{Code: Code(ev.error_code), Message: msg}
		}
	}
	if len(views) > 0 {
		recs := copyRecords(&views[0], len(views))
		for j, i := range recIdx {
			out[i].Record = recs[j]
		}
	}
	return out, nil
}

// nameTopics fills in topic names: assigned topics not named yet are looked up (one
// ListTopics), everything else comes from the cache. A failed lookup leaves names empty.
func (g *GroupConsumer) nameTopics(ctx context.Context, evs []GroupEvent) {
	g.namesMu.Lock()
	defer g.namesMu.Unlock()
	missing := false
	for i := range evs {
		if evs[i].Kind == GroupAssigned {
			for _, t := range evs[i].Topics {
				if _, ok := g.names[t.ID]; !ok {
					missing = true
				}
			}
		}
	}
	if missing {
		g.lookUpNames(ctx)
	}
	for i := range evs {
		e := &evs[i]
		e.Topic.Name = g.names[e.Topic.ID]
		for j := range e.Topics {
			e.Topics[j].Name = g.names[e.Topics[j].ID]
		}
	}
}

// lookUpNames refreshes the name cache with ListTopics (namesMu held: concurrent polls wait for
// one lookup instead of each making their own).
func (g *GroupConsumer) lookUpNames(ctx context.Context) {
	if g.closed {
		return
	}
	if g.admin == nil {
		a, err := NewAdmin(g.cfg, WithLogger(g.optsH.logger))
		if err != nil {
			return
		}
		g.admin = a
	}
	topics, err := g.admin.ListTopics(ctx)
	if err != nil {
		return
	}
	for _, t := range topics {
		g.names[t.ID] = t.Name
	}
}

// Assignment returns the topics this member consumes now.
func (g *GroupConsumer) Assignment() ([]GroupTopic, error) {
	if !g.ref.acquire() {
		return nil, closedError("group consumer")
	}
	defer g.ref.release()
	var ids []C.uint32_t
	for {
		var count C.size_t
		var p *C.uint32_t
		if len(ids) > 0 {
			p = &ids[0]
		}
		if rc := C.lnc_group_consumer_assignment(g.h, p, C.size_t(len(ids)), &count); rc != C.LNC_ERR_OK {
			return nil, codeError(Code(rc))
		}
		if int(count) <= len(ids) {
			ids = ids[:int(count)]
			break
		}
		ids = make([]C.uint32_t, int(count)+4) // grown since the last call: ask again
	}
	g.namesMu.Lock()
	defer g.namesMu.Unlock()
	out := make([]GroupTopic, len(ids))
	for i, id := range ids {
		out[i] = GroupTopic{ID: uint32(id), Name: g.names[uint32(id)]}
	}
	return out, nil
}

// Close leaves the group: liblnc commits what Poll handed out, writes a leave record (the
// others take the topics over at once) and stops, within request.timeout.ms. Idempotent and
// safe to call concurrently with every other method: waiting Polls wake with ErrClosed, new
// calls fail with it, and the handle is freed after the last running call returns. Every call
// returns the first Close's error.
func (g *GroupConsumer) Close() error {
	g.closeOnce.Do(func() {
		if g.ref.acquire() {
			rc := C.lnc_group_consumer_close(g.h, durationMs(g.closeTmo))
			g.ref.release()
			g.closeErr = codeError(Code(rc))
		}
		g.ref.close()
		g.namesMu.Lock()
		g.closed = true
		if g.admin != nil {
			g.closeErr = join(g.closeErr, g.admin.Close())
		}
		g.namesMu.Unlock()
		g.closeErr = join(g.closeErr, g.logs.takePanic())
	})
	return g.closeErr
}

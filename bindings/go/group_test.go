package lnc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lnc "github.com/liblnc/liblnc/bindings/go"
)

var groupSeq atomic.Uint64

// groupTopics creates n fresh topics and returns their ids and names.
func groupTopics(t *testing.T, m *lnc.MockBroker, n int) ([]uint32, []string) {
	t.Helper()
	ids := make([]uint32, n)
	names := make([]string, n)
	for i := range ids {
		names[i] = fmt.Sprintf("go-grp-%d-%d-%d", time.Now().UnixNano()%1e9, groupSeq.Add(1), i)
		id, err := m.CreateTopic(names[i])
		if err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		ids[i] = id
	}
	return ids, names
}

// groupConfig is a member of group with short timings (session 2 s, heartbeat 100 ms).
func groupConfig(addr, group, member string, topics []string) lnc.Config {
	return lnc.Config{
		"bootstrap.servers":           addr,
		"group.id":                    group,
		"group.member.id":             member,
		"group.topics":                strings.Join(topics, ","),
		"group.session.timeout.ms":    "2000",
		"group.heartbeat.interval.ms": "100",
		"group.commit.interval.ms":    "100",
		"max.poll.records":            "50",
	}
}

// produceEach writes count records "topic:i" (i from first) to every topic.
func produceEach(t *testing.T, addr string, ids []uint32, first, count int) {
	t.Helper()
	p, err := lnc.NewProducer(lnc.Config{"bootstrap.servers": addr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxT(t, 30*time.Second)
	for _, id := range ids {
		for i := first; i < first+count; i++ {
			if err := p.Produce(ctx, id, lnc.RawRecord([]byte(fmt.Sprintf("%d:%d", id, i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// groupSeen collects what members polled: how often each record came, assignment events.
type groupSeen struct {
	mu       sync.Mutex
	counts   map[string]int
	assigned map[string]int // member -> Assigned events
	revoked  map[string]int
	names    map[uint32]string
}

func newGroupSeen() *groupSeen {
	return &groupSeen{counts: map[string]int{}, assigned: map[string]int{}, revoked: map[string]int{},
		names: map[uint32]string{}}
}

func (s *groupSeen) add(t *testing.T, member string, evs []lnc.GroupEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		switch e.Kind {
		case lnc.GroupRecord:
			v := string(e.Record.Value)
			if !strings.HasPrefix(v, fmt.Sprintf("%d:", e.Topic.ID)) {
				t.Errorf("record %q tagged with topic %d", v, e.Topic.ID)
			}
			s.counts[v]++
			if e.Topic.Name != "" {
				s.names[e.Topic.ID] = e.Topic.Name
			}
		case lnc.GroupAssigned:
			s.assigned[member]++
			for _, tp := range e.Topics {
				s.names[tp.ID] = tp.Name
			}
		case lnc.GroupRevoked:
			s.revoked[member]++
		case lnc.GroupError:
			t.Logf("%s: topic %d error: %v", member, e.Topic.ID, e.Err)
		}
	}
}

// missing counts the records "id:i" (i in [first, first+count)) not seen yet.
func (s *groupSeen) missing(ids []uint32, first, count int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		for i := first; i < first+count; i++ {
			if s.counts[fmt.Sprintf("%d:%d", id, i)] == 0 {
				n++
			}
		}
	}
	return n
}

// pollUntil polls every member in turn until done() or the deadline.
func pollUntil(t *testing.T, seen *groupSeen, members map[string]*lnc.GroupConsumer, d time.Duration, done func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !done() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v", d)
		}
		for name, g := range members {
			evs, err := g.TryPoll(20 * time.Millisecond)
			if err != nil {
				t.Fatalf("%s: TryPoll: %v", name, err)
			}
			seen.add(t, name, evs)
		}
	}
}

func assignmentSize(t *testing.T, g *lnc.GroupConsumer) int {
	t.Helper()
	a, err := g.Assignment()
	if err != nil {
		t.Fatal(err)
	}
	return len(a)
}

func TestGroupTwoMembersShareTopicsAndTakeOverOnClose(t *testing.T) {
	m := fastMock(t)
	ids, names := groupTopics(t, m, 4)
	produceEach(t, m.Addr(), ids, 0, 100)
	group := fmt.Sprintf("go-share-%d", groupSeq.Add(1))
	g1, err := lnc.NewGroupConsumer(context.Background(), groupConfig(m.Addr(), group, "m1", names))
	if err != nil {
		t.Fatal(err)
	}
	defer g1.Close()
	g2, err := lnc.NewGroupConsumer(context.Background(), groupConfig(m.Addr(), group, "m2", names))
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if g1.MemberID() != "m1" || g2.MemberID() != "m2" {
		t.Fatalf("member ids %q %q", g1.MemberID(), g2.MemberID())
	}
	seen := newGroupSeen()
	members := map[string]*lnc.GroupConsumer{"m1": g1, "m2": g2}
	// every record at least once, and the topics balanced over both members (sticky: 2 each)
	pollUntil(t, seen, members, 60*time.Second, func() bool {
		return seen.missing(ids, 0, 100) == 0 && assignmentSize(t, g1) == 2 && assignmentSize(t, g2) == 2
	})
	seen.mu.Lock()
	if seen.assigned["m1"] == 0 || seen.assigned["m2"] == 0 {
		t.Errorf("assigned events: %v", seen.assigned)
	}
	for i, id := range ids {
		if seen.names[id] != names[i] {
			t.Errorf("topic %d named %q, want %q", id, seen.names[id], names[i])
		}
	}
	seen.mu.Unlock()
	a1, _ := g1.Assignment()
	a2, _ := g2.Assignment()
	owned := map[uint32]bool{}
	for _, tp := range append(a1, a2...) {
		if owned[tp.ID] {
			t.Errorf("topic %d owned twice", tp.ID)
		}
		owned[tp.ID] = true
	}

	// m1 leaves: m2 takes its topics at once and resumes at the group's commit
	if err := g1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := g1.TryPoll(0); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("TryPoll after Close: %v", err)
	}
	if _, err := g1.Assignment(); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("Assignment after Close: %v", err)
	}
	before := seen.assigned["m2"]
	produceEach(t, m.Addr(), ids, 100, 50)
	delete(members, "m1")
	pollUntil(t, seen, members, 30*time.Second, func() bool {
		return seen.missing(ids, 100, 50) == 0 && assignmentSize(t, g2) == 4
	})
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if seen.assigned["m2"] <= before {
		t.Errorf("m2 saw no Assigned after m1 left")
	}
	// a clean leave commits everything m1 was handed: the new records are the only ones left
	for _, id := range ids {
		for i := 100; i < 150; i++ {
			if c := seen.counts[fmt.Sprintf("%d:%d", id, i)]; c != 1 {
				t.Errorf("record %d:%d delivered %d times", id, i, c)
			}
		}
	}
}

// TestGroupCrashHelper is the member the crash test kills (run as a child process): once it
// shares the group (owns some topics but not all) and has been idle for a second with the same
// assignment (everything it was handed is processed and committed), it prints READY and the
// topics it owns, then polls until killed.
func TestGroupCrashHelper(t *testing.T) {
	addr := os.Getenv("LNC_GO_GROUP_CRASH_ADDR")
	if addr == "" {
		t.Skip("child process of TestGroupCrashFailover")
	}
	topics := strings.Split(os.Getenv("LNC_GO_GROUP_CRASH_TOPICS"), ",")
	g, err := lnc.NewGroupConsumer(context.Background(), groupConfig(addr, os.Getenv("LNC_GO_GROUP_CRASH_GROUP"), "victim", topics))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var owned string
	idleSince := time.Now()
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) {
		evs, err := g.TryPoll(50 * time.Millisecond)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		a, err := g.Assignment()
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		ids := make([]string, len(a))
		for i, tp := range a {
			ids[i] = fmt.Sprint(tp.ID)
		}
		now := strings.Join(ids, ",")
		if len(evs) > 0 || now != owned || len(a) == 0 || len(a) == len(topics) {
			owned, idleSince = now, time.Now()
			continue
		}
		if time.Since(idleSince) > time.Second {
			fmt.Println("READY", owned)
			for { // until killed; never closes
				_, _ = g.TryPoll(50 * time.Millisecond)
			}
		}
	}
	fmt.Println("ERR never shared the group")
	os.Exit(2)
}

// TestGroupCrashFailover: two members share three topics; one is killed (a separate process:
// no leave record, no final commit). The survivor takes its topics over after the session
// timeout and resumes them at the dead member's commits.
func TestGroupCrashFailover(t *testing.T) {
	m := fastMock(t)
	ids, names := groupTopics(t, m, 3)
	produceEach(t, m.Addr(), ids, 0, 100)
	group := fmt.Sprintf("go-crash-%d", groupSeq.Add(1))
	g, err := lnc.NewGroupConsumer(context.Background(), groupConfig(m.Addr(), group, "survivor", names))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestGroupCrashHelper$")
	cmd.Env = append(os.Environ(), "LNC_GO_GROUP_CRASH_ADDR="+m.Addr(), "LNC_GO_GROUP_CRASH_GROUP="+group,
		"LNC_GO_GROUP_CRASH_TOPICS="+strings.Join(names, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "READY") || strings.HasPrefix(line, "ERR") {
				ready <- line
				return
			}
		}
		ready <- "EOF"
	}()
	seen := newGroupSeen()
	var line string
	deadline := time.Now().Add(90 * time.Second)
	for line == "" { // the survivor polls its share meanwhile
		if time.Now().After(deadline) {
			t.Fatal("child never got ready")
		}
		select {
		case line = <-ready:
		default:
			evs, err := g.TryPoll(20 * time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			seen.add(t, "survivor", evs)
		}
	}
	if !strings.HasPrefix(line, "READY ") {
		t.Fatalf("child: %s", line)
	}
	var victimTopics []uint32
	for _, f := range strings.Split(strings.TrimPrefix(line, "READY "), ",") {
		var id uint32
		if _, err := fmt.Sscan(f, &id); err != nil {
			t.Fatal(err)
		}
		victimTopics = append(victimTopics, id)
	}
	if n := assignmentSize(t, g); n+len(victimTopics) != 3 {
		t.Fatalf("survivor owns %d, victim %v", n, victimTopics)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	seen.mu.Lock()
	before := seen.assigned["survivor"]
	oldCounts := make(map[string]int, len(seen.counts))
	for k, v := range seen.counts {
		oldCounts[k] = v
	}
	seen.mu.Unlock()
	produceEach(t, m.Addr(), ids, 100, 50)
	pollUntil(t, seen, map[string]*lnc.GroupConsumer{"survivor": g}, 60*time.Second, func() bool {
		return seen.missing(ids, 100, 50) == 0 && assignmentSize(t, g) == 3
	})
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if seen.assigned["survivor"] == before {
		t.Error("no Assigned event after the crash")
	}
	// The victim processed and committed all of its old records before it died: the survivor
	// resumes its topics at those commits, so none of them comes again (nothing from offset 0).
	for _, id := range victimTopics {
		for i := 0; i < 100; i++ {
			k := fmt.Sprintf("%d:%d", id, i)
			if seen.counts[k] != oldCounts[k] {
				t.Fatalf("old record %s of the dead member's topic delivered again after the crash", k)
			}
		}
	}
}

func TestGroupBadArguments(t *testing.T) {
	m := fastMock(t)
	_, names := groupTopics(t, m, 1)
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  lnc.Config
		code lnc.Code
	}{
		{"no group.id", lnc.Config{"bootstrap.servers": m.Addr(), "group.topics": names[0]}, lnc.CodeInvalidArg},
		{"unknown key", lnc.Config{"bootstrap.servers": m.Addr(), "group.id": "g", "group.nope": "1"}, lnc.CodeUnknownKey},
		{"bad strategy", lnc.Config{"bootstrap.servers": m.Addr(), "group.id": "g", "group.assignment.strategy": "x"}, lnc.CodeInvalidValue},
		{"bad group.id", lnc.Config{"bootstrap.servers": m.Addr(), "group.id": "a b", "group.topics": names[0]}, lnc.CodeInvalidValue},
	}
	for _, c := range cases {
		g, err := lnc.NewGroupConsumer(ctx, c.cfg)
		var e *lnc.Error
		if g != nil || !errors.As(err, &e) {
			t.Fatalf("%s: got %v, %v", c.name, g, err)
		}
		if e.Code != c.code {
			t.Errorf("%s: code %v (%v), want %v", c.name, e.Code, err, c.code)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := lnc.NewGroupConsumer(cancelled, groupConfig(m.Addr(), "g", "x", names)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	g, err := lnc.NewGroupConsumer(ctx, groupConfig(m.Addr(), fmt.Sprintf("go-bad-%d", groupSeq.Add(1)), "x", names))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Poll(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll with cancelled ctx: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel2()
	for { // an idle member: the deadline ends Poll (after any assignment events)
		evs, err := g.Poll(short)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil || len(evs) == 0 {
			t.Fatalf("Poll: %v %v", evs, err)
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Poll(ctx); !errors.Is(err, lnc.ErrClosed) {
		t.Fatalf("Poll after Close: %v", err)
	}
	if g.MemberID() != "x" {
		t.Fatalf("MemberID after Close: %q", g.MemberID())
	}
}

// TestGroupCloseRacesCalls closes members while goroutines poll, ask the assignment and close.
func TestGroupCloseRacesCalls(t *testing.T) {
	m := fastMock(t)
	ids, names := groupTopics(t, m, 2)
	produceEach(t, m.Addr(), ids, 0, 200)
	for round := 0; round < 4; round++ {
		group := fmt.Sprintf("go-race-%d", groupSeq.Add(1))
		g, err := lnc.NewGroupConsumer(context.Background(), groupConfig(m.Addr(), group, "r", names))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() { // Poll without a deadline: only Close can end it
				defer wg.Done()
				for {
					if _, err := g.Poll(context.Background()); err != nil {
						if !errors.Is(err, lnc.ErrClosed) {
							errs <- fmt.Errorf("Poll: %w", err)
						}
						return
					}
				}
			}()
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				if _, err := g.TryPoll(time.Millisecond); err != nil {
					if !errors.Is(err, lnc.ErrClosed) {
						errs <- fmt.Errorf("TryPoll: %w", err)
					}
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				_ = g.MemberID()
				if _, err := g.Assignment(); err != nil {
					if !errors.Is(err, lnc.ErrClosed) {
						errs <- fmt.Errorf("Assignment: %w", err)
					}
					return
				}
			}
		}()
		time.Sleep(time.Duration(50*(round+1)) * time.Millisecond)
		var cw sync.WaitGroup
		closeErrs := make([]error, 3)
		for i := range closeErrs {
			cw.Add(1)
			go func() { defer cw.Done(); closeErrs[i] = g.Close() }()
		}
		cw.Wait()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("calls still running 30 s after Close")
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, err := range closeErrs {
			if err != closeErrs[0] {
				t.Errorf("Close results differ: %v", closeErrs)
			}
		}
	}
}

// TestGroupTopicErrorEntry: an owned topic deleted under the member comes back as a GroupError
// entry tagged with that topic; the other topic keeps delivering.
func TestGroupTopicErrorEntry(t *testing.T) {
	m := fastMock(t)
	ids, names := groupTopics(t, m, 2)
	produceEach(t, m.Addr(), ids, 0, 10)
	g, err := lnc.NewGroupConsumer(context.Background(), groupConfig(m.Addr(), fmt.Sprintf("go-err-%d", groupSeq.Add(1)), "e", names))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	seen := newGroupSeen()
	members := map[string]*lnc.GroupConsumer{"e": g}
	pollUntil(t, seen, members, 30*time.Second, func() bool { return seen.missing(ids, 0, 10) == 0 })
	a, err := lnc.NewAdmin(lnc.Config{"bootstrap.servers": m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.DeleteTopic(ctxT(t, 10*time.Second), ids[1]); err != nil {
		t.Fatal(err)
	}
	produceEach(t, m.Addr(), ids[:1], 10, 10)
	var topicErr *lnc.GroupEvent
	end := time.Now().Add(30 * time.Second)
	for topicErr == nil || seen.missing(ids[:1], 10, 10) > 0 {
		if time.Now().After(end) {
			t.Fatalf("error entry %v, missing %d", topicErr, seen.missing(ids[:1], 10, 10))
		}
		evs, err := g.TryPoll(20 * time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		seen.add(t, "e", evs)
		for i := range evs {
			if evs[i].Kind == lnc.GroupError && topicErr == nil {
				topicErr = &evs[i]
			}
		}
	}
	if topicErr.Topic.ID != ids[1] || topicErr.Topic.Name != names[1] || !errors.Is(topicErr.Err, lnc.ErrUnknownTopic) {
		t.Fatalf("error entry %+v", topicErr)
	}
}

// BenchmarkGroupConsume is BenchmarkConsume through a one-member GroupConsumer (records copied
// into Go memory and tagged with their topic), timed from its Assigned event: compare the two
// with `go test -tags lnc_inrepo -bench 'Consume$' -run '^$' -benchtime 300000x`.
func BenchmarkGroupConsume(b *testing.B) {
	m := fastMock(b)
	name := fmt.Sprintf("go-grp-bench-%d", groupSeq.Add(1))
	topic, err := m.CreateTopic(name)
	if err != nil {
		b.Fatal(err)
	}
	p := mustProducer(b, lnc.Config{"bootstrap.servers": m.Addr()})
	ctx := context.Background()
	val := make([]byte, 100)
	for i := 0; i < b.N; i++ {
		if err := p.Produce(ctx, topic, lnc.RawRecord(val)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	g, err := lnc.NewGroupConsumer(ctx, lnc.Config{"bootstrap.servers": m.Addr(), "group.id": name, "group.topics": name,
		"max.poll.records": "65536"})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	for assigned := false; !assigned; {
		evs, err := g.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		assigned = len(evs) > 0 && evs[0].Kind == lnc.GroupAssigned
	}
	b.SetBytes(100)
	b.ResetTimer()
	got, sink := 0, 0
	for got < b.N {
		evs, err := g.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := range evs {
			if evs[i].Kind == lnc.GroupRecord {
				sink += len(evs[i].Record.Value)
				got++
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "records/s")
	_ = sink
}

// TestGroupWithLogger: liblnc's log lines of a group member reach the slog.Logger, tagged
// handle=group.
func TestGroupWithLogger(t *testing.T) {
	m := fastMock(t)
	_, names := groupTopics(t, m, 1)
	logs := &captureHandler{level: slog.LevelDebug}
	cfg := groupConfig(m.Addr(), fmt.Sprintf("go-log-%d", groupSeq.Add(1)), "l", names)
	g, err := lnc.NewGroupConsumer(context.Background(), cfg, lnc.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	logs.waitFor(t, "a line tagged handle=group", func(r slog.Record) bool {
		tagged := false
		r.Attrs(func(a slog.Attr) bool {
			tagged = tagged || (a.Key == "handle" && a.Value.String() == "group")
			return true
		})
		return tagged
	})
}

package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

// fakeEngine records requests and how many runs of each profile overlap.
type fakeEngine struct {
	mu        sync.Mutex
	reqs      []engine.Request
	deadlines []time.Duration // remaining time when each run started; -1 without deadline
	active    map[string]int
	maxActive map[string]int
	total     int
	maxTotal  int
	run       func(ctx context.Context, req engine.Request) error
	handed    []store.PendingRun
	handOff   error // returned by HandOff
}

func (f *fakeEngine) HandOff(ctx context.Context, profileID string, runs []store.PendingRun) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handOff != nil {
		return f.handOff
	}
	f.handed = append(f.handed, runs...)
	return nil
}

func newFakeEngine(run func(ctx context.Context, req engine.Request) error) *fakeEngine {
	return &fakeEngine{active: map[string]int{}, maxActive: map[string]int{}, run: run}
}

func (f *fakeEngine) Run(ctx context.Context, req engine.Request) (tb.Run, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	rem := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		rem = time.Until(dl)
	}
	f.deadlines = append(f.deadlines, rem)
	f.active[req.ProfileID]++
	f.maxActive[req.ProfileID] = max(f.maxActive[req.ProfileID], f.active[req.ProfileID])
	f.total++
	f.maxTotal = max(f.maxTotal, f.total)
	f.mu.Unlock()
	var err error
	if f.run != nil {
		err = f.run(ctx, req)
	}
	f.mu.Lock()
	f.active[req.ProfileID]--
	f.total--
	f.mu.Unlock()
	status := tb.RunSucceeded
	if err != nil {
		status = tb.RunFailed
	}
	return tb.Run{ID: req.RunID, ProfileID: req.ProfileID, Status: status}, err
}

// fakeSQS records visibility changes.
type fakeSQS struct {
	mu      sync.Mutex
	changes map[string]int32 // receipt handle → seconds
}

func (f *fakeSQS) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changes == nil {
		f.changes = map[string]int32{}
	}
	f.changes[*in.ReceiptHandle] = in.VisibilityTimeout
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func loadBatch(t *testing.T) events.SQSEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "sqs-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func record(id string, m any) events.SQSMessage {
	body, ok := m.(string)
	if !ok {
		b, _ := json.Marshal(m)
		body = string(b)
	}
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: body,
		Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1744017151500"}}
}

func failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

// TestSampleBatch runs events/sqs-batch.json: both messages become engine
// requests with every field carried over, in order (same profile).
func TestSampleBatch(t *testing.T) {
	ev := loadBatch(t)
	eng := newFakeEngine(nil)
	fs := &fakeSQS{}
	h := reconcile.New(reconcile.Deps{Engine: eng, SQS: fs, QueueURL: "q"})
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	if len(eng.reqs) != 2 {
		t.Fatalf("%d runs", len(eng.reqs))
	}
	for i, rec := range ev.Records {
		m, _ := queue.Decode(rec.Body)
		r := eng.reqs[i]
		if r.RunID != m.RunID || r.ProfileID != m.ProfileID || r.Mode != m.Mode || r.TicketID != m.TicketID ||
			r.Trigger != m.Trigger || r.Actor != m.Actor || r.DryRun != m.DryRun {
			t.Fatalf("request %d %+v from %+v", i, r, m)
		}
	}
	if eng.reqs[0].Mode != tb.ModeTicket || eng.reqs[0].TicketID != 40 || eng.reqs[1].Mode != tb.ModeIncremental {
		t.Fatalf("requests %+v", eng.reqs)
	}
	if want := time.UnixMilli(1744017151500).UTC(); !eng.reqs[0].QueuedAt.Equal(want) {
		t.Fatalf("queued at %v, want %v (SentTimestamp)", eng.reqs[0].QueuedAt, want)
	}
	if eng.maxActive[eng.reqs[0].ProfileID] != 1 {
		t.Fatal("runs of one profile overlapped within a batch")
	}
	if len(fs.changes) != 0 {
		t.Fatalf("visibility changed: %v", fs.changes)
	}
}

// TestRangeRequest: from/to reach the engine.
func TestRangeRequest(t *testing.T) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	eng := newFakeEngine(nil)
	h := reconcile.New(reconcile.Deps{Engine: eng})
	_, _ = h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		record("m1", queue.Message{RunID: "r1", ProfileID: "p", Mode: tb.ModeRange, From: &from, To: &to, DryRun: true, Trigger: "manual", Actor: "admin"}),
	}})
	if r := eng.reqs[0]; !r.From.Equal(from) || !r.To.Equal(to) || !r.DryRun {
		t.Fatalf("request %+v", r)
	}
}

// TestPoisonMessages: undecodable messages are reported as failures (so
// SQS dead-letters them after maxReceiveCount), logged, and never run;
// the good message of the batch still runs.
func TestPoisonMessages(t *testing.T) {
	var logs bytes.Buffer
	eng := newFakeEngine(nil)
	fs := &fakeSQS{}
	h := reconcile.New(reconcile.Deps{Engine: eng, SQS: fs, QueueURL: "q", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		record("bad-json", "not json"),
		record("good", queue.Message{RunID: "r1", ProfileID: "p", Mode: tb.ModeIncremental, Trigger: "schedule"}),
		record("incomplete", `{"run_id":"r2"}`),
		record("empty", ""),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"bad-json", "empty", "incomplete"}; !slices.Equal(got, want) {
		t.Fatalf("failures %v, want %v", got, want)
	}
	if len(eng.reqs) != 1 || eng.reqs[0].RunID != "r1" {
		t.Fatalf("runs %+v", eng.reqs)
	}
	if n := strings.Count(logs.String(), "poison message"); n != 3 {
		t.Fatalf("%d poison log lines:\n%s", n, logs.String())
	}
	// Waiting cannot repair a poison message: it comes back after
	// RetryDelay so that it reaches the dead-letter queue soon.
	if len(fs.changes) != 3 || fs.changes["rh-bad-json"] != 30 || fs.changes["rh-good"] != 0 {
		t.Fatalf("visibility %v", fs.changes)
	}
}

// TestOutcomes: what each kind of run error does to the message.
func TestOutcomes(t *testing.T) {
	busy := apperr.Wrap(engine.ErrBusy, apperr.Conflict, "engine: run", "Another run of this profile is in progress; this one will be retried.")
	limited := &apperr.Error{Kind: apperr.RateLimited, Op: "kimai", Message: "slow down", RetryAfter: 2 * time.Minute}
	cases := []struct {
		name       string
		err        error
		fail       bool
		visibility int32 // 0: unchanged
		receives   string
	}{
		{"success", nil, false, 0, ""},
		{"busy", busy, true, 30, "1"},
		{"busy, third receive", busy, true, 120, "3"},
		{"busy, sixth receive", busy, true, 900, "6"},
		{"busy, tenth receive", busy, true, 900, "10"},
		{"connection", apperr.New(apperr.Connection, "zammad", "unreachable"), true, 0, ""},
		{"timeout", apperr.New(apperr.Timeout, "kimai", "slow"), true, 0, ""},
		{"upstream", apperr.New(apperr.Upstream, "kimai", "502"), true, 0, ""},
		{"rate limited with Retry-After", limited, true, 120, ""},
		{"rate limited", apperr.New(apperr.RateLimited, "kimai", "slow down"), true, 0, ""},
		{"internal", errors.New("boom"), true, 0, ""},
		{"auth", apperr.New(apperr.Auth, "zammad", "token refused"), false, 0, ""},
		{"permission", apperr.New(apperr.Permission, "kimai", "no permission"), false, 0, ""},
		{"not found", apperr.New(apperr.NotFound, "store", "profile gone"), false, 0, ""},
		{"validation", apperr.New(apperr.Validation, "engine", "bad mode"), false, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := &fakeSQS{}
			h := reconcile.New(reconcile.Deps{Engine: newFakeEngine(func(context.Context, engine.Request) error { return c.err }), SQS: fs, QueueURL: "q"})
			rec := record("m1", queue.Message{RunID: "r1", ProfileID: "p", Mode: tb.ModeIncremental, Trigger: "schedule"})
			if c.receives != "" {
				rec.Attributes["ApproximateReceiveCount"] = c.receives
			}
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(resp.BatchItemFailures) == 1; got != c.fail {
				t.Fatalf("failure reported %v, want %v", got, c.fail)
			}
			if got := fs.changes["rh-m1"]; got != c.visibility {
				t.Fatalf("visibility %d, want %d", got, c.visibility)
			}
		})
	}
}

// TestDeadlineMargin: runs get a context ending Margin before the Lambda
// deadline (at most half the remaining time).
func TestDeadlineMargin(t *testing.T) {
	for _, c := range []struct {
		remaining, margin, want time.Duration
	}{
		{15 * time.Minute, 30 * time.Second, 14*time.Minute + 30*time.Second},
		{40 * time.Second, 30 * time.Second, 20 * time.Second}, // less than 2×margin left: half of it
		{0, 30 * time.Second, -1},                              // no deadline (not in Lambda)
	} {
		eng := newFakeEngine(nil)
		h := reconcile.New(reconcile.Deps{Engine: eng, Margin: c.margin})
		ctx := context.Background()
		if c.remaining > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.remaining)
			defer cancel()
		}
		_, _ = h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
			record("m1", queue.Message{RunID: "r1", ProfileID: "p", Mode: tb.ModeFull, Trigger: "schedule"}),
		}})
		got := eng.deadlines[0]
		if c.want < 0 {
			if got != -1 {
				t.Fatalf("deadline %v without a Lambda deadline", got)
			}
			continue
		}
		if got > c.want || got < c.want-time.Second {
			t.Fatalf("remaining %v, margin %v: run deadline in %v, want %v", c.remaining, c.margin, got, c.want)
		}
	}
}

// TestDeadlineStopsBatch: a run still going at the margin is stopped and
// retried soon; the profile's next message is not started.
func TestDeadlineStopsBatch(t *testing.T) {
	eng := newFakeEngine(func(ctx context.Context, req engine.Request) error {
		<-ctx.Done()
		return fmt.Errorf("engine: zammad: %w", ctx.Err())
	})
	fs := &fakeSQS{}
	h := reconcile.New(reconcile.Deps{Engine: eng, SQS: fs, QueueURL: "q", Margin: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, _ := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
		record("m1", queue.Message{RunID: "r1", ProfileID: "p", Mode: tb.ModeFull, Trigger: "schedule"}),
		record("m2", queue.Message{RunID: "r2", ProfileID: "p", Mode: tb.ModeIncremental, Trigger: "schedule"}),
	}})
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("handler returned after %v, past the margin", took)
	}
	if got := failures(resp); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("failures %v", got)
	}
	if len(eng.reqs) != 1 {
		t.Fatalf("%d runs started", len(eng.reqs))
	}
	if fs.changes["rh-m1"] != 30 || fs.changes["rh-m2"] != 30 {
		t.Fatalf("visibility %v", fs.changes)
	}
}

// TestBatchConcurrency: different profiles run concurrently (bounded),
// one profile's messages one after the other.
func TestBatchConcurrency(t *testing.T) {
	eng := newFakeEngine(func(ctx context.Context, req engine.Request) error {
		time.Sleep(30 * time.Millisecond)
		return nil
	})
	h := reconcile.New(reconcile.Deps{Engine: eng, Concurrency: 2})
	var recs []events.SQSMessage
	for i := range 9 {
		pid := fmt.Sprintf("p%d", i%3)
		recs = append(recs, record(fmt.Sprintf("m%d", i), queue.Message{RunID: fmt.Sprintf("r%d", i), ProfileID: pid, Mode: tb.ModeFull, Trigger: "manual"}))
	}
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: recs})
	if len(resp.BatchItemFailures) != 0 || len(eng.reqs) != 9 {
		t.Fatalf("failures %v, %d runs", resp.BatchItemFailures, len(eng.reqs))
	}
	for pid, n := range eng.maxActive {
		if n != 1 {
			t.Fatalf("profile %s had %d runs at once", pid, n)
		}
	}
	if eng.maxTotal != 2 {
		t.Fatalf("%d runs at once, want the concurrency bound 2", eng.maxTotal)
	}
	// Within a profile, arrival order.
	var p0 []string
	for _, r := range eng.reqs {
		if r.ProfileID == "p0" {
			p0 = append(p0, r.RunID)
		}
	}
	if !slices.Equal(p0, []string{"r0", "r3", "r6"}) {
		t.Fatalf("p0 order %v", p0)
	}
}

// TestTicketRunsMerged: a profile's ticket runs in one batch are carried
// out as one engine run led by the first (duplicates of a run once), other
// runs of the profile follow one by one; when the profile is busy, the
// ticket runs are handed to the lease holder and their messages are done,
// and only when the hand-off fails do they come back (busy delay).
func TestTicketRunsMerged(t *testing.T) {
	busy := apperr.Wrap(engine.ErrBusy, apperr.Conflict, "engine: run", "busy")
	batch := []events.SQSMessage{
		record("m1", queue.Message{RunID: "r1", ProfileID: "p", Mode: tb.ModeTicket, TicketID: 7, Trigger: "webhook"}),
		record("m2", queue.Message{RunID: "r2", ProfileID: "p", Mode: tb.ModeFull, Trigger: "manual"}),
		record("m3", queue.Message{RunID: "r3", ProfileID: "p", Mode: tb.ModeTicket, TicketID: 8, Trigger: "webhook"}),
		record("m4", queue.Message{RunID: "r3", ProfileID: "p", Mode: tb.ModeTicket, TicketID: 8, Trigger: "webhook"}), // SQS delivered r3 twice
		record("m5", queue.Message{RunID: "r5", ProfileID: "p", Mode: tb.ModeTicket, TicketID: 9, DryRun: true, Trigger: "manual"}),
		record("m6", queue.Message{RunID: "r6", ProfileID: "q", Mode: tb.ModeTicket, TicketID: 7, Trigger: "webhook"}),
	}
	t.Run("merged", func(t *testing.T) {
		eng := newFakeEngine(nil)
		h := reconcile.New(reconcile.Deps{Engine: eng})
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: batch})
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", resp.BatchItemFailures)
		}
		var got []string
		for _, r := range eng.reqs {
			got = append(got, fmt.Sprintf("%s:%s/%d+%v", r.ProfileID, r.RunID, r.TicketID, r.Merged))
		}
		slices.Sort(got)
		want := []string{"p:r1/7+[{r3 8}]", "p:r2/0+[]", "p:r5/9+[]", "q:r6/7+[]"}
		if !slices.Equal(got, want) {
			t.Fatalf("runs %v, want %v", got, want)
		}
	})
	t.Run("busy: handed off", func(t *testing.T) {
		eng := newFakeEngine(func(ctx context.Context, req engine.Request) error {
			if req.ProfileID == "p" {
				return busy
			}
			return nil
		})
		fs := &fakeSQS{}
		h := reconcile.New(reconcile.Deps{Engine: eng, SQS: fs, QueueURL: "q"})
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: batch})
		var failed []string
		for _, f := range resp.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		// The full run and the dry run wait for their retry; the ticket runs
		// are with the lease holder.
		if !slices.Equal(failed, []string{"m2", "m5"}) {
			t.Fatalf("failures %v, want m2 and m5", failed)
		}
		if fmt.Sprint(eng.handed) != "[{r1 7} {r3 8}]" {
			t.Fatalf("handed off %v", eng.handed)
		}
	})
	t.Run("busy: hand-off failed", func(t *testing.T) {
		eng := newFakeEngine(func(context.Context, engine.Request) error { return busy })
		eng.handOff = apperr.New(apperr.Upstream, "store", "throttled")
		fs := &fakeSQS{}
		h := reconcile.New(reconcile.Deps{Engine: eng, SQS: fs, QueueURL: "q"})
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: batch[:1]})
		if len(resp.BatchItemFailures) != 1 || fs.changes["rh-m1"] != 30 {
			t.Fatalf("failures %v, visibility %v", resp.BatchItemFailures, fs.changes)
		}
	})
}

// sink records the messages the handler queues.
type sink struct {
	mu   sync.Mutex
	msgs []queue.Message
	err  error
}

func (s *sink) Send(_ context.Context, m queue.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, m)
	return nil
}

// TestContinuation: a range run that stops before the deadline queues its
// next part (same run, resuming after the ticket it reached, every other
// field kept) and its own message is done; the next part's request carries
// the resume point. When the continuation cannot be queued, the message
// itself comes back at once (the run resumes from its stored point).
func TestContinuation(t *testing.T) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(1, 0, 0)
	msg := queue.Message{RunID: "r1", ProfileID: "p1", Mode: tb.ModeRange, From: &from, To: &to, Trigger: "manual", Actor: "admin", Resume: 40, Part: 2}
	eng := newFakeEngine(func(ctx context.Context, req engine.Request) error {
		return &engine.Continuation{After: req.Resume + 200, Part: req.Part + 1}
	})
	out := &sink{}
	fs := &fakeSQS{}
	h := reconcile.New(reconcile.Deps{Engine: eng, SQS: fs, QueueURL: "q", Continue: out})
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("m1", msg)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("continued message reported as failed: %+v", resp)
	}
	if eng.reqs[0].Resume != 40 || eng.reqs[0].Part != 2 || !eng.reqs[0].From.Equal(from) {
		t.Fatalf("request %+v", eng.reqs[0])
	}
	want := msg
	want.Resume = 240
	if len(out.msgs) != 1 || out.msgs[0].Resume != want.Resume || out.msgs[0].Part != 3 || out.msgs[0].RunID != "r1" || out.msgs[0].Mode != tb.ModeRange ||
		!out.msgs[0].From.Equal(from) || !out.msgs[0].To.Equal(to) || out.msgs[0].Actor != "admin" {
		t.Fatalf("queued %+v, want %+v", out.msgs, want)
	}

	out.err = errors.New("sqs down")
	resp, _ = h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("m2", msg)}})
	if got := failures(resp); len(got) != 1 || got[0] != "m2" {
		t.Fatalf("failures %v, want m2 back", got)
	}
	if v, ok := fs.changes["rh-m2"]; !ok || v != 0 {
		t.Fatalf("visibility %v, want m2 visible at once", fs.changes)
	}
}

package schedule_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/schedule"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

// sent returns and forgets the messages sent so far, as "profile/mode".
func sent(s *testkit.Sink) []string {
	var out []string
	for _, m := range s.Take() {
		out = append(out, m.ProfileID+"/"+string(m.Mode))
	}
	slices.Sort(out)
	return out
}

func loadScheduledEvent(t *testing.T) events.EventBridgeEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduled-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

type fixture struct {
	clk   *testkit.Clock
	st    *store.Store
	sink  *testkit.Sink
	sched *schedule.Scheduler
	ev    events.EventBridgeEvent
}

func newFixture(t *testing.T) *fixture {
	env := kumotest.Get(t)
	clk := testkit.NewClock(time.Date(2025, 4, 7, 9, 15, 0, 0, time.UTC))
	st := env.NewStore(t, store.WithClock(clk.Now))
	sk := &testkit.Sink{}
	return &fixture{clk: clk, st: st, sink: sk, ev: loadScheduledEvent(t),
		sched: schedule.New(schedule.Deps{Store: st, Queue: sk, Now: clk.Now})}
}

func (f *fixture) profile(t *testing.T, id string, enabled bool, interval int) tb.Profile {
	t.Helper()
	p, err := f.st.CreateProfile(context.Background(), tb.Profile{ID: id, Name: id, ZammadConnectorID: "zc", KimaiConnectorID: "kc",
		Enabled: enabled, IntervalMinutes: interval})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tick runs the scheduler at start+offset and returns what it queued.
func (f *fixture) tick(t *testing.T, at time.Time) []string {
	t.Helper()
	f.clk.Set(at)
	if err := f.sched.Handle(context.Background(), f.ev); err != nil {
		t.Fatalf("tick at %v: %v", at, err)
	}
	return sent(f.sink)
}

func want(t *testing.T, at string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: queued %v, want %v", at, got, want)
	}
}

// TestScheduleIntervals walks a controllable clock through a day of
// 5-minute ticks for profiles with 15- and 5-minute intervals (and the
// default) and a disabled one.
func TestScheduleIntervals(t *testing.T) {
	f := newFixture(t)
	f.profile(t, "a15", true, 15)
	f.profile(t, "b5", true, 5)
	f.profile(t, "cdef", true, 0) // default interval (15)
	f.profile(t, "off", false, 5)
	t0 := f.clk.Now()

	want(t, "first tick", f.tick(t, t0), "a15/full", "a15/incremental", "b5/full", "b5/incremental", "cdef/full", "cdef/incremental")
	// The same tick delivered again (EventBridge is at least once).
	want(t, "duplicate tick", f.tick(t, t0))
	want(t, "+5m", f.tick(t, t0.Add(5*time.Minute)), "b5/incremental")
	want(t, "+10m", f.tick(t, t0.Add(10*time.Minute)), "b5/incremental")
	// A tick a few seconds early still counts (grace).
	want(t, "+15m-3s", f.tick(t, t0.Add(15*time.Minute-3*time.Second)), "a15/incremental", "b5/incremental", "cdef/incremental")
	want(t, "+20m", f.tick(t, t0.Add(20*time.Minute)), "b5/incremental")
	want(t, "+25m", f.tick(t, t0.Add(25*time.Minute)), "b5/incremental")
	want(t, "+30m", f.tick(t, t0.Add(30*time.Minute)), "a15/incremental", "b5/incremental", "cdef/incremental")

	// The next day: full runs again.
	day := t0.Add(24 * time.Hour)
	want(t, "+24h", f.tick(t, day), "a15/full", "a15/incremental", "b5/full", "b5/incremental", "cdef/full", "cdef/incremental")
	want(t, "+24h5m", f.tick(t, day.Add(5*time.Minute)), "b5/incremental")

	// Every queued run is recorded as queued, trigger schedule.
	runs, _, err := f.st.ListRuns(context.Background(), "a15", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 6 {
		t.Fatalf("a15 has %d runs, want 6", len(runs))
	}
	for _, r := range runs {
		if r.Status != tb.RunQueued || r.Trigger != "schedule" || r.Requester != "scheduler" {
			t.Fatalf("run %+v", r)
		}
	}
	if runs, _, _ := f.st.ListRuns(context.Background(), "off", 10, ""); len(runs) != 0 {
		t.Fatalf("disabled profile got %d runs", len(runs))
	}
}

// TestScheduleEnableLater: a disabled profile has no schedule; once enabled
// it is due at the next tick.
func TestScheduleEnableLater(t *testing.T) {
	f := newFixture(t)
	p := f.profile(t, "later", false, 15)
	t0 := f.clk.Now()
	want(t, "disabled", f.tick(t, t0))
	p.Enabled = true
	if _, err := f.st.UpdateProfile(context.Background(), p, p.Version); err != nil {
		t.Fatal(err)
	}
	want(t, "enabled", f.tick(t, t0.Add(5*time.Minute)), "later/full", "later/incremental")
}

// TestScheduleQueueFailure: a run that cannot be queued fails the tick (so
// Lambda retries it), its lease is given back, and the retry queues exactly
// what is missing.
func TestScheduleQueueFailure(t *testing.T) {
	f := newFixture(t)
	f.profile(t, "p1", true, 15)
	t0 := f.clk.Now()
	f.clk.Set(t0)
	f.sink.Fail(apperr.New(apperr.Upstream, "queue: send", "The run could not be queued; try again in a moment."))
	if err := f.sched.Handle(context.Background(), f.ev); err == nil {
		t.Fatal("tick with a failing queue succeeded")
	}
	runs, _, _ := f.st.ListRuns(context.Background(), "p1", 10, "")
	if len(runs) != 2 || runs[0].Status != tb.RunFailed || runs[1].Status != tb.RunFailed {
		t.Fatalf("failed sends not recorded: %+v", runs)
	}
	f.sink.Fail(nil)
	want(t, "retry", f.tick(t, t0.Add(time.Second)), "p1/full", "p1/incremental")
	want(t, "next tick", f.tick(t, t0.Add(5*time.Minute)))
}

// listFails is a store whose ListProfiles fails.
type listFails struct{ *store.Store }

func (listFails) ListProfiles(context.Context) ([]tb.Profile, error) {
	return nil, apperr.New(apperr.Upstream, "store: list profiles", "DynamoDB is unavailable.")
}

func TestScheduleListFailure(t *testing.T) {
	f := newFixture(t)
	s := schedule.New(schedule.Deps{Store: listFails{f.st}, Queue: f.sink, Now: f.clk.Now})
	if err := s.Handle(context.Background(), f.ev); err == nil || !apperr.Is(err, apperr.Upstream) {
		t.Fatalf("err %v", err)
	}
}

// TestScheduledEventToSQS: the sample scheduled event queues real SQS
// messages that the reconcile function can decode.
func TestScheduledEventToSQS(t *testing.T) {
	env := kumotest.Get(t)
	ctx := context.Background()
	st := env.NewStore(t)
	out, err := env.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(kumotest.UniqueName(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	})
	p, err := st.CreateProfile(ctx, tb.Profile{Name: "Demo", ZammadConnectorID: "zc", KimaiConnectorID: "kc", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s := schedule.New(schedule.Deps{Store: st, Queue: queue.NewSender(env.SQS, aws.ToString(out.QueueUrl))})
	if err := s.Handle(ctx, loadScheduledEvent(t)); err != nil {
		t.Fatal(err)
	}
	res, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, m := range res.Messages {
		msg, err := queue.Decode(aws.ToString(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		if msg.ProfileID != p.ID || msg.Trigger != "schedule" || msg.Actor != "scheduler" {
			t.Fatalf("message %+v", msg)
		}
		if _, err := st.GetRun(ctx, msg.RunID); err != nil {
			t.Fatalf("run %s not recorded: %v", msg.RunID, err)
		}
		modes = append(modes, string(msg.Mode))
	}
	slices.Sort(modes)
	if !slices.Equal(modes, []string{"full", "incremental"}) {
		t.Fatalf("modes %v", modes)
	}
}

package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// synced is a synced link of entry e whose timesheet begins on day (UTC
// noon) and lasts secs.
func synced(e int64, day string, secs int64) timebridge.Link {
	begin, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	begin = begin.Add(12 * time.Hour)
	return timebridge.Link{ProfileID: "p", EntryID: e, TicketID: 1, State: timebridge.LinkSynced, TimesheetID: 1000 + e,
		Baseline: timebridge.Timesheet{ID: 1000 + e, Begin: begin, End: begin.Add(time.Duration(secs) * time.Second), Duration: secs}}
}

func wantSummary(t *testing.T, st *store.Store, from, to string, entries, secs int64, days ...timebridge.DayTotal) {
	t.Helper()
	got, err := st.Summary(ctx(t), "p", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if days == nil {
		days = []timebridge.DayTotal{}
	}
	want := timebridge.Summary{ProfileID: "p", Entries: entries, Seconds: secs, Days: days}
	assertEqual(t, got, want)
}

// TestSummaryFollowsLinks walks one profile's links through what the engine
// does (claim, create, update to another day and length, net to none,
// re-create, delete) and checks the summary after every step.
func TestSummaryFollowsLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	const from, to = "2026-03-01", "2026-03-31"
	wantSummary(t, f.st, from, to, 0, 0)

	pending := timebridge.Link{ProfileID: "p", EntryID: 1, TicketID: 1, State: timebridge.LinkPending}
	claim := must[timebridge.Link](t)(f.st.PutLink(c, pending, nil))
	if claim.Tally != nil {
		t.Fatalf("a pending claim has tally %+v", claim.Tally)
	}
	wantSummary(t, f.st, from, to, 0, 0)

	a := must[timebridge.Link](t)(f.st.PutLink(c, synced(1, "2026-03-02", 1800), &claim))
	if a.Tally == nil || *a.Tally != (timebridge.Tally{Day: "2026-03-02", Seconds: 1800}) {
		t.Fatalf("tally %+v", a.Tally)
	}
	b := must[timebridge.Link](t)(f.st.PutLink(c, synced(2, "2026-03-02", 600), nil))
	cc := must[timebridge.Link](t)(f.st.PutLink(c, synced(10, "2026-03-05", 3600), nil)) // same shard as entry 2
	wantSummary(t, f.st, from, to, 3, 6000,
		timebridge.DayTotal{Day: "2026-03-02", Entries: 2, Seconds: 2400}, timebridge.DayTotal{Day: "2026-03-05", Entries: 1, Seconds: 3600})
	// The period bounds the days, not the totals; both ends are inclusive.
	wantSummary(t, f.st, "2026-03-03", "2026-03-05", 3, 6000, timebridge.DayTotal{Day: "2026-03-05", Entries: 1, Seconds: 3600})
	wantSummary(t, f.st, "2026-03-02", "2026-03-02", 3, 6000, timebridge.DayTotal{Day: "2026-03-02", Entries: 2, Seconds: 2400})

	// An edit moves the entry to another day and changes its length.
	moved := synced(1, "2026-03-05", 900)
	moved.Version = a.Version
	a = must[timebridge.Link](t)(f.st.PutLink(c, moved, &a))
	wantSummary(t, f.st, from, to, 3, 5100,
		timebridge.DayTotal{Day: "2026-03-02", Entries: 1, Seconds: 600}, timebridge.DayTotal{Day: "2026-03-05", Entries: 2, Seconds: 4500})
	// The day worked in the Kimai user's zone wins over the UTC day.
	local := synced(2, "2026-03-02", 600)
	local.WorkedOn = "2026-03-03"
	b = must[timebridge.Link](t)(f.st.PutLink(c, local, &b))
	wantSummary(t, f.st, from, to, 3, 5100,
		timebridge.DayTotal{Day: "2026-03-03", Entries: 1, Seconds: 600}, timebridge.DayTotal{Day: "2026-03-05", Entries: 2, Seconds: 4500})

	// A correction nets the entry to zero: its timesheet is gone.
	none := b
	none.State, none.TimesheetID, none.Baseline = timebridge.LinkNone, 0, timebridge.Timesheet{}
	b = must[timebridge.Link](t)(f.st.PutLink(c, none, &b))
	wantSummary(t, f.st, from, to, 2, 4500, timebridge.DayTotal{Day: "2026-03-05", Entries: 2, Seconds: 4500})
	b = must[timebridge.Link](t)(f.st.PutLink(c, synced(2, "2026-03-04", 300), &b))
	wantSummary(t, f.st, from, to, 3, 4800,
		timebridge.DayTotal{Day: "2026-03-04", Entries: 1, Seconds: 300}, timebridge.DayTotal{Day: "2026-03-05", Entries: 2, Seconds: 4500})

	// A vanished entry's link is deleted.
	noErr(t, f.st.DeleteLink(c, cc))
	noErr(t, f.st.DeleteLink(c, b))
	wantSummary(t, f.st, from, to, 1, 900, timebridge.DayTotal{Day: "2026-03-05", Entries: 1, Seconds: 900})

	// Rewriting the same content changes nothing.
	a = must[timebridge.Link](t)(f.st.PutLink(c, a, &a))
	wantSummary(t, f.st, from, to, 1, 900, timebridge.DayTotal{Day: "2026-03-05", Entries: 1, Seconds: 900})

	// Another profile is not counted.
	other := synced(1, "2026-03-05", 60)
	other.ProfileID = "q"
	must[timebridge.Link](t)(f.st.PutLink(c, other, nil))
	wantSummary(t, f.st, from, to, 1, 900, timebridge.DayTotal{Day: "2026-03-05", Entries: 1, Seconds: 900})

	_, err := f.st.Summary(c, "p", "2026-3-1", to)
	wantKind(t, err, apperr.Validation)
}

// TestSummaryRefusesAStaleTally: the summary change is computed from the
// caller's previous link; if that is not what is stored (same version, other
// tally), the write is refused instead of counting from it.
func TestSummaryRefusesAStaleTally(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	a := must[timebridge.Link](t)(f.st.PutLink(c, synced(1, "2026-03-02", 1800), nil))
	stale := a
	stale.Tally = &timebridge.Tally{Day: "2026-03-02", Seconds: 60}
	_, err := f.st.PutLink(c, synced(1, "2026-03-09", 60), &stale)
	wantKind(t, err, apperr.Conflict)
	stale.Tally = nil
	wantKind(t, f.st.DeleteLink(c, stale), apperr.Conflict)
	wantSummary(t, f.st, "2026-03-01", "2026-03-31", 1, 1800, timebridge.DayTotal{Day: "2026-03-02", Entries: 1, Seconds: 1800})
	// A stale version is refused as before, and a deleted link is NotFound.
	old := a
	a = must[timebridge.Link](t)(f.st.PutLink(c, synced(1, "2026-03-03", 60), &a))
	_, err = f.st.PutLink(c, synced(1, "2026-03-09", 60), &old)
	wantKind(t, err, apperr.Conflict)
	noErr(t, f.st.DeleteLink(c, a))
	_, err = f.st.PutLink(c, synced(1, "2026-03-09", 60), &a)
	wantKind(t, err, apperr.NotFound)
	wantSummary(t, f.st, "2026-03-01", "2026-03-31", 0, 0)
}

// TestSummaryUnderConcurrentWriters: a run's parallel writers, many on the
// same days, leave the exact totals (checked with -race as well).
func TestSummaryUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	const n = 120
	days := []string{"2026-03-02", "2026-03-03", "2026-03-04"}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := int64(i + 1)
			l, err := f.st.PutLink(c, synced(e, days[i%3], 60), nil)
			if err == nil && i%4 == 0 { // every fourth one is edited once more
				_, err = f.st.PutLink(c, synced(e, days[(i+1)%3], 120), &l)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	want := map[string]*timebridge.DayTotal{}
	var total int64
	for i := range n {
		day, secs := days[i%3], int64(60)
		if i%4 == 0 {
			day, secs = days[(i+1)%3], 120
		}
		if want[day] == nil {
			want[day] = &timebridge.DayTotal{Day: day}
		}
		want[day].Entries++
		want[day].Seconds += secs
		total += secs
	}
	wantSummary(t, f.st, "2026-03-01", "2026-03-31", n, total, *want[days[0]], *want[days[1]], *want[days[2]])
}

// conflicting fails the first TransactWriteItems calls the way DynamoDB
// cancels a transaction that met another one on the same item.
type conflicting struct {
	store.DynamoDBAPI
	failures atomic.Int32 // how many more calls fail
	calls    atomic.Int32
	tokens   sync.Map // ClientRequestToken → seen
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls.Add(1)
	if _, seen := c.tokens.LoadOrStore(aws.ToString(in.ClientRequestToken), true); seen {
		return nil, fmt.Errorf("a retry reused the idempotency token of a cancelled transaction")
	}
	if c.failures.Add(-1) >= 0 {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[len(reasons)-1].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.DynamoDBAPI.TransactWriteItems(ctx, in, opts...)
}

func TestSummaryRetriesTransactionConflicts(t *testing.T) {
	t.Parallel()
	env := kumotest.Get(t)
	db := &conflicting{DynamoDBAPI: env.DynamoDB}
	st := store.New(db, env.NewTable(t))
	c := ctx(t)
	db.failures.Store(3)
	if _, err := st.PutLink(c, synced(1, "2026-03-02", 60), nil); err != nil {
		t.Fatalf("after 3 transaction conflicts: %v", err)
	}
	if n := db.calls.Load(); n != 4 {
		t.Fatalf("%d calls, want 4", n)
	}
	wantSummary(t, st, "2026-03-01", "2026-03-31", 1, 60, timebridge.DayTotal{Day: "2026-03-02", Entries: 1, Seconds: 60})
	// Endless conflicts give up with a retryable error.
	db.failures.Store(1000)
	_, err := st.PutLink(c, synced(2, "2026-03-02", 60), nil)
	wantKind(t, err, apperr.RateLimited)
	wantSummary(t, st, "2026-03-01", "2026-03-31", 1, 60, timebridge.DayTotal{Day: "2026-03-02", Entries: 1, Seconds: 60})
}

// TestHealth: the latest success per profile, never moved back, read for
// many profiles at once (more than one BatchGetItem).
func TestHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	noErr(t, f.st.RecordSuccess(c, "p", t0, "r2"))
	noErr(t, f.st.RecordSuccess(c, "p", t0.Add(-time.Hour), "r1")) // finished later, began earlier: ignored
	var ids []string
	for i := range 150 {
		id := fmt.Sprintf("q%03d", i)
		ids = append(ids, id)
		if i%2 == 0 {
			noErr(t, f.st.RecordSuccess(c, id, t0.Add(time.Duration(i)*time.Minute), "r"))
		}
	}
	got, err := f.st.LastSuccesses(c, append(ids, "p"))
	noErr(t, err)
	if !got["p"].Equal(t0) || len(got) != 76 || !got["q148"].Equal(t0.Add(148*time.Minute)) {
		t.Fatalf("last successes: %d, p %v, q148 %v", len(got), got["p"], got["q148"])
	}
	if _, ok := got["q001"]; ok {
		t.Fatal("a profile without a success has one")
	}
}

// TestHealthOpenConflicts: the open conflicts counted after a run go to
// the same item as the successes, never replaced by an older count, and a
// profile with a count but no success still has no success.
func TestHealthOpenConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	noErr(t, f.st.RecordOpenConflicts(c, "p", 7, t0))
	noErr(t, f.st.RecordOpenConflicts(c, "p", 3, t0.Add(-time.Minute))) // counted earlier, written later: ignored
	noErr(t, f.st.RecordSuccess(c, "p", t0, "r1"))
	noErr(t, f.st.RecordOpenConflicts(c, "q", 0, t0))
	noErr(t, f.st.RecordOpenConflicts(c, "q", 2, t0.Add(time.Minute)))
	got, err := f.st.Health(c, []string{"p", "q", "none"})
	noErr(t, err)
	want := map[string]store.Health{
		"p": {LastSuccess: t0, OpenConflicts: 7, ConflictsAt: t0},
		"q": {OpenConflicts: 2, ConflictsAt: t0.Add(time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("health %+v", got)
	}
	for pid, w := range want {
		g := got[pid]
		if !g.LastSuccess.Equal(w.LastSuccess) || g.OpenConflicts != w.OpenConflicts || !g.ConflictsAt.Equal(w.ConflictsAt) {
			t.Errorf("%s: %+v, want %+v", pid, g, w)
		}
	}
	last, err := f.st.LastSuccesses(c, []string{"p", "q"})
	noErr(t, err)
	if _, ok := last["q"]; ok || len(last) != 1 {
		t.Errorf("last successes %v: q has a count, not a success", last)
	}
}

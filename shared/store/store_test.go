package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	"github.com/timebridge/timebridge/shared/timebridge"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

// fixture is a store on a fresh table with a controllable clock.
type fixture struct {
	st    *store.Store
	table string
	db    *dynamodb.Client
	clock *testkit.Clock
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newFixture(t *testing.T, opts ...store.Option) *fixture {
	t.Helper()
	env := kumotest.Get(t)
	c := testkit.NewClock(t0)
	table := env.NewTable(t)
	opts = append([]store.Option{store.WithClock(c.Now)}, opts...)
	return &fixture{st: store.New(env.DynamoDB, table, opts...), table: table, db: env.DynamoDB, clock: c}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// raw reads an item as stored.
func (f *fixture) raw(t *testing.T, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	res, err := f.db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(f.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
			"sk": &types.AttributeValueMemberS{Value: sk},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Item
}

// count returns the number of items in a partition.
func (f *fixture) count(t *testing.T, pk string) int {
	t.Helper()
	var total int32
	var start map[string]types.AttributeValue
	for {
		res, err := f.db.Query(context.Background(), &dynamodb.QueryInput{
			TableName:                 aws.String(f.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			t.Fatal(err)
		}
		total += res.Count
		if len(res.LastEvaluatedKey) == 0 {
			return int(total)
		}
		start = res.LastEvaluatedKey
	}
}

func wantKind(t *testing.T, err error, k apperr.Kind) {
	t.Helper()
	if !apperr.Is(err, k) {
		t.Fatalf("error = %v (kind %q), want kind %q", err, apperr.KindOf(err), k)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// parallel runs fn(i) for i in [0, n) on up to workers goroutines.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- fmt.Errorf("item %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCreateTableIdempotent(t *testing.T) {
	t.Parallel()
	env := kumotest.Get(t)
	name := env.NewTable(t)
	c := ctx(t)
	if err := store.CreateTable(c, env.DynamoDB, name); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	desc, err := env.DynamoDB.DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	noErr(t, err)
	if desc.Table.BillingModeSummary != nil && desc.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %v", desc.Table.BillingModeSummary.BillingMode)
	}
	var indexes []string
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		indexes = append(indexes, aws.ToString(g.IndexName))
	}
	if slices.Sort(indexes); !slices.Equal(indexes, []string{"gsi1", "gsi2"}) {
		t.Errorf("indexes = %v", indexes)
	}
	ttl, err := env.DynamoDB.DescribeTimeToLive(c, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	noErr(t, err)
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "expires_at" ||
		(d.TimeToLiveStatus != types.TimeToLiveStatusEnabled && d.TimeToLiveStatus != types.TimeToLiveStatusEnabling) {
		t.Errorf("TTL = %+v", ttl.TimeToLiveDescription)
	}
}

func TestMissingTableIsInternal(t *testing.T) {
	t.Parallel()
	env := kumotest.Get(t)
	st := store.New(env.DynamoDB, kumotest.UniqueName(t))
	_, err := st.GetConnector(ctx(t), "x")
	wantKind(t, err, apperr.Internal)
}

func TestConnectors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)

	in := timebridge.Connector{
		ID: "zammad-1", Kind: timebridge.KindZammad, Name: "Helpdesk", BaseURL: "https://zammad.example",
		TokenSecret: "connectors/zammad-1/token", TokenHint: "…a1b2",
	}
	created := must[timebridge.Connector](t)(f.st.CreateConnector(c, in))
	if created.Version != 1 || !created.CreatedAt.Equal(t0) || !created.UpdatedAt.Equal(t0) {
		t.Fatalf("created = %+v", created)
	}
	_, err := f.st.CreateConnector(c, in)
	wantKind(t, err, apperr.Conflict)

	got := must[timebridge.Connector](t)(f.st.GetConnector(c, "zammad-1"))
	if got != created {
		t.Fatalf("get = %+v, want %+v", got, created)
	}
	_, err = f.st.GetConnector(c, "nope")
	wantKind(t, err, apperr.NotFound)
	_, err = f.st.GetConnector(c, "bad#id")
	wantKind(t, err, apperr.Validation)

	// Generated ids.
	gen := must[timebridge.Connector](t)(f.st.CreateConnector(c, timebridge.Connector{Kind: timebridge.KindKimai, Name: "Kimai"}))
	if len(gen.ID) != 26 {
		t.Fatalf("generated id %q", gen.ID)
	}
	list := must[[]timebridge.Connector](t)(f.st.ListConnectors(c))
	if len(list) != 2 || list[0].ID != gen.ID || list[1].ID != "zammad-1" {
		t.Fatalf("list = %+v", list)
	}

	// Update: CreatedAt is kept even when the caller sends none.
	f.clock.Add(time.Hour)
	upd := got
	upd.Name = "Helpdesk (prod)"
	upd.CreatedAt = time.Time{}
	v2 := must[timebridge.Connector](t)(f.st.UpdateConnector(c, upd, 1))
	if v2.Version != 2 || v2.Name != "Helpdesk (prod)" || !v2.CreatedAt.Equal(t0) || !v2.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("updated = %+v", v2)
	}
	if got := must[timebridge.Connector](t)(f.st.GetConnector(c, "zammad-1")); got != v2 {
		t.Fatalf("after update get = %+v, want %+v", got, v2)
	}
	_, err = f.st.UpdateConnector(c, upd, 1)
	wantKind(t, err, apperr.Conflict)
	_, err = f.st.UpdateConnector(c, timebridge.Connector{ID: "nope"}, 1)
	wantKind(t, err, apperr.NotFound)

	wantKind(t, f.st.DeleteConnector(c, "zammad-1", 1), apperr.Conflict)
	noErr(t, f.st.DeleteConnector(c, "zammad-1", 2))
	wantKind(t, f.st.DeleteConnector(c, "zammad-1", 2), apperr.NotFound)
	_, err = f.st.GetConnector(c, "zammad-1")
	wantKind(t, err, apperr.NotFound)
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)

	in := timebridge.Profile{
		ID: "p1", Name: "Support", ZammadConnectorID: "z", KimaiConnectorID: "k", Enabled: true,
		MinutesPerUnit: decimal.MustParse("0.25"), ProjectStrategy: timebridge.ProjectPerGroup,
		AutoCreateCustomers: true, DefaultCustomerID: 7, DefaultActivityID: 9,
		UserMode: timebridge.UserEmail, StrictUsers: true, DeletionWindowDays: 30, Concurrency: 4,
		Tags: []string{"zammad", "support"}, IntervalMinutes: 5,
	}
	p := must[timebridge.Profile](t)(f.st.CreateProfile(c, in))
	_, err := f.st.CreateProfile(c, in)
	wantKind(t, err, apperr.Conflict)
	got := must[timebridge.Profile](t)(f.st.GetProfile(c, "p1"))
	assertEqual(t, got, p)
	if got.MinutesPerUnit.String() != "0.25" {
		t.Fatalf("minutes per unit = %s", got.MinutesPerUnit)
	}

	p.Enabled = false
	p.Tags = nil
	p2 := must[timebridge.Profile](t)(f.st.UpdateProfile(c, p, 1))
	if p2.Version != 2 || p2.Enabled || p2.Tags != nil {
		t.Fatalf("updated = %+v", p2)
	}
	_, err = f.st.UpdateProfile(c, p, 1)
	wantKind(t, err, apperr.Conflict)

	must[timebridge.Profile](t)(f.st.CreateProfile(c, timebridge.Profile{ID: "p0", Name: "Other"}))
	list := must[[]timebridge.Profile](t)(f.st.ListProfiles(c))
	if len(list) != 2 || list[0].ID != "p0" || list[1].ID != "p1" {
		t.Fatalf("list = %+v", list)
	}
	wantKind(t, f.st.DeleteProfile(c, "p1", 1), apperr.Conflict)
	noErr(t, f.st.DeleteProfile(c, "p1", 2))
	wantKind(t, f.st.DeleteProfile(c, "p1", 2), apperr.NotFound)
}

func TestDeleteProfileRemovesItsData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	for _, pid := range []string{"gone", "kept"} {
		must[timebridge.Profile](t)(f.st.CreateProfile(c, timebridge.Profile{ID: pid}))
		noErr(t, f.st.PutMapping(c, timebridge.Mapping{ProfileID: pid, Kind: timebridge.MapUser, SourceID: "1", TargetID: 2}))
		for e := int64(1); e <= 60; e++ {
			must[timebridge.Link](t)(f.st.PutLink(c, timebridge.Link{ProfileID: pid, EntryID: e, TicketID: e % 3, State: timebridge.LinkSynced,
				TimesheetID: 100 + e, Baseline: timebridge.Timesheet{Begin: t0, Duration: 60}}, nil))
		}
		noErr(t, f.st.PutCursor(c, timebridge.Cursor{ProfileID: pid, UpdatedAt: t0}))
		must[timebridge.Conflict](t)(f.st.PutConflict(c, timebridge.Conflict{ProfileID: pid, EntryID: 1, Status: timebridge.ConflictOpen}, 0))
		must[timebridge.Run](t)(f.st.PutRun(c, timebridge.Run{ID: "run-" + pid, ProfileID: pid, Status: timebridge.RunSucceeded,
			Plan: []timebridge.PlannedChange{{Action: timebridge.ActionCreate, EntryID: 1}}}))
		noErr(t, f.st.AppendAudit(c, timebridge.AuditEvent{ProfileID: pid, Type: "profile.created"}))
	}
	noErr(t, f.st.DeleteProfile(c, "gone", 1))

	if n := f.count(t, "P#gone"); n != 0 {
		t.Errorf("profile partition has %d items left", n)
	}
	if n := f.count(t, "RUN#run-gone"); n != 0 {
		t.Errorf("run partition has %d items left", n)
	}
	if n := f.count(t, "SUM#gone"); n != 0 {
		t.Errorf("summary partition has %d items left", n)
	}
	// 8 day counters and 8 totals (one per shard).
	if n := f.count(t, "SUM#kept"); n != 16 {
		t.Errorf("other profile's summary partition has %d items, want 16", n)
	}
	if n := f.count(t, "AUDIT#gone"); n != 1 {
		t.Errorf("audit events = %d, want 1 (kept)", n)
	}
	// 1 mapping + 60 links + cursor + conflict.
	if n := f.count(t, "P#kept"); n != 63 {
		t.Errorf("other profile's partition has %d items, want 63", n)
	}
	if n := f.count(t, "RUN#run-kept"); n != 2 {
		t.Errorf("other profile's run partition has %d items, want 2", n)
	}
	// Idempotent.
	noErr(t, f.st.DeleteProfileData(c, "gone"))
}

func TestMappings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	ms := []timebridge.Mapping{
		{ProfileID: "p", Kind: timebridge.MapUser, SourceID: "12", TargetID: 3},
		{ProfileID: "p", Kind: timebridge.MapActivity, SourceID: "1", TargetID: 4},
		{ProfileID: "p", Kind: timebridge.MapProject, SourceID: "org:5#group:2", TargetID: 5},
		{ProfileID: "q", Kind: timebridge.MapUser, SourceID: "12", TargetID: 6},
	}
	for _, m := range ms {
		noErr(t, f.st.PutMapping(c, m))
	}
	got := must[[]timebridge.Mapping](t)(f.st.Mappings(c, "p"))
	if len(got) != 3 || got[0].Kind != timebridge.MapActivity || got[1].Kind != timebridge.MapProject || got[2].Kind != timebridge.MapUser {
		t.Fatalf("mappings = %+v", got)
	}
	if got[1].SourceID != "org:5#group:2" || !got[1].UpdatedAt.Equal(t0) {
		t.Fatalf("mapping = %+v", got[1])
	}
	// Replace.
	noErr(t, f.st.PutMapping(c, timebridge.Mapping{ProfileID: "p", Kind: timebridge.MapUser, SourceID: "12", TargetID: 30}))
	got = must[[]timebridge.Mapping](t)(f.st.Mappings(c, "p"))
	if len(got) != 3 || got[2].TargetID != 30 {
		t.Fatalf("after replace = %+v", got)
	}
	noErr(t, f.st.DeleteMapping(c, "p", timebridge.MapUser, "12"))
	wantKind(t, f.st.DeleteMapping(c, "p", timebridge.MapUser, "12"), apperr.NotFound)
	if got := must[[]timebridge.Mapping](t)(f.st.Mappings(c, "p")); len(got) != 2 {
		t.Fatalf("after delete = %+v", got)
	}
	if got := must[[]timebridge.Mapping](t)(f.st.Mappings(c, "q")); len(got) != 1 {
		t.Fatalf("other profile = %+v", got)
	}
	wantKind(t, f.st.PutMapping(c, timebridge.Mapping{ProfileID: "p", Kind: timebridge.MapUser}), apperr.Validation)
}

func TestLinkVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	l := timebridge.Link{ProfileID: "p", EntryID: 42, TicketID: 7, State: timebridge.LinkPending, SourceHash: "h1", RunID: "r1"}

	tests := []struct {
		name   string
		expect int64
		want   apperr.Kind // "" = success
	}{
		{"claim", 0, ""},
		{"claim again", 0, apperr.Conflict},
		{"update v1", 1, ""},
		{"stale v1", 1, apperr.Conflict},
		{"future v5", 5, apperr.Conflict},
		{"update v2", 2, ""},
	}
	for _, tc := range tests {
		got, err := f.st.PutLink(c, l, linkAt(l, tc.expect))
		if tc.want != "" {
			if !apperr.Is(err, tc.want) {
				t.Fatalf("%s: err = %v, want %s", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Version != tc.expect+1 {
			t.Fatalf("%s: version = %d", tc.name, got.Version)
		}
	}
	got := must[timebridge.Link](t)(f.st.GetLink(c, "p", 7, 42))
	if got.Version != 3 || got.SourceHash != "h1" {
		t.Fatalf("get = %+v", got)
	}
	// Found by entry even when asked under another ticket.
	if got := must[timebridge.Link](t)(f.st.GetLink(c, "p", 8, 42)); got.TicketID != 7 {
		t.Fatalf("get via other ticket = %+v", got)
	}
	_, err := f.st.GetLink(c, "p", 7, 43)
	wantKind(t, err, apperr.NotFound)
	_, err = f.st.PutLink(c, timebridge.Link{ProfileID: "p", EntryID: 43, TicketID: 7}, linkAt(timebridge.Link{ProfileID: "p", EntryID: 43}, 1))
	wantKind(t, err, apperr.NotFound)
	_, err = f.st.PutLink(c, timebridge.Link{ProfileID: "p", EntryID: -1}, nil)
	wantKind(t, err, apperr.Validation)

	wantKind(t, f.st.DeleteLink(c, *linkAt(l, 2)), apperr.Conflict)
	noErr(t, f.st.DeleteLink(c, *linkAt(l, 3)))
	wantKind(t, f.st.DeleteLink(c, *linkAt(l, 3)), apperr.NotFound)
	// After deletion the entry can be claimed again.
	if got := must[timebridge.Link](t)(f.st.PutLink(c, l, nil)); got.Version != 1 {
		t.Fatalf("re-claim version = %d", got.Version)
	}
}

// linkAt is l as stored at version v without a tally (v 0: none stored).
func linkAt(l timebridge.Link, v int64) *timebridge.Link {
	if v == 0 {
		return nil
	}
	l.Version, l.Tally = v, nil
	return &l
}

func TestLinkClaimOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	const racers = 20
	for entry := int64(1); entry <= 5; entry++ {
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				_, err := f.st.PutLink(c, timebridge.Link{
					ProfileID: "p", EntryID: entry, TicketID: 1, State: timebridge.LinkPending,
					RunID: fmt.Sprintf("racer-%d", i),
				}, nil)
				switch {
				case err == nil:
					wins.Add(1)
				case apperr.Is(err, apperr.Conflict):
					conflicts.Add(1)
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != racers-1 {
			t.Fatalf("entry %d: %d wins, %d conflicts; want 1 and %d", entry, wins.Load(), conflicts.Load(), racers-1)
		}
		// The same holds for the next version.
		wins.Store(0)
		start = make(chan struct{})
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				next := timebridge.Link{ProfileID: "p", EntryID: entry, TicketID: 1, State: timebridge.LinkSynced}
				if _, err := f.st.PutLink(c, next, linkAt(next, 1)); err == nil {
					wins.Add(1)
				} else if !apperr.Is(err, apperr.Conflict) {
					t.Errorf("update: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("entry %d: %d updates of version 1 won, want 1", entry, wins.Load())
		}
	}
}

func TestLinksPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	const total, tickets = 1200, 30
	parallel(t, total, 16, func(i int) error {
		e := int64(i + 1)
		_, err := f.st.PutLink(c, timebridge.Link{
			ProfileID: "p", EntryID: e, TicketID: 1000 + e%tickets, State: timebridge.LinkSynced,
			TimesheetID: 5000 + e, SourceHash: fmt.Sprintf("hash-%d", e),
		}, nil)
		return err
	})
	// A few links of another profile must not show up.
	for e := int64(1); e <= 3; e++ {
		must[timebridge.Link](t)(f.st.PutLink(c, timebridge.Link{ProfileID: "p2", EntryID: e, TicketID: 1000}, nil))
	}

	var seen []int64
	pages := 0
	noErr(t, f.st.Links(c, "p", func(ls []timebridge.Link) error {
		pages++
		if len(ls) > store.LinkPageSize {
			t.Errorf("page of %d links", len(ls))
		}
		for _, l := range ls {
			seen = append(seen, l.EntryID)
		}
		return nil
	}))
	if len(seen) != total || pages < 3 {
		t.Fatalf("saw %d links in %d pages", len(seen), pages)
	}
	for i, e := range seen {
		if e != int64(i+1) {
			t.Fatalf("link %d has entry %d: not in entry order", i, e)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := f.st.Links(c, "p", func([]timebridge.Link) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Links with failing fn = %v after %d calls", err, calls)
	}

	for tk := int64(0); tk < tickets; tk++ {
		ls := must[[]timebridge.Link](t)(f.st.LinksByTicket(c, "p", 1000+tk))
		if len(ls) != total/tickets {
			t.Fatalf("ticket %d: %d links", 1000+tk, len(ls))
		}
		for i, l := range ls {
			if l.TicketID != 1000+tk || (i > 0 && l.EntryID <= ls[i-1].EntryID) {
				t.Fatalf("ticket %d: bad link %d: %+v", 1000+tk, i, l)
			}
		}
	}
}

func TestLinkMovesTicket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	l := must[timebridge.Link](t)(f.st.PutLink(c, timebridge.Link{ProfileID: "p", EntryID: 9, TicketID: 1, State: timebridge.LinkSynced}, nil))
	// Zammad merged ticket 1 into 2: the entry cannot be claimed again
	// under its new ticket.
	_, err := f.st.PutLink(c, timebridge.Link{ProfileID: "p", EntryID: 9, TicketID: 2, State: timebridge.LinkPending}, nil)
	wantKind(t, err, apperr.Conflict)
	prev := l
	l.TicketID = 2
	must[timebridge.Link](t)(f.st.PutLink(c, l, &prev))
	if ls := must[[]timebridge.Link](t)(f.st.LinksByTicket(c, "p", 1)); len(ls) != 0 {
		t.Fatalf("old ticket still lists %+v", ls)
	}
	if ls := must[[]timebridge.Link](t)(f.st.LinksByTicket(c, "p", 2)); len(ls) != 1 || ls[0].Version != 2 {
		t.Fatalf("new ticket lists %+v", ls)
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	_, ok, err := f.st.GetCursor(c, "p")
	if err != nil || ok {
		t.Fatalf("missing cursor: ok=%v err=%v", ok, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	noErr(t, f.st.PutCursor(c, timebridge.Cursor{ProfileID: "p", UpdatedAt: at, RunID: "r1"}))
	cur, ok, err := f.st.GetCursor(c, "p")
	if err != nil || !ok || !cur.UpdatedAt.Equal(at) || cur.UpdatedAt.Location() != time.UTC || cur.RunID != "r1" {
		t.Fatalf("cursor = %+v ok=%v err=%v", cur, ok, err)
	}
	noErr(t, f.st.PutCursor(c, timebridge.Cursor{ProfileID: "p", UpdatedAt: at.Add(time.Minute), RunID: "r2"}))
	cur, _, _ = f.st.GetCursor(c, "p")
	if cur.RunID != "r2" {
		t.Fatalf("cursor = %+v", cur)
	}
}

func TestConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)

	put := func(pid string, entry int64, status timebridge.ConflictStatus, expect int64) timebridge.Conflict {
		t.Helper()
		f.clock.Add(time.Second)
		return must[timebridge.Conflict](t)(f.st.PutConflict(c, timebridge.Conflict{
			ProfileID: pid, EntryID: entry, TicketID: 100, Kind: timebridge.ConflictUnmappedUser,
			Status: status, Message: "map the agent", SourceKey: "user:3",
		}, expect))
	}
	a := put("pa", 1, timebridge.ConflictOpen, 0)
	if a.ID != "pa.1" || a.Version != 1 || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("conflict = %+v", a)
	}
	_, err := f.st.PutConflict(c, timebridge.Conflict{ProfileID: "pa", EntryID: 1, Status: timebridge.ConflictOpen}, 0)
	wantKind(t, err, apperr.Conflict)
	put("pa", 2, timebridge.ConflictOpen, 0)
	put("pa", 3, timebridge.ConflictResolved, 0)
	put("pb", 1, timebridge.ConflictOpen, 0)

	got := must[timebridge.Conflict](t)(f.st.ConflictByID(c, "pa.1"))
	assertEqual(t, got, a)
	_, err = f.st.ConflictByID(c, "pa.x")
	wantKind(t, err, apperr.Validation)
	_, err = f.st.ConflictByID(c, "pa.9")
	wantKind(t, err, apperr.NotFound)

	ids := func(cs []timebridge.Conflict) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	tests := []struct {
		pid    string
		status timebridge.ConflictStatus
		want   []string // newest first
	}{
		{"pa", timebridge.ConflictOpen, []string{"pa.2", "pa.1"}},
		{"pa", "", []string{"pa.3", "pa.2", "pa.1"}},
		{"pa", timebridge.ConflictResolved, []string{"pa.3"}},
		{"", timebridge.ConflictOpen, []string{"pb.1", "pa.2", "pa.1"}},
		{"", "", []string{"pb.1", "pa.3", "pa.2", "pa.1"}},
		{"pc", "", nil},
	}
	for _, tc := range tests {
		got := ids(must[[]timebridge.Conflict](t)(f.st.ListConflicts(c, tc.pid, tc.status)))
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ListConflicts(%q, %q) = %v, want %v", tc.pid, tc.status, got, tc.want)
		}
	}

	// Resolve pa.1: it moves from the open to the resolved list.
	f.clock.Add(time.Second)
	now := f.clock.Now()
	a.Status, a.Resolution, a.ResolvedBy, a.ResolvedAt = timebridge.ConflictResolved, timebridge.ResolveSkip, "admin", &now
	a2 := must[timebridge.Conflict](t)(f.st.PutConflict(c, a, 1))
	if a2.Version != 2 || !a2.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("resolved = %+v", a2)
	}
	_, err = f.st.PutConflict(c, a, 1)
	wantKind(t, err, apperr.Conflict)
	if got := ids(must[[]timebridge.Conflict](t)(f.st.ListConflicts(c, "", timebridge.ConflictResolved))); fmt.Sprint(got) != "[pa.1 pa.3]" {
		t.Fatalf("resolved list = %v", got)
	}
	if got := ids(must[[]timebridge.Conflict](t)(f.st.ListConflicts(c, "", timebridge.ConflictOpen))); fmt.Sprint(got) != "[pb.1 pa.2]" {
		t.Fatalf("open list = %v", got)
	}

	wantKind(t, f.st.DeleteConflict(c, "pa", 1, 1), apperr.Conflict)
	noErr(t, f.st.DeleteConflict(c, "pa", 1, 2))
	_, err = f.st.GetConflict(c, "pa", 1)
	wantKind(t, err, apperr.NotFound)
}

func TestRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	const total = 130
	parallel(t, total, 8, func(i int) error {
		_, err := f.st.PutRun(c, timebridge.Run{
			ID: fmt.Sprintf("run-%03d", i), ProfileID: "p", Trigger: "schedule", Mode: timebridge.ModeIncremental,
			Status: timebridge.RunSucceeded, QueuedAt: t0.Add(time.Duration(i) * time.Minute),
		})
		return err
	})
	must[timebridge.Run](t)(f.st.PutRun(c, timebridge.Run{ID: "other", ProfileID: "p2", QueuedAt: t0}))

	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		runs, next, err := f.st.ListRuns(c, "p", 50, cursor)
		noErr(t, err)
		for _, r := range runs {
			all = append(all, r.ID)
		}
		if next == "" {
			if len(runs) != 30 {
				t.Fatalf("last page has %d runs", len(runs))
			}
			break
		}
		if len(runs) != 50 {
			t.Fatalf("page %d has %d runs", pages, len(runs))
		}
		cursor = next
	}
	if len(all) != total {
		t.Fatalf("listed %d runs", len(all))
	}
	for i, id := range all {
		if want := fmt.Sprintf("run-%03d", total-1-i); id != want {
			t.Fatalf("run %d = %s, want %s (newest first)", i, id, want)
		}
	}
	_, _, err := f.st.ListRuns(c, "p2", 10, cursor)
	wantKind(t, err, apperr.Validation)
	_, _, err = f.st.ListRuns(c, "p", 10, "garbage!")
	wantKind(t, err, apperr.Validation)
	if runs, next, err := f.st.ListRuns(c, "nobody", 10, ""); err != nil || len(runs) != 0 || next != "" {
		t.Fatalf("empty list = %v %q %v", runs, next, err)
	}

	_, err = f.st.GetRun(c, "missing")
	wantKind(t, err, apperr.NotFound)
}

// TestListAllRuns: gsi2 lists the runs of every profile newest first
// (queued time, then id), paged without repeats or gaps; a run rewritten
// later (a status change) keeps its place; MarkMerged keeps it listed; a
// deleted profile's runs leave the list; cursors of ListRuns are refused.
func TestListAllRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	const total = 75
	profiles := []string{"pa", "pb", "pc"}
	parallel(t, total, 8, func(i int) error {
		// Every third run shares its queued time with the run before it:
		// the id decides.
		_, err := f.st.PutRun(c, timebridge.Run{
			ID: fmt.Sprintf("run-%03d", i), ProfileID: profiles[i%len(profiles)], Mode: timebridge.ModeFull,
			Status: timebridge.RunQueued, QueuedAt: t0.Add(time.Duration(i-i%3/2) * time.Second),
		})
		return err
	})
	// A status change rewrites the item: same keys, same place.
	r := must[timebridge.Run](t)(f.st.GetRun(c, "run-010"))
	r.Status = timebridge.RunSucceeded
	must[timebridge.Run](t)(f.st.PutRun(c, r))
	noErr(t, f.st.MarkMerged(c, []string{"run-011"}, "run-010", timebridge.RunSucceeded, t0, t0.Add(time.Second)))

	list := func(limit int) []string {
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > total {
				t.Fatal("too many pages")
			}
			runs, next, err := f.st.ListAllRuns(c, limit, cursor)
			noErr(t, err)
			if next != "" && len(runs) != limit {
				t.Fatalf("a page before the last has %d runs, want %d", len(runs), limit)
			}
			for _, r := range runs {
				ids = append(ids, r.ID)
			}
			if next == "" {
				return ids
			}
			cursor = next
		}
	}
	for _, limit := range []int{1, 7, 25, 500} {
		ids := list(limit)
		if len(ids) != total {
			t.Fatalf("limit %d: listed %d runs, want %d", limit, len(ids), total)
		}
		for i, id := range ids {
			if want := fmt.Sprintf("run-%03d", total-1-i); id != want {
				t.Fatalf("limit %d: run %d = %s, want %s (newest first)", limit, i, id, want)
			}
		}
	}
	if runs, _, err := f.st.ListAllRuns(c, 1, ""); err != nil || runs[0].Plan != nil || runs[0].ProfileID != "pc" {
		t.Fatalf("first run %+v %v", runs, err)
	}

	// Cursors of the two lists are not interchangeable.
	_, perProfile, err := f.st.ListRuns(c, "pa", 1, "")
	noErr(t, err)
	_, _, err = f.st.ListAllRuns(c, 10, perProfile)
	wantKind(t, err, apperr.Validation)
	_, all, err := f.st.ListAllRuns(c, 1, "")
	noErr(t, err)
	_, _, err = f.st.ListRuns(c, "pa", 10, all)
	wantKind(t, err, apperr.Validation)
	_, _, err = f.st.ListAllRuns(c, 10, "garbage!")
	wantKind(t, err, apperr.Validation)

	// A deleted profile's runs leave the list.
	noErr(t, f.st.DeleteProfileData(c, "pb"))
	if ids := list(50); len(ids) != total-total/3 || slices.ContainsFunc(ids, func(id string) bool {
		var n int
		_, _ = fmt.Sscanf(id, "run-%d", &n)
		return n%3 == 1
	}) {
		t.Fatalf("after deleting pb: %v", ids)
	}
}

func TestRunPlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)

	bigPlan := func(n int, salt string) []timebridge.PlannedChange {
		plan := make([]timebridge.PlannedChange, n)
		for i := range plan {
			ts := &timebridge.Timesheet{
				Begin: t0.Add(time.Duration(i) * time.Minute), End: t0.Add(time.Duration(i+1) * time.Minute),
				Duration: 60, ProjectID: int64(i), ActivityID: 2,
				Description: fmt.Sprintf("%s %x ticket #%d", salt, uint64(i)*0x9E3779B97F4A7C15, i),
				Tags:        []string{"zammad"},
			}
			plan[i] = timebridge.PlannedChange{Action: timebridge.ActionCreate, EntryID: int64(i), TicketID: int64(i / 3), After: ts, Reason: "new entry"}
		}
		return plan
	}
	run := timebridge.Run{ID: "dry", ProfileID: "p", DryRun: true, Status: timebridge.RunSucceeded, QueuedAt: t0, Plan: bigPlan(20000, "a")}
	put := must[timebridge.Run](t)(f.st.PutRun(c, run))
	parts := f.count(t, "RUN#dry") - 1
	if parts < 2 {
		t.Fatalf("a 20,000-line plan was stored in %d part(s); the test wants several", parts)
	}
	got := must[timebridge.Run](t)(f.st.GetRun(c, "dry"))
	assertEqual(t, got, put)

	// Listing leaves plans out.
	runs, _, err := f.st.ListRuns(c, "p", 10, "")
	noErr(t, err)
	if len(runs) != 1 || runs[0].Plan != nil || !runs[0].DryRun {
		t.Fatalf("listed = %+v", runs)
	}

	// A smaller plan replaces the big one; the old parts are deleted.
	run.Plan = bigPlan(3, "b")
	put = must[timebridge.Run](t)(f.st.PutRun(c, run))
	if n := f.count(t, "RUN#dry"); n != 2 {
		t.Fatalf("after replacing the plan the run has %d items, want 2", n)
	}
	assertEqual(t, must[timebridge.Run](t)(f.st.GetRun(c, "dry")), put)

	// Without a plan, none is left.
	run.Plan = nil
	must[timebridge.Run](t)(f.st.PutRun(c, run))
	if n := f.count(t, "RUN#dry"); n != 1 {
		t.Fatalf("after removing the plan the run has %d items, want 1", n)
	}
	if got := must[timebridge.Run](t)(f.st.GetRun(c, "dry")); got.Plan != nil {
		t.Fatalf("plan = %d lines", len(got.Plan))
	}
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	first := must[bool](t)(f.st.RecordDelivery(c, "d-1", time.Hour))
	again := must[bool](t)(f.st.RecordDelivery(c, "d-1", time.Hour))
	other := must[bool](t)(f.st.RecordDelivery(c, "d-2", 0))
	if !first || again || !other {
		t.Fatalf("first=%v again=%v other=%v", first, again, other)
	}
	item := f.raw(t, "DELIVERY#d-1", "DELIVERY")
	exp, ok := item["expires_at"].(*types.AttributeValueMemberN)
	if !ok || exp.Value != fmt.Sprint(t0.Add(time.Hour).Unix()) {
		t.Fatalf("expires_at = %#v", item["expires_at"])
	}
	item = f.raw(t, "DELIVERY#d-2", "DELIVERY")
	if exp := item["expires_at"].(*types.AttributeValueMemberN); exp.Value != fmt.Sprint(t0.Add(store.DefaultDeliveryTTL).Unix()) {
		t.Fatalf("default expires_at = %s", exp.Value)
	}
	// Past its expiry a delivery counts as new, even before TTL deletion.
	f.clock.Add(time.Hour + time.Second)
	if !must[bool](t)(f.st.RecordDelivery(c, "d-1", time.Hour)) {
		t.Fatal("expired delivery not recorded as first")
	}
}

func TestLeases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	acquire := func(owner string, want bool) {
		t.Helper()
		if got := must[bool](t)(f.st.AcquireLease(c, "sync-p", owner, time.Minute)); got != want {
			t.Fatalf("AcquireLease(%s) = %v, want %v", owner, got, want)
		}
	}
	acquire("a", true)
	acquire("b", false)
	acquire("a", true) // renew
	item := f.raw(t, "LEASE#sync-p", "LEASE")
	if _, ok := item["expires_at"].(*types.AttributeValueMemberN); !ok {
		t.Fatalf("lease without expires_at: %#v", item)
	}
	wantKind(t, f.st.ReleaseLease(c, "sync-p", "b"), apperr.Conflict)
	noErr(t, f.st.ReleaseLease(c, "sync-p", "a"))
	noErr(t, f.st.ReleaseLease(c, "sync-p", "a")) // already free
	acquire("b", true)
	f.clock.Add(2 * time.Minute) // b's lease expired
	acquire("a", true)
	acquire("b", false)

	// Concurrent acquisition: exactly one owner wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := f.st.AcquireLease(c, "race", fmt.Sprintf("w%d", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d owners acquired the lease", wins.Load())
	}
	_, err := f.st.AcquireLease(c, "x", "", time.Minute)
	wantKind(t, err, apperr.Validation)
}

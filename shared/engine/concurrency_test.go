package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/schedule"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/webhook"
)

// TestEverythingAtOnce throws every trigger at one profile at the same
// time, three rounds while entries change in Zammad: 20 signed webhook
// deliveries (some redelivered), a scheduler tick, two manual full runs, a
// dry run and a conflict resolution, worked off by four concurrent
// reconcile consumers (four Lambda instances, each its own engine) from a
// real SQS queue on kumo. Afterwards: exactly one timesheet per entry with
// time left, none for deleted ones, no lost change (a full dry run plans
// nothing), every run terminal, and never two holders of the profile's
// lease at once (a watcher around the store records, in real time, every
// take and release of every engine).
func TestEverythingAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("concurrency test")
	}
	h := newHarness(t, options{})
	env := kumotest.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pid := h.profile.ID
	_, agent, typ := h.seedBasics()
	tickets := []int64{50, 51, 52, 53, 54}
	for _, id := range tickets[1:] {
		h.zs.AddTicket(zammadsim.Ticket{ID: id, Number: fmt.Sprint(53000 + id), Title: fmt.Sprint("Ticket ", id), OrganizationID: 2, GroupID: 1, CustomerID: 3})
	}
	rng := rand.New(rand.NewPCG(3, 5))
	var entries []int64
	ticketOf := map[int64]int64{}
	var mu sync.Mutex // rng, entries and ticketOf are shared by the round's goroutines
	addEntry := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		tid := tickets[rng.IntN(len(tickets))]
		e := h.addEntry(tid, agent, typ, fmt.Sprint(5*(1+rng.IntN(12))), h.Now().Add(-time.Duration(rng.IntN(600))*time.Minute))
		entries = append(entries, e.ID)
		ticketOf[e.ID] = tid
		return tid
	}
	someEntry := func() (int64, int64) {
		mu.Lock()
		defer mu.Unlock()
		id := entries[rng.IntN(len(entries))]
		return id, ticketOf[id]
	}
	for i := 0; i < 30; i++ {
		addEntry()
	}
	h.run(tb.ModeFull)

	// The queue and the functions around it.
	qout, err := env.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(kumotest.UniqueName(t)),
		Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	qurl := aws.ToString(qout.QueueUrl)
	t.Cleanup(func() {
		_, _ = env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(qurl)})
	})
	sender := queue.NewSender(env.SQS, qurl)
	const secret = "concurrency-webhook-secret"
	if err := h.secrets.Put(ctx, vault.WebhookSecret(pid), secret); err != nil {
		t.Fatal(err)
	}
	wh := webhook.New(webhook.Deps{Store: h.st, Secrets: h.secrets, Queue: sender, Now: h.Now, TicketInterval: 2 * time.Second})
	sched := schedule.New(schedule.Deps{Store: h.st, Queue: sender, Now: h.Now})
	log := slog.New(slog.DiscardHandler)
	// Every engine (four consumers, the resolutions) reaches the table
	// through one watcher that records, in real time, who holds the
	// profile's lease.
	watch := &leaseWatch{Store: h.st}
	resolver := engine.New(watch, h.conn, log, engine.Options{RetryDelay: 5 * time.Millisecond})
	resolver.SetClock(h.Now)
	var consumers sync.WaitGroup
	for i := 0; i < 4; i++ {
		eng := engine.New(watch, h.conn, log, engine.Options{RetryDelay: 5 * time.Millisecond})
		eng.SetClock(h.Now)
		handler := reconcile.New(reconcile.Deps{Engine: eng, SQS: env.SQS, QueueURL: qurl, Logger: log,
			RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 2 * time.Second})
		consumers.Add(1)
		go func() { defer consumers.Done(); consume(ctx, t, env.SQS, qurl, handler) }()
	}
	defer func() { cancel(); consumers.Wait() }()

	deliver := func(ticket int64, delivery string) {
		body := []byte(fmt.Sprintf(`{"ticket":{"id":%d}}`, ticket))
		req := httptest.NewRequest(http.MethodPost, "/webhooks/zammad/"+pid, bytes.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, zammadsim.Sign(secret, body))
		req.Header.Set(webhook.DeliveryHeader, delivery)
		w := httptest.NewRecorder()
		wh.ServeHTTP(w, req)
		if w.Code >= 300 && w.Code != http.StatusOK {
			t.Errorf("delivery %s: %d %s", delivery, w.Code, w.Body)
		}
	}
	submit := func(m queue.Message) {
		m.ProfileID, m.Trigger, m.Actor = pid, "manual", "tester"
		if _, err := queue.Submit(ctx, h.st, sender, m, h.Now(), ident.New); err != nil {
			t.Errorf("submit %+v: %v", m, err)
		}
	}
	resolved, busy := 0, 0
	resolveWhenOpen := func() {
		for i := 0; i < 600; i++ { // 30 s
			for _, c := range h.openConflicts() {
				_, err := resolver.Resolve(ctx, c.ID, tb.ResolveUseZammad, "tester")
				switch {
				case err == nil:
					resolved++
					return
				case errors.Is(err, engine.ErrBusy):
					busy++ // the API answers 409; the admin clicks again
				default:
					t.Errorf("resolve %s: %v", c.ID, err)
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	for round := 0; round < 3; round++ {
		// A conflict to resolve in this round: a synced timesheet edited
		// in Kimai whose entry then changes in Zammad.
		var victim int64
		for id, ss := range h.sheetsByEntry() {
			if len(ss) == 1 && !h.conflictOpen(id) {
				victim = id
				h.ks.EditTimesheet(ss[0].ID, func(s *kimaisim.Sheet) { s.Description += " (checked)" })
				break
			}
		}
		h.zs.UpdateEntry(victim, func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse(fmt.Sprint(65 + 5*round)) })
		for { // the previous round's runs may still hold the profile
			_, err := h.eng.Run(ctx, engine.Request{ProfileID: pid, Mode: tb.ModeFull, Trigger: "test"})
			if !errors.Is(err, engine.ErrBusy) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		h.Add(10 * time.Minute)

		var wg sync.WaitGroup
		do := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
		do(func() { // Zammad changes meanwhile, each followed by its webhook
			for i := 0; i < 6; i++ {
				var tid int64
				switch {
				case i < 3:
					tid = addEntry()
				case i < 5:
					var id int64
					id, tid = someEntry()
					h.zs.UpdateEntry(id, func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("20") })
				default:
					var id int64
					id, tid = someEntry()
					h.zs.DeleteEntry(id)
				}
				deliver(tid, fmt.Sprintf("r%d-change%d", round, i))
			}
		})
		for i := 0; i < 20; i++ {
			id := fmt.Sprintf("r%d-d%d", round, i)
			if i%4 == 3 {
				id = fmt.Sprintf("r%d-d%d", round, i-1) // a redelivery
			}
			do(func() { deliver(tickets[i%len(tickets)], id) })
		}
		do(func() {
			if err := sched.Handle(ctx, events.EventBridgeEvent{}); err != nil {
				t.Errorf("scheduler: %v", err)
			}
		})
		do(func() { submit(queue.Message{Mode: tb.ModeFull}) })
		do(func() { submit(queue.Message{Mode: tb.ModeFull}) })
		do(func() { submit(queue.Message{Mode: tb.ModeFull, DryRun: true}) })
		do(resolveWhenOpen)
		wg.Wait()
		h.Add(time.Minute)
	}

	// Wait until every run is terminal and the queue is empty.
	deadline := time.Now().Add(2 * time.Minute)
	var runs []tb.Run
	for {
		runs = allRuns(t, h.st, pid)
		pending := slices.ContainsFunc(runs, func(r tb.Run) bool { return r.Status == tb.RunQueued || r.Status == tb.RunRunning })
		if !pending && queueEmpty(t, env.SQS, qurl) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs still pending after 2 minutes: %v", statusCount(runs))
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	consumers.Wait()
	t.Logf("%d runs: %v; %d conflicts resolved (%d times the profile was busy)", len(runs), statusCount(runs), resolved, busy)
	if resolved < 3 {
		t.Errorf("%d conflicts resolved during the turmoil, want one per round", resolved)
	}

	// No two runs (or a run and a resolution) held the profile at once.
	if watch.max != 1 || watch.takes < 10 {
		t.Errorf("at most %d holders of the profile's lease at once over %d takes, want 1 over ≥ 10", watch.max, watch.takes)
	}
	var runsRan int
	for _, r := range runs {
		if r.FinishedAt != nil {
			runsRan++
		}
	}
	if runsRan < 10 {
		t.Fatalf("only %d runs ran", runsRan)
	}

	// Nothing was lost: a full dry run plans no write.
	dry := h.run(tb.ModeFull, func(r *engine.Request) { r.DryRun = true })
	if c := dry.Counts; c.Created+c.Updated+c.Deleted != 0 {
		t.Errorf("changes lost in the turmoil, a full run would still write: %+v", c)
	}
	// Exactly one timesheet per entry with time, none for deleted ones.
	live := map[int64]bool{}
	for _, e := range h.zs.Entries() {
		live[e.ID] = e.TimeUnit.Sign() > 0
	}
	for id, ss := range h.sheetsByEntry() {
		if len(ss) != 1 || !live[id] {
			t.Errorf("entry %d (in Zammad with time: %v) has %d timesheets", id, live[id], len(ss))
		}
	}
	for id, ok := range live {
		if ok && len(h.sheetsByEntry()[id]) != 1 {
			t.Errorf("entry %d has no timesheet", id)
		}
	}
}

// consume is one reconcile "Lambda instance": receive a batch, handle it,
// delete what succeeded (the event source mapping's job).
// conflictOpen reports whether entry id has an open conflict.
func (h *harness) conflictOpen(id int64) bool {
	return slices.ContainsFunc(h.openConflicts(), func(c tb.Conflict) bool { return c.EntryID == id })
}

func consume(ctx context.Context, t *testing.T, api *sqs.Client, url string, h *reconcile.Handler) {
	for ctx.Err() == nil {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 5,
			WaitTimeSeconds: 1, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil || len(out.Messages) == 0 {
			continue
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes})
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		resp, err := h.Handle(ictx, ev)
		cancel()
		if err != nil {
			continue // the whole batch comes back
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, m := range out.Messages {
			if !failed[aws.ToString(m.MessageId)] {
				_, _ = api.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			}
		}
	}
}

func allRuns(t *testing.T, st *store.Store, pid string) []tb.Run {
	t.Helper()
	var out []tb.Run
	cursor := ""
	for {
		page, next, err := st.ListRuns(context.Background(), pid, 200, cursor)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func queueEmpty(t *testing.T, api *sqs.Client, url string) bool {
	t.Helper()
	a, err := api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range a.Attributes {
		if v != "0" {
			return false
		}
	}
	return true
}

func statusCount(runs []tb.Run) map[tb.RunStatus]int {
	out := map[tb.RunStatus]int{}
	for _, r := range runs {
		out[r.Status]++
	}
	return out
}

// leaseWatch counts, in real time, how many owners hold the profile's run
// lease at once. An owner is added once the store has given it the lease
// and removed before it gives the lease back, so the count can only exceed
// one when the store really let two owners hold it.
type leaseWatch struct {
	*store.Store
	mu         sync.Mutex
	owners     map[string]bool
	max, takes int
}

func (w *leaseWatch) TakeLease(ctx context.Context, name, owner string, ttl time.Duration) (int64, bool, error) {
	gen, ok, err := w.Store.TakeLease(ctx, name, owner, ttl)
	if ok && err == nil {
		w.mu.Lock()
		if w.owners == nil {
			w.owners = map[string]bool{}
		}
		if !w.owners[owner] { // not a renewal
			w.owners[owner] = true
			w.takes++
			w.max = max(w.max, len(w.owners))
		}
		w.mu.Unlock()
	}
	return gen, ok, err
}

func (w *leaseWatch) EndLease(ctx context.Context, name, owner string) error {
	w.mu.Lock()
	delete(w.owners, owner)
	w.mu.Unlock()
	return w.Store.EndLease(ctx, name, owner)
}

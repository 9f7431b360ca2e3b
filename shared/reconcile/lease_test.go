package reconcile_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// queueFixture is an SQS queue in kumo plus what Lambda's event source
// mapping does with it: receive a batch as an SQS event, delete what the
// handler did not report as failed.
type queueFixture struct {
	t   *testing.T
	sqs *sqs.Client
	url string
}

func newQueue(t *testing.T, env *kumotest.Env) *queueFixture {
	t.Helper()
	out, err := env.SQS.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(kumotest.UniqueName(t)),
		Attributes: map[string]string{"VisibilityTimeout": "300"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	})
	return &queueFixture{t: t, sqs: env.SQS, url: aws.ToString(out.QueueUrl)}
}

// receive waits up to wait for up to n messages and returns them as SQS
// event records.
func (q *queueFixture) receive(n int, wait time.Duration) []events.SQSMessage {
	q.t.Helper()
	var recs []events.SQSMessage
	deadline := time.Now().Add(wait)
	for len(recs) < n && time.Now().Before(deadline) {
		out, err := q.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url),
			MaxNumberOfMessages: int32(n - len(recs)), WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			q.t.Fatal(err)
		}
		for _, m := range out.Messages {
			recs = append(recs, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs", AWSRegion: "us-east-1",
				EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:runs"})
		}
	}
	return recs
}

// settle deletes the records the handler did not report as failed, as the
// event source mapping does.
func (q *queueFixture) settle(recs []events.SQSMessage, resp events.SQSEventResponse) {
	q.t.Helper()
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, r := range recs {
		if !failed[r.MessageId] {
			if _, err := q.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(r.ReceiptHandle)}); err != nil {
				q.t.Fatal(err)
			}
		}
	}
}

// gate is the connector of the lease tests: the first thing a run does
// after taking the lease. It counts runs inside it, holds each until
// release is closed, then refuses it as a wrong token would (a permanent
// failure, so the message is deleted).
type gate struct {
	active, maxActive, connects atomic.Int32
	entered                     chan struct{} // one value per run that reached the connector
	release                     chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 4), release: make(chan struct{})}
}

func (g *gate) connect(ctx context.Context, _ tb.Profile) (engine.ZammadAPI, engine.KimaiAPI, error) {
	n := g.active.Add(1)
	defer g.active.Add(-1)
	for m := g.maxActive.Load(); n > m && !g.maxActive.CompareAndSwap(m, n); m = g.maxActive.Load() {
	}
	g.connects.Add(1)
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	return nil, nil, apperr.New(apperr.Auth, "test: connect", "The Zammad token was refused.")
}

// handler is one Lambda instance: its own engine over the shared store.
func (g *gate) handler(st *store.Store, env *kumotest.Env, queueURL string) *reconcile.Handler {
	log := slog.New(slog.DiscardHandler)
	return reconcile.New(reconcile.Deps{Engine: engine.New(st, engine.ConnectorFunc(g.connect), log, engine.Options{}),
		SQS: env.SQS, QueueURL: queueURL, RetryDelay: time.Second, Logger: log})
}

// TestProfileRunsNeverOverlap proves the per-profile lease across Lambda
// invocations with the real engine and store on kumo: two messages of one
// profile handled by two concurrent invocations do not run at the same
// time. The second finds the profile busy, is reported as a batch item
// failure with its visibility shortened, comes back from the real queue
// after RetryDelay and then runs.
func TestProfileRunsNeverOverlap(t *testing.T) {
	env := kumotest.Get(t)
	ctx := context.Background()
	st := env.NewStore(t)
	q := newQueue(t, env)
	p, err := st.CreateProfile(ctx, tb.Profile{Name: "Demo", ZammadConnectorID: "zc", KimaiConnectorID: "kc", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	sender := queue.NewSender(env.SQS, q.url)
	for _, m := range []queue.Message{
		{ProfileID: p.ID, Mode: tb.ModeIncremental, Trigger: "schedule", Actor: "scheduler"},
		// Not a ticket run: those are handed to the lease holder instead
		// (TestTicketRunHandedToHolder).
		{ProfileID: p.ID, Mode: tb.ModeFull, Trigger: "manual", Actor: "admin"},
	} {
		if _, err := queue.Submit(ctx, st, sender, m, time.Now(), ident.New); err != nil {
			t.Fatal(err)
		}
	}
	recs := q.receive(2, 10*time.Second)
	if len(recs) != 2 {
		t.Fatalf("received %d messages", len(recs))
	}

	// The connector is the first thing a run does after taking the lease:
	// it counts runs in progress and holds the first until released, then
	// fails it permanently (a refused token), which also exercises delete.
	g := newGate()
	// Two invocations = two Lambda instances, each with its own engine.
	newHandler := func() *reconcile.Handler { return g.handler(st, env, q.url) }
	type answer struct {
		rec  events.SQSMessage
		resp events.SQSEventResponse
	}
	answers := make(chan answer, 2)
	for _, rec := range recs {
		h := newHandler()
		go func() {
			resp, _ := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{rec}})
			answers <- answer{rec, resp}
		}()
	}

	// One run enters; the other invocation answers while it is still held.
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no run started")
	}
	var busy answer
	select {
	case busy = <-answers:
	case <-time.After(10 * time.Second):
		t.Fatal("the second invocation did not return while the first run held the profile")
	}
	if len(busy.resp.BatchItemFailures) != 1 || busy.resp.BatchItemFailures[0].ItemIdentifier != busy.rec.MessageId {
		t.Fatalf("busy invocation answered %+v", busy.resp)
	}
	q.settle([]events.SQSMessage{busy.rec}, busy.resp)
	busyMsg, _ := queue.Decode(busy.rec.Body)
	if r, err := st.GetRun(ctx, busyMsg.RunID); err != nil || r.Status != tb.RunQueued {
		t.Fatalf("busy run %+v, %v: want still queued", r, err)
	}

	close(g.release)
	first := <-answers
	if len(first.resp.BatchItemFailures) != 0 {
		t.Fatalf("a permanently failed run was reported for retry: %+v", first.resp)
	}
	q.settle([]events.SQSMessage{first.rec}, first.resp)
	firstMsg, _ := queue.Decode(first.rec.Body)
	if r, err := st.GetRun(ctx, firstMsg.RunID); err != nil || r.Status != tb.RunFailed || r.Error == nil || r.Error.Class != string(apperr.Auth) {
		t.Fatalf("first run %+v, %v: want failed (auth)", r, err)
	}

	// The busy message comes back after RetryDelay (1 s), not after the
	// queue's 300 s visibility timeout, and now runs.
	start := time.Now()
	again := q.receive(1, 10*time.Second)
	if len(again) != 1 || again[0].MessageId != busy.rec.MessageId {
		t.Fatalf("busy message not redelivered: %+v", again)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("redelivered after %v", waited)
	}
	if again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("receive count %q", again[0].Attributes["ApproximateReceiveCount"])
	}
	resp, _ := newHandler().Handle(ctx, events.SQSEvent{Records: again})
	q.settle(again, resp)
	if r, err := st.GetRun(ctx, busyMsg.RunID); err != nil || r.Status != tb.RunFailed {
		t.Fatalf("retried run %+v, %v", r, err)
	}

	if got := g.maxActive.Load(); got != 1 {
		t.Fatalf("%d runs of one profile at the same time", got)
	}
	if got := g.connects.Load(); got != 2 {
		t.Fatalf("%d runs reached the connector, want 2 (one each, never together)", got)
	}
	attrs, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if a := attrs.Attributes; a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("messages left in the queue: %v", a)
	}
}

// TestTicketRunHandedToHolder: a webhook's ticket run that finds the
// profile busy is handed to the run holding the lease: its invocation
// answers at once with nothing to retry, and the holder carries it out
// before it releases the lease (never two runs at once).
func TestTicketRunHandedToHolder(t *testing.T) {
	env := kumotest.Get(t)
	ctx := context.Background()
	st := env.NewStore(t)
	q := newQueue(t, env)
	p, err := st.CreateProfile(ctx, tb.Profile{Name: "Demo", ZammadConnectorID: "zc", KimaiConnectorID: "kc", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	sender := queue.NewSender(env.SQS, q.url)
	var runs []tb.Run
	for _, m := range []queue.Message{
		{ProfileID: p.ID, Mode: tb.ModeIncremental, Trigger: "schedule", Actor: "scheduler"},
		{ProfileID: p.ID, Mode: tb.ModeTicket, TicketID: 7, Trigger: "webhook", Actor: "webhook"},
	} {
		r, err := queue.Submit(ctx, st, sender, m, time.Now(), ident.New)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	recs := q.receive(2, 10*time.Second)
	if len(recs) != 2 {
		t.Fatalf("received %d messages", len(recs))
	}
	if m, _ := queue.Decode(recs[0].Body); m.Mode == tb.ModeTicket { // the incremental run first
		recs[0], recs[1] = recs[1], recs[0]
	}
	g := newGate()
	newHandler := func() *reconcile.Handler { return g.handler(st, env, q.url) }
	firstDone := make(chan events.SQSEventResponse, 1)
	go func() {
		resp, _ := newHandler().Handle(ctx, events.SQSEvent{Records: recs[:1]})
		firstDone <- resp
	}()
	<-g.entered
	resp, _ := newHandler().Handle(ctx, events.SQSEvent{Records: recs[1:]})
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the handed-off ticket run was reported for retry: %+v", resp)
	}
	q.settle(recs[1:], resp)
	if r, err := st.GetRun(ctx, runs[1].ID); err != nil || r.Status != tb.RunQueued {
		t.Fatalf("handed-off run %+v, %v: want queued while the holder runs", r, err)
	}
	close(g.release)
	q.settle(recs[:1], <-firstDone)
	// The holder carried the ticket run out (its connector refused it too).
	if r, err := st.GetRun(ctx, runs[1].ID); err != nil || r.Status != tb.RunFailed || r.MergedInto != "" || r.Trigger != "webhook" {
		t.Fatalf("handed-off run %+v, %v: want failed (auth) by its own record", r, err)
	}
	if more, err := st.HasPending(ctx, p.ID); err != nil || more {
		t.Fatalf("pending left: %v %v", more, err)
	}
	if g.maxActive.Load() != 1 || g.connects.Load() != 2 {
		t.Fatalf("%d runs at once, %d connects", g.maxActive.Load(), g.connects.Load())
	}
}

// TestPoisonReachesDeadLetterQueue: a poison message is never deleted by
// the handler; it comes back after RetryDelay (the queue's own visibility
// timeout here is long), and after maxReceiveCount receives the queue's
// redrive policy moves it to the dead-letter queue (kumo implements redrive
// as SQS does).
func TestPoisonReachesDeadLetterQueue(t *testing.T) {
	env := kumotest.Get(t)
	ctx := context.Background()
	dlq := newQueue(t, env)
	attrs, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(kumotest.UniqueName(t)), Attributes: map[string]string{
		"VisibilityTimeout": "300",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + attrs.Attributes["QueueArn"] + `","maxReceiveCount":"2"}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	})
	q := &queueFixture{t: t, sqs: env.SQS, url: aws.ToString(out.QueueUrl)}
	if _, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String(`{"run_id":"r1","mode":"full"}`)}); err != nil {
		t.Fatal(err)
	}
	h := reconcile.New(reconcile.Deps{Engine: newFakeEngine(nil), SQS: env.SQS, QueueURL: q.url, RetryDelay: time.Second})
	for i := 1; i <= 2; i++ {
		recs := q.receive(1, 5*time.Second)
		if len(recs) != 1 {
			t.Fatalf("receive %d: %d messages", i, len(recs))
		}
		resp, _ := h.Handle(ctx, events.SQSEvent{Records: recs})
		if len(resp.BatchItemFailures) != 1 {
			t.Fatalf("receive %d: poison message not reported: %+v", i, resp)
		}
		q.settle(recs, resp)
	}
	// The third receive exceeds maxReceiveCount: SQS moves it instead of
	// delivering it.
	var dead []events.SQSMessage
	for deadline := time.Now().Add(10 * time.Second); len(dead) == 0 && time.Now().Before(deadline); {
		if recs := q.receive(1, time.Second); len(recs) != 0 {
			t.Fatalf("poison message delivered a third time: %+v", recs)
		}
		dead = dlq.receive(1, time.Second)
	}
	if len(dead) != 1 || dead[0].Body != `{"run_id":"r1","mode":"full"}` {
		t.Fatalf("dead-letter queue holds %+v", dead)
	}
}

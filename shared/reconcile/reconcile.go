// Package reconcile is the SQS consumer: it turns each queued run message
// into an engine run and tells SQS, through partial batch responses
// (ReportBatchItemFailures), which messages to keep.
//
// What happens to a message:
//
//   - success, or a permanent failure (auth, permission, not_found,
//     validation): the message is deleted (not reported). A permanent
//     failure would fail again; the engine has already stored the run
//     record as failed with the classified reason, which is what the admin
//     sees.
//   - the profile is busy (engine.ErrBusy: another run of it holds the
//     lease): reported as a failure, and its visibility is shortened with
//     ChangeMessageVisibility so it comes back soon rather than after the
//     queue's long visibility timeout: RetryDelay (30 s) on the first
//     receive, doubling with every receive up to MaxRetryDelay (15 min, the
//     longest a run can hold the lease: it renews it while it works, up to
//     Lambda's 15-minute limit). Busy receives count towards the
//     queue's maxReceiveCount; the doubling makes a handful of receives span
//     the longest possible run (30 s+1 m+2 m+4 m+8 m+15 m ≈ 30 min before
//     the 7th receive), so size maxReceiveCount with that in mind.
//   - a transient failure (connection, timeout, rate_limited, upstream) or
//     an unexpected one (internal, conflict): reported as a failure; SQS
//     redelivers it after the visibility timeout (for rate limiting, after
//     the server's Retry-After when that is known).
//   - a poison message (not a valid queue.Message): logged and reported as
//     a failure, never deleted here, with its visibility shortened to
//     RetryDelay (waiting cannot repair it). After the queue's
//     maxReceiveCount SQS moves it to the dead-letter queue, where it stays
//     for inspection and raises the DLQ alarm. Every message that keeps
//     failing ends there.
//
// Runs of one profile never overlap: the engine takes a per-profile lease in
// DynamoDB before it starts, across all concurrent Lambda invocations. Within
// one batch the handler runs a profile's messages one after the other (so
// they do not collide with each other on the lease) and different profiles
// concurrently.
//
// Every run gets a context that ends Margin before the Lambda deadline, so
// that a run cut short still has time to store its record, release its
// lease and answer; messages not started by then are reported as failures
// and come back.
package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"golang.org/x/sync/errgroup"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/metrics"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Defaults of Deps.
const (
	DefaultMargin        = 30 * time.Second
	DefaultRetryDelay    = 30 * time.Second
	DefaultMaxRetryDelay = 15 * time.Minute
	DefaultConcurrency   = 4
	// maxVisibility is SQS's limit for a message's visibility timeout.
	maxVisibility = 12 * time.Hour
)

// Engine runs runs (engine.Engine satisfies it).
type Engine interface {
	Run(ctx context.Context, req engine.Request) (tb.Run, error)
	HandOff(ctx context.Context, profileID string, runs []store.PendingRun) error
}

// SQSAPI is the consumer-side part of the SQS client the handler uses.
type SQSAPI interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Deps are the handler's collaborators and settings.
type Deps struct {
	Engine Engine
	// SQS and QueueURL shorten the visibility of messages to retry soon.
	// Without them those messages come back after the queue's visibility
	// timeout.
	SQS      SQSAPI
	QueueURL string
	Logger   *slog.Logger // nil discards
	// Margin is how long before the Lambda deadline runs are stopped
	// (default 30 s; at most half the remaining time).
	Margin time.Duration
	// RetryDelay is the visibility given to a poison message and, on its
	// first receive, to a message whose profile was busy (default 30 s).
	RetryDelay time.Duration
	// MaxRetryDelay caps the doubling of a busy message's delay (default
	// 15 min, the longest a run can hold the lease: runs renew it while
	// they work, and a Lambda invocation lasts at most 15 min).
	MaxRetryDelay time.Duration
	// Concurrency bounds how many profiles run at once (default 4).
	Concurrency int
	// Metrics receives each finished run's CloudWatch metrics as EMF lines
	// (standard output in Lambda; nil: none). See shared/metrics.
	Metrics io.Writer
	// MetricsNamespace is the metrics' CloudWatch namespace (empty:
	// metrics.Namespace).
	MetricsNamespace string
	// Continue queues the next part of a range run that stopped before
	// the invocation's deadline (engine.Continuation; a message for the
	// same run, resuming after its last finished ticket). Without it, the
	// message itself comes back soon and the run resumes from its stored
	// point, which counts towards the queue's maxReceiveCount.
	Continue queue.Sink
	// Conflicts, when set, counts the profile's open conflicts after each
	// run for the OpenConflicts gauge, and records the count for the
	// scheduler to publish every tick.
	Conflicts Conflicts
}

// Conflicts lists a profile's conflicts and records how many are open (the
// store).
type Conflicts interface {
	ListConflicts(ctx context.Context, profileID string, status tb.ConflictStatus) ([]tb.Conflict, error)
	RecordOpenConflicts(ctx context.Context, profileID string, n int, at time.Time) error
}

// Handler consumes SQS batches.
type Handler struct {
	d       Deps
	metrics *metrics.Sink // safe for concurrent runs: their lines stay whole
}

var _ Engine = (*engine.Engine)(nil)

// New returns a Handler.
func New(d Deps) *Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Margin <= 0 {
		d.Margin = DefaultMargin
	}
	if d.RetryDelay <= 0 {
		d.RetryDelay = DefaultRetryDelay
	}
	if d.MaxRetryDelay <= 0 {
		d.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if d.Concurrency <= 0 {
		d.Concurrency = DefaultConcurrency
	}
	return &Handler{d: d, metrics: metrics.NewSink(d.Metrics, d.MetricsNamespace)}
}

// outcome is what to do with one message.
type outcome int

const (
	done       outcome = iota // delete: succeeded or failed for good
	retry                     // keep: redelivered after the visibility timeout
	retryAfter                // keep: redelivered after the given delay
)

type result struct {
	outcome outcome
	after   time.Duration // for retryAfter
}

func soon(d time.Duration) result { return result{outcome: retryAfter, after: d} }

// Handle processes one SQS batch. It never returns an error: a failed
// invocation would make SQS redeliver the whole batch, including the runs
// that succeeded.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := h.d.Logger
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With(slog.String("request_id", lc.AwsRequestID))
	}
	runCtx, cancel := h.runContext(ctx)
	defer cancel()

	results := make([]result, len(ev.Records))
	msgs := make([]queue.Message, len(ev.Records))
	// Group by profile in arrival order; poison messages are settled now.
	var order []string
	groups := map[string][]int{}
	for i, rec := range ev.Records {
		m, err := queue.Decode(rec.Body)
		if err != nil {
			body := rec.Body
			if len(body) > 256 {
				body = body[:256] + "…"
			}
			log.Error("poison message: reported as failed until SQS moves it to the dead-letter queue",
				slog.String("message_id", rec.MessageId), slog.String("receive_count", rec.Attributes["ApproximateReceiveCount"]),
				slog.String("err", err.Error()), slog.String("body", body))
			results[i] = soon(h.d.RetryDelay)
			continue
		}
		msgs[i] = m
		if _, ok := groups[m.ProfileID]; !ok {
			order = append(order, m.ProfileID)
		}
		groups[m.ProfileID] = append(groups[m.ProfileID], i)
	}

	var g errgroup.Group
	g.SetLimit(h.d.Concurrency)
	for _, pid := range order {
		idx := groups[pid]
		g.Go(func() error {
			// The profile's ticket runs go first, as one merged run.
			var tickets []int
			for _, i := range idx {
				if mergeable(msgs[i]) {
					tickets = append(tickets, i)
				}
			}
			if len(tickets) > 0 {
				r := h.processTickets(runCtx, log, ev.Records, msgs, tickets)
				for _, i := range tickets {
					results[i] = r
				}
			}
			for _, i := range idx {
				if !mergeable(msgs[i]) {
					results[i] = h.process(runCtx, log, ev.Records[i], msgs[i])
				}
			}
			return nil
		})
	}
	_ = g.Wait() // every outcome is in results

	var resp events.SQSEventResponse
	for i, rec := range ev.Records {
		r := results[i]
		if r.outcome == done {
			continue
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		if r.outcome == retryAfter {
			h.setVisibility(ctx, log, rec, r.after)
		}
	}
	return resp, nil
}

// runContext ends Margin before the invocation's deadline, or at half the
// remaining time when less than twice the margin is left.
func (h *Handler) runContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := h.d.Margin
	if rem := time.Until(dl); rem < 2*margin {
		margin = rem / 2
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// mergeable reports whether m is a ticket run that may be carried out
// together with other ticket runs of its profile.
func mergeable(m queue.Message) bool {
	return m.Mode == tb.ModeTicket && !m.DryRun && m.TicketID > 0 && m.RunID != "" && len(m.Tickets) == 0
}

// processTickets carries out a profile's ticket runs of one batch (idx) as
// one merged run, led by the first; they share its fate. When the profile
// is busy they are handed to the run holding its lease
// (engine.Engine.HandOff) instead of waiting for a retry.
func (h *Handler) processTickets(ctx context.Context, log *slog.Logger, recs []events.SQSMessage, msgs []queue.Message, idx []int) result {
	lead := idx[0]
	seen := map[string]bool{msgs[lead].RunID: true}
	var merged []store.PendingRun
	for _, i := range idx[1:] {
		if m := msgs[i]; !seen[m.RunID] {
			seen[m.RunID] = true
			merged = append(merged, store.PendingRun{RunID: m.RunID, TicketID: m.TicketID})
		}
	}
	if len(merged) > 0 {
		log = log.With(slog.Int("merged_runs", len(merged)))
	}
	return h.processReq(ctx, log, recs[lead], msgs[lead], merged)
}

// process runs one message and decides its fate.
func (h *Handler) process(ctx context.Context, log *slog.Logger, rec events.SQSMessage, m queue.Message) result {
	return h.processReq(ctx, log, rec, m, nil)
}

// processReq runs m (carrying out merged too) and decides the fate of its
// message (and of the merged runs' messages).
func (h *Handler) processReq(ctx context.Context, log *slog.Logger, rec events.SQSMessage, m queue.Message, merged []store.PendingRun) result {
	log = log.With(slog.String("message_id", rec.MessageId), slog.String("run_id", m.RunID), slog.String("profile_id", m.ProfileID),
		slog.String("mode", string(m.Mode)), slog.String("trigger", m.Trigger), slog.String("receive_count", rec.Attributes["ApproximateReceiveCount"]))
	if m.Delivery != "" {
		log = log.With(slog.String("delivery", m.Delivery))
	}
	if ctx.Err() != nil {
		log.Warn("run not started: the invocation is about to time out; it will be retried")
		return soon(h.d.RetryDelay)
	}
	req := engine.Request{RunID: m.RunID, ProfileID: m.ProfileID, Mode: m.Mode, TicketID: m.TicketID, DryRun: m.DryRun,
		Trigger: m.Trigger, Actor: m.Actor, QueuedAt: sentAt(rec), Merged: merged, Extra: m.Tickets, RetryOf: m.RetryOf, Resume: m.Resume, Part: m.Part}
	if m.From != nil {
		req.From = *m.From
	}
	if m.To != nil {
		req.To = *m.To
	}
	doc := metrics.New(metrics.DimProfile, m.ProfileID)
	run, err := h.d.Engine.Run(metrics.NewContext(ctx, doc), req)
	kind := apperr.KindOf(err)
	var cont *engine.Continuation
	continues := errors.As(err, &cont)
	if !errors.Is(err, engine.ErrBusy) && !continues {
		h.recordRun(ctx, log, doc, run, err)
	}
	switch {
	case err == nil:
		log.Info("run done", slog.String("status", string(run.Status)))
		return result{outcome: done}
	case continues:
		return h.continueRun(ctx, log, m, cont)
	case errors.Is(err, engine.ErrBusy) && mergeable(m):
		runs := append([]store.PendingRun{{RunID: m.RunID, TicketID: m.TicketID}}, merged...)
		if herr := h.d.Engine.HandOff(ctx, m.ProfileID, runs); herr != nil {
			log.Warn("profile busy, hand-off failed: runs retried soon", slog.String("err", herr.Error()))
			return soon(h.busyDelay(rec))
		}
		log.Info("profile busy: ticket runs handed to the run holding it", slog.Int("runs", len(runs)))
		return result{outcome: done}
	case errors.Is(err, engine.ErrBusy):
		after := h.busyDelay(rec)
		log.Info("profile busy: run retried soon", slog.Duration("retry_in", after))
		return soon(after)
	case apperr.Permanent(err):
		log.Warn("run failed permanently: not retried", slog.String("class", string(kind)), slog.String("err", err.Error()))
		return result{outcome: done}
	case kind == apperr.RateLimited && apperr.RetryAfterOf(err) > 0:
		after := min(max(apperr.RetryAfterOf(err), h.d.RetryDelay), maxVisibility)
		log.Warn("run rate limited: retried after Retry-After", slog.Duration("retry_in", after), slog.String("err", err.Error()))
		return soon(after)
	case ctx.Err() != nil && kind == apperr.Timeout:
		// Stopped by the margin before the Lambda deadline, not by a slow
		// upstream: nothing to back off from.
		log.Warn("run stopped before the invocation deadline: retried soon", slog.String("err", err.Error()))
		return soon(h.d.RetryDelay)
	default:
		log.Warn("run failed: retried after the visibility timeout", slog.String("class", string(kind)), slog.String("err", err.Error()))
		return result{outcome: retry}
	}
}

// continueRun queues the next part of a range run that stopped before the
// invocation's deadline, after ticket after, and lets this message go.
func (h *Handler) continueRun(ctx context.Context, log *slog.Logger, m queue.Message, c *engine.Continuation) result {
	after := c.After
	if h.d.Continue == nil {
		log.Info("run continues: its message comes back", slog.Int64("after_ticket", after))
		return soon(0)
	}
	next := m
	next.Resume, next.Part, next.Delay, next.Delivery = after, c.Part, 0, ""
	// The run's context is spent (the deadline's margin); the invocation's
	// is not.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := h.d.Continue.Send(sctx, next); err != nil {
		log.Warn("queue the run's continuation: its message comes back instead", slog.Int64("after_ticket", after), slog.String("err", err.Error()))
		return soon(0)
	}
	log.Info("run continues in a new invocation", slog.Int64("after_ticket", after))
	return result{outcome: done}
}

// recordRun writes a finished run's metrics (upstream requests were
// recorded into doc while it ran); previews are not syncs and count nothing.
func (h *Handler) recordRun(ctx context.Context, log *slog.Logger, doc *metrics.Doc, run tb.Run, err error) {
	if h.metrics == nil || run.DryRun || run.ID == "" {
		return
	}
	c := run.Counts
	doc.Property(metrics.PropRun, run.ID)
	doc.Add(metrics.RunsFinished, metrics.Count, 1)
	if run.Status == tb.RunFailed || (err != nil && run.Status == "") {
		doc.Add(metrics.RunsFailed, metrics.Count, 1)
		k := apperr.KindOf(err)
		// The class is a property, not a dimension: the logs say which
		// class failed a run without a series per class.
		doc.Property(metrics.PropErrorClass, string(k))
		if k == apperr.Auth || k == apperr.Permission {
			doc.Add(metrics.RunsFailedAuth, metrics.Count, 1)
		}
	}
	doc.Add(metrics.RunDuration, metrics.Milliseconds, float64(run.DurationMS))
	if h.d.Conflicts != nil {
		// A gauge: what is open now, whatever this run opened or closed.
		// One query after a run (the engine reads the same at its start);
		// the scheduler publishes the recorded count every tick, so the
		// alarm's series has a value even between a daily profile's runs.
		cctx := context.WithoutCancel(ctx)
		at := time.Now()
		open, cerr := h.d.Conflicts.ListConflicts(cctx, run.ProfileID, tb.ConflictOpen)
		if cerr == nil {
			doc.Add(metrics.OpenConflicts, metrics.Count, float64(len(open)))
			cerr = h.d.Conflicts.RecordOpenConflicts(cctx, run.ProfileID, len(open), at)
		}
		if cerr != nil {
			log.Warn("open conflicts not counted", slog.String("err", cerr.Error()))
		}
	}
	for name, v := range map[string]int{metrics.EntriesSeen: c.Seen, metrics.EntriesCreated: c.Created, metrics.EntriesUpdated: c.Updated,
		metrics.EntriesDeleted: c.Deleted, metrics.ConflictsOpened: c.Conflicts, metrics.ItemsFailed: c.Errors} {
		doc.Add(name, metrics.Count, float64(v))
	}
	docs := []*metrics.Doc{doc}
	for class, n := range c.ErrorsByClass {
		by := metrics.New(metrics.DimClass, class)
		by.Add(metrics.ItemsFailedBy, metrics.Count, float64(n))
		docs = append(docs, by)
	}
	if err := h.metrics.Write(time.Now(), docs...); err != nil {
		log.Warn("run metrics not written", slog.String("err", err.Error()))
	}
}

// busyDelay is RetryDelay doubled for every earlier receive of the
// message, capped at MaxRetryDelay.
func (h *Handler) busyDelay(rec events.SQSMessage) time.Duration {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		n = 1
	}
	d := h.d.RetryDelay
	for i := 1; i < n && d < h.d.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, h.d.MaxRetryDelay)
}

// setVisibility makes a failed message visible again after d. It runs on
// the invocation's own context (not the run context, which may be over);
// a failure only delays the retry until the normal visibility timeout.
func (h *Handler) setVisibility(ctx context.Context, log *slog.Logger, rec events.SQSMessage, d time.Duration) {
	if h.d.SQS == nil || h.d.QueueURL == "" || rec.ReceiptHandle == "" {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := h.d.SQS.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(h.d.QueueURL), ReceiptHandle: aws.String(rec.ReceiptHandle), VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		log.Warn("change message visibility", slog.String("message_id", rec.MessageId), slog.String("err", err.Error()))
	}
}

// sentAt is when SQS received the message (SentTimestamp, Unix ms), the
// closest the consumer knows to the queued time; zero lets the engine use
// now.
func sentAt(rec events.SQSMessage) time.Time {
	ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

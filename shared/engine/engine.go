// Package engine is Timebridge's sync engine: it reads Zammad time
// accounting and makes Kimai hold exactly one timesheet per Zammad entry.
//
// The work is split as in external-dns: package plan computes what should
// be without any I/O (Net → Desire → ClassifyLinks → Calculate, table-tested
// in isolation), and this package does the I/O around it, one file per phase
// of a run: gather.go reads Zammad and loads the Kimai catalog once per run
// (auto-creating what is allowed), scope.go assembles the plan's input,
// observe.go reads what Kimai holds where the plan needs it, recover.go and
// orphans.go settle what interrupted runs left behind, and apply.go executes
// the plan with bounded concurrency.
//
// Exactly once: before a timesheet is created, a pending link is written
// with a conditional put; after Kimai answers, the link (entry → timesheet
// id, source hash, what Kimai stored) replaces it. A run that finds a
// pending link searches Kimai for the entry's marker and adopts what it
// finds before creating anything. Updates and deletes only proceed while
// Kimai still holds exactly what Timebridge last wrote; anything else
// becomes a conflict for a human.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/kimai"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/zammad"
)

// ZammadAPI is what the engine calls on Zammad.
type ZammadAPI interface {
	Instance() string
	ListEntries(ctx context.Context, opts zammad.ListEntriesOptions, fn func([]zammad.Entry) (bool, error)) error
	TicketEntries(ctx context.Context, ticketID int64) ([]zammad.Entry, error)
	Ticket(ctx context.Context, id int64) (zammad.Ticket, error)
	Organization(ctx context.Context, id int64) (zammad.Organization, error)
	User(ctx context.Context, id int64) (zammad.User, error)
	Groups(ctx context.Context) ([]zammad.Group, error)
	Types(ctx context.Context) ([]zammad.ActivityType, error)
}

// KimaiAPI is what the engine calls on Kimai.
type KimaiAPI interface {
	Me(ctx context.Context) (kimai.User, error)
	Customers(ctx context.Context) ([]kimai.Customer, error)
	Projects(ctx context.Context) ([]kimai.Project, error)
	Activities(ctx context.Context) ([]kimai.Activity, error)
	Users(ctx context.Context) ([]kimai.User, error)
	EnsureTags(ctx context.Context, names []string) error
	CreateCustomer(ctx context.Context, in kimai.CustomerInput) (kimai.Customer, error)
	CreateProject(ctx context.Context, in kimai.ProjectInput) (kimai.Project, error)
	CreateActivity(ctx context.Context, in kimai.ActivityInput) (kimai.Activity, error)
	Timesheet(ctx context.Context, id int64) (tb.Timesheet, error)
	ListTimesheets(ctx context.Context, f kimai.TimesheetFilter, fn func([]tb.Timesheet) error) error
	CreateTimesheet(ctx context.Context, in kimai.TimesheetInput) (tb.Timesheet, error)
	UpdateTimesheet(ctx context.Context, id int64, in kimai.TimesheetInput) (tb.Timesheet, error)
	DeleteTimesheet(ctx context.Context, id int64) error
}

var (
	_ ZammadAPI    = (*zammad.Client)(nil)
	_ ZammadTagger = (*zammad.Client)(nil)
	_ KimaiAPI     = (*kimai.Client)(nil)
	_ Store        = (*store.Store)(nil)
)

// Store is the state the engine reads and writes.
type Store interface {
	GetProfile(ctx context.Context, id string) (tb.Profile, error)
	Mappings(ctx context.Context, profileID string) ([]tb.Mapping, error)
	LinksByTicket(ctx context.Context, profileID string, ticketID int64) ([]tb.Link, error)
	Links(ctx context.Context, profileID string, fn func([]tb.Link) error) error
	GetLink(ctx context.Context, profileID string, ticketID, entryID int64) (tb.Link, error)
	PutLink(ctx context.Context, l tb.Link, prev *tb.Link) (tb.Link, error)
	DeleteLink(ctx context.Context, prev tb.Link) error
	GetCursor(ctx context.Context, profileID string) (tb.Cursor, bool, error)
	PutCursor(ctx context.Context, c tb.Cursor) error
	ListConflicts(ctx context.Context, profileID string, status tb.ConflictStatus) ([]tb.Conflict, error)
	ConflictByID(ctx context.Context, id string) (tb.Conflict, error)
	PutConflict(ctx context.Context, c tb.Conflict, expectVersion int64) (tb.Conflict, error)
	RecordSuccess(ctx context.Context, profileID string, at time.Time, runID string) error
	PutRun(ctx context.Context, r tb.Run) (tb.Run, error)
	PutRunProgress(ctx context.Context, id string, c tb.Counts, p tb.Progress) error
	GetRun(ctx context.Context, id string) (tb.Run, error)
	MarkMerged(ctx context.Context, runIDs []string, into string, status tb.RunStatus, started, finished time.Time) error
	AddPending(ctx context.Context, profileID string, runs []store.PendingRun) error
	TakePending(ctx context.Context, profileID string) ([]store.PendingRun, error)
	HasPending(ctx context.Context, profileID string) (bool, error)
	AppendAudit(ctx context.Context, events ...tb.AuditEvent) error
	TakeLease(ctx context.Context, name, owner string, ttl time.Duration) (gen int64, ok bool, err error)
	EndLease(ctx context.Context, name, owner string) error
	RecordStore
}

// Connector opens the Zammad and Kimai clients of a profile (it reads the
// connectors and their tokens).
type Connector interface {
	Connect(ctx context.Context, p tb.Profile) (ZammadAPI, KimaiAPI, error)
}

// ConnectorFunc adapts a function to Connector.
type ConnectorFunc func(ctx context.Context, p tb.Profile) (ZammadAPI, KimaiAPI, error)

// Connect calls f.
func (f ConnectorFunc) Connect(ctx context.Context, p tb.Profile) (ZammadAPI, KimaiAPI, error) {
	return f(ctx, p)
}

// Options tune the engine; zero values take defaults.
type Options struct {
	// ReadConcurrency bounds parallel Zammad and Kimai reads (default 8).
	ReadConcurrency int
	// Overlap re-reads this much before the incremental cursor, because
	// Zammad orders equal updated_at values arbitrarily (default 10m).
	Overlap time.Duration
	// LeaseTTL is the term of a run's lease on its profile (default 3m). A
	// live run renews it every third of the term, so this bounds how long
	// a crashed run blocks its profile, not how long a run may take.
	LeaseTTL time.Duration
	// CreateAttempts bounds create attempts after ambiguous failures (default 4).
	CreateAttempts int
	// RetryDelay is the first pause between create attempts (default 500ms).
	RetryDelay time.Duration
	// ScanPageSize is the page size of the Zammad entry scans (default
	// 1000, Zammad's maximum).
	ScanPageSize int
	// MaxItemErrors is how many per-entry errors a run record keeps (default 20).
	MaxItemErrors int
	// PendingGrace is how old a pending claim must be before a marker
	// search that finds nothing may clear it (default 15m). Kimai is PHP:
	// a request whose client gave up (timeout, dropped connection, a
	// proxy's 502/504) keeps running and commits later, so an empty search
	// right after such a failure proves nothing. The grace must exceed the
	// longest time Kimai can keep working on one request (PHP's
	// max_execution_time does not count time spent waiting on the
	// database; web servers' fastcgi timeouts only cut the client off).
	PendingGrace time.Duration
	// ProgressEvery is how often a running run stores its counts and
	// progress, for the console's live view (default 3s).
	ProgressEvery time.Duration
	// ChunkTickets is how many tickets a range run reads, plans and writes
	// at a time (default 200; see chunk.go).
	ChunkTickets int
	// RecordBatch is how many report records a range run holds before
	// writing them (default 20,000; see ledger.go).
	RecordBatch int
	// MinChunkTime is the least time a range run wants left before its
	// deadline to start another chunk (default 20s; also at least twice
	// the last chunk's time). With less, it continues in a new invocation.
	MinChunkTime time.Duration
	// MaxStalls is how many invocations in a row a range run may end
	// without finishing a single change before it fails (default 3).
	MaxStalls int
	// MaxCursorHold bounds how far back a transient per-entry failure can
	// hold the incremental cursor (default 1h): incremental runs re-read
	// the failed entry's ticket until then; later the daily full run, which
	// reads every entry of the deletion window, retries it.
	MaxCursorHold time.Duration
}

func (o Options) withDefaults() Options {
	if o.ReadConcurrency <= 0 {
		o.ReadConcurrency = 8
	}
	if o.Overlap <= 0 {
		o.Overlap = 10 * time.Minute
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 3 * time.Minute
	}
	if o.CreateAttempts <= 0 {
		o.CreateAttempts = 4
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	if o.MaxItemErrors <= 0 {
		o.MaxItemErrors = 20
	}
	if o.ScanPageSize <= 0 {
		o.ScanPageSize = 1000
	}
	if o.PendingGrace <= 0 {
		o.PendingGrace = DefaultPendingGrace
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 3 * time.Second
	}
	if o.RecordBatch <= 0 {
		o.RecordBatch = 20_000
	}
	if o.ChunkTickets <= 0 {
		o.ChunkTickets = 200
	}
	if o.MinChunkTime <= 0 {
		o.MinChunkTime = 20 * time.Second
	}
	if o.MaxStalls <= 0 {
		o.MaxStalls = 3
	}
	if o.MaxCursorHold <= 0 {
		o.MaxCursorHold = time.Hour
	}
	return o
}

// DefaultPendingGrace is Options.PendingGrace's default.
const DefaultPendingGrace = 15 * time.Minute

// Engine runs syncs.
type Engine struct {
	store   Store
	connect Connector
	log     *slog.Logger
	opts    Options
	now     func() time.Time
}

// New returns an Engine.
func New(store Store, connect Connector, log *slog.Logger, opts Options) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: store, connect: connect, log: log, opts: opts.withDefaults(), now: time.Now}
}

// SetClock replaces the engine's clock (tests).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// Request asks for one run.
type Request struct {
	RunID     string // generated when empty
	ProfileID string
	Mode      tb.RunMode
	TicketID  int64     // ModeTicket
	From, To  time.Time // ModeRange: entries created in [From, To)
	DryRun    bool
	Trigger   string // schedule, webhook, manual, resolution
	Actor     string // who asked ("engine" when empty)
	// QueuedAt is when the run was queued (zero: now).
	QueuedAt time.Time
	// Merged are other queued ticket runs of the profile that this ticket
	// run carries out too: their tickets are synced with TicketID's, and
	// their records finish with this run's status and point to it.
	Merged []store.PendingRun
	// Extra are more tickets a ticket run syncs (a retry of failed entries).
	Extra []int64
	// RetryOf names the run whose failed entries this run retries.
	RetryOf string
	// Resume continues a range run after this ticket (a Continuation), as
	// part Part of the run (the original request is part 0).
	Resume int64
	Part   int
	// force marks entries resolved by a human (set by Resolve).
	force map[int64]tb.Resolution
}

// ErrBusy is returned when another run of the profile holds its lease.
var ErrBusy = errors.New("engine: another run of this profile is in progress")

func leaseName(profileID string) string { return "profile-" + profileID }

// lease is a held profile lease: its owner and generation (the fence every
// link write carries).
type lease struct {
	owner string
	gen   int64
}

var errLeaseLost = errors.New("engine: the profile's lease was lost")

// takeLease takes the profile's lease for owner; ErrBusy (as an
// apperr.Conflict) when another run holds it. release ends the term.
func (e *Engine) takeLease(ctx context.Context, profileID, owner string, log *slog.Logger) (*lease, func(), error) {
	gen, ok, err := e.store.TakeLease(ctx, leaseName(profileID), owner, e.opts.LeaseTTL)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: take lease for profile %s: %w", profileID, err)
	}
	if !ok {
		return nil, nil, apperr.Wrap(ErrBusy, apperr.Conflict, "engine: run", "Another run of this profile is in progress; this one will be retried.")
	}
	release := func() {
		// A fresh context: the caller's may be spent.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := e.store.EndLease(rctx, leaseName(profileID), owner); err != nil {
			log.Warn("end lease", slog.String("err", err.Error()))
		}
	}
	return &lease{owner: owner, gen: gen}, release, nil
}

// keepLease renews l every third of its term while the returned context
// lives. The context is cancelled (cause errLeaseLost) when another owner
// took the lease, or when renewals kept failing until less than a third of
// the term was left by this process's clock: from then on another run may
// start, so this one must stop writing.
func (e *Engine) keepLease(ctx context.Context, profileID string, l *lease, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	ttl := e.opts.LeaseTTL
	valid := time.Now().Add(ttl)
	stop := every(ctx, ttl/3, func() bool {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/6)
		sent := time.Now()
		_, ok, err := e.store.TakeLease(rctx, leaseName(profileID), l.owner, ttl)
		rcancel()
		switch {
		case err == nil && ok:
			valid = sent.Add(ttl)
		case err == nil:
			log.Error("lease taken by another run; stopping", slog.String("owner", l.owner))
			cancel(errLeaseLost)
			return false
		default:
			log.Warn("renew lease", slog.String("err", err.Error()))
			if time.Until(valid) < ttl/3 {
				log.Error("lease could not be renewed in time; stopping", slog.String("owner", l.owner))
				cancel(errLeaseLost)
				return false
			}
		}
		return true
	})
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// every calls fn every d in a goroutine until fn returns false, ctx ends or
// the returned stop is called; stop waits for a call in flight, so nothing
// fn writes can land after it.
func every(ctx context.Context, d time.Duration, fn func() bool) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !fn() {
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// Run executes one run and returns its record. The record is also stored.
// An error means the run could not be carried out at all (its record says
// why); per-entry failures are counted in the record instead.
func (e *Engine) Run(ctx context.Context, req Request) (tb.Run, error) {
	run, err := e.run(ctx, req, nil)
	if !errors.Is(err, ErrBusy) {
		e.afterRelease(ctx, req.ProfileID)
	}
	return run, err
}

// run executes one run, under held when the caller already holds the
// profile's lease (a resolution), else under a lease of its own.
func (e *Engine) run(ctx context.Context, req Request, held *lease) (tb.Run, error) {
	start := e.now()
	if req.RunID == "" {
		req.RunID = ident.New(start)
	}
	if req.Actor == "" {
		req.Actor = "engine"
	}
	run := tb.Run{ID: req.RunID, ProfileID: req.ProfileID, Trigger: req.Trigger, Mode: req.Mode,
		DryRun: req.DryRun, TicketID: req.TicketID, Status: tb.RunRunning, QueuedAt: start, StartedAt: &start,
		Requester: req.Actor, RetryOf: req.RetryOf}
	if !req.QueuedAt.IsZero() {
		run.QueuedAt = req.QueuedAt
	}
	if req.Mode == tb.ModeRange {
		f, t := req.From, req.To
		run.From, run.To = &f, &t
	}
	if len(req.Merged) > 0 || len(req.Extra) > 0 {
		run.Tickets = req.tickets()
	}
	log := e.log.With(slog.String("run_id", req.RunID), slog.String("profile_id", req.ProfileID), slog.String("mode", string(req.Mode)))

	if err := validateRequest(req); err != nil {
		return e.fail(ctx, run, err, log)
	}
	// failEarly fails the run before it started, unless the deadline cut
	// off a range run that continues: then its record stays as it was
	// (running, with its resume point) and the same part goes on in the
	// next invocation.
	failEarly := func(err error) (tb.Run, error) {
		if ctx.Err() != nil && req.Mode == tb.ModeRange && !req.DryRun && (req.Resume > 0 || req.Part > 0) {
			return run, &Continuation{After: req.Resume, Part: req.Part}
		}
		return e.fail(ctx, run, err, log)
	}
	owned := held == nil
	if owned {
		// The owner is unique per attempt, not per run: a queue may deliver
		// one run's message twice at once, and both copies must not hold
		// the lease.
		l, release, err := e.takeLease(ctx, req.ProfileID, ident.New(start)+"/"+req.RunID, log)
		if err != nil {
			if errors.Is(err, ErrBusy) {
				return run, err
			}
			return failEarly(err)
		}
		defer release()
		held = l
	}
	ctx, stop := e.keepLease(ctx, req.ProfileID, held, log)
	defer stop()
	if owned {
		// Ticket runs handed over while this run (a dry run too) held the
		// lease are carried out before it is released (the deferred calls
		// run after this).
		defer func() { e.drainHeld(ctx, req.ProfileID, held, log) }()
	}
	r := &runner{e: e, req: req, run: run, log: log, fence: held.gen, progress: tb.Progress{Phase: tb.PhaseReading}, phaseStart: time.Now()}
	if !e.resume(ctx, &r.req, &run, r) {
		log.Info("stale continuation of a range run: ignored", slog.Int("part", req.Part), slog.Int64("resume_after", req.Resume))
		return e.store.GetRun(ctx, req.RunID)
	}
	if run.StartedAt != nil {
		start = *run.StartedAt
	}
	if _, err := e.store.PutRun(ctx, run); err != nil {
		return failEarly(fmt.Errorf("engine: record run: %w", err))
	}
	run.Outcomes = nil
	r.run = run

	stopProgress := r.reportProgress(ctx, run.ID)
	err := r.execute(ctx)
	stopProgress()
	if cause := context.Cause(ctx); errors.Is(cause, errLeaseLost) {
		err = apperr.Wrap(cause, apperr.Conflict, "engine: run",
			"The run lost its lease on the profile (it could not renew it in time) and stopped; it is retried.")
	}
	r.flushAudit(ctx)
	end := e.now()
	r.run.FinishedAt = &end
	r.run.DurationMS = end.Sub(start).Milliseconds()
	r.run.Counts = r.counts
	r.run.ItemErrors = r.itemErrors
	r.run.Outcomes = r.kept
	if r.dropped > 0 {
		log.Info("outcomes beyond the run's limit dropped (the report's records keep every entry)", slog.Int("dropped", r.dropped))
	}
	p := r.progress
	p.UpdatedAt = end
	r.run.Progress = &p
	var cont *Continuation
	if errors.As(err, &cont) {
		// The run goes on in another invocation: its record stays running
		// with what it did so far.
		r.run.FinishedAt = nil
		r.run.Status = tb.RunRunning
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, perr := e.store.PutRun(sctx, r.run); perr != nil {
			log.Error("store run record", slog.String("err", perr.Error()))
		}
		log.Info("run continues", slog.Int64("after_ticket", cont.After), slog.Int("invocations", p.Invocations+1),
			slog.Int("created", r.counts.Created), slog.Int("errors", r.counts.Errors), r.phaseLog())
		return r.run, err
	}
	switch {
	case err != nil:
		r.run.Status = tb.RunFailed
		r.run.Error = detail(err)
	case r.counts.Errors > 0 || r.counts.Conflicts > 0:
		r.run.Status = tb.RunPartial
		if r.counts.Errors > 0 && len(r.itemErrors) > 0 {
			r.run.Error = &tb.ErrorDetail{Class: r.itemErrors[0].Class, Message: r.itemErrors[0].Message, Count: r.counts.Errors}
		}
	default:
		r.run.Status = tb.RunSucceeded
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, perr := e.store.PutRun(sctx, r.run); perr != nil {
		log.Error("store run record", slog.String("err", perr.Error()))
	}
	if len(req.Merged) > 0 {
		ids := make([]string, len(req.Merged))
		for i, m := range req.Merged {
			ids[i] = m.RunID
		}
		if merr := e.store.MarkMerged(sctx, ids, r.run.ID, r.run.Status, start, end); merr != nil {
			log.Error("finish merged run records", slog.String("err", merr.Error()))
		}
	}
	if !req.DryRun && (r.run.Status == tb.RunSucceeded || r.run.Status == tb.RunPartial) {
		// The scheduler's staleness metric: when this profile last synced.
		if herr := e.store.RecordSuccess(sctx, req.ProfileID, end, r.run.ID); herr != nil {
			log.Warn("record success", slog.String("err", herr.Error()))
		}
	}
	if !req.DryRun {
		_ = e.store.AppendAudit(sctx, tb.AuditEvent{ID: ident.New(end), Time: end, ProfileID: req.ProfileID, RunID: req.RunID,
			Actor: req.Actor, Type: "run.finished", Subject: "run " + req.RunID,
			Message: fmt.Sprintf("%s run %s: %d created, %d updated, %d deleted, %d conflicts, %d errors", req.Mode, r.run.Status,
				r.counts.Created, r.counts.Updated, r.counts.Deleted, r.counts.Conflicts, r.counts.Errors),
			After: r.run.Counts})
	}
	log.Info("run finished", slog.String("status", string(r.run.Status)), slog.Int64("duration_ms", r.run.DurationMS),
		slog.Int("seen", r.counts.Seen), slog.Int("created", r.counts.Created), slog.Int("updated", r.counts.Updated),
		slog.Int("deleted", r.counts.Deleted), slog.Int("unchanged", r.counts.Unchanged), slog.Int("conflicts", r.counts.Conflicts),
		slog.Int("errors", r.counts.Errors), r.phaseLog())
	return r.run, err
}

func validateRequest(req Request) error {
	switch req.Mode {
	case tb.ModeIncremental, tb.ModeFull:
	case tb.ModeTicket:
		if req.TicketID <= 0 {
			return apperr.New(apperr.Validation, "engine: run", "A ticket run needs a ticket id.")
		}
		for _, m := range req.Merged {
			if m.TicketID <= 0 || m.RunID == "" || m.RunID == req.RunID {
				return apperr.New(apperr.Validation, "engine: run", "A merged ticket run needs its own run id and a ticket id.")
			}
		}
	case tb.ModeRange:
		if req.From.IsZero() || req.To.IsZero() || !req.From.Before(req.To) {
			return apperr.New(apperr.Validation, "engine: run", "A range run needs from < to.")
		}
	default:
		return apperr.New(apperr.Validation, "engine: run", fmt.Sprintf("Unknown run mode %q; use incremental, full, range or ticket.", req.Mode))
	}
	if len(req.Extra) > 0 && req.Mode != tb.ModeTicket {
		return apperr.New(apperr.Validation, "engine: run", "Only ticket runs sync more tickets.")
	}
	if len(req.Merged) > 0 && (req.Mode != tb.ModeTicket || req.DryRun) {
		return apperr.New(apperr.Validation, "engine: run", "Only ticket runs that write can carry out other ticket runs.")
	}
	if req.ProfileID == "" {
		return apperr.New(apperr.Validation, "engine: run", "A run needs a profile id.")
	}
	return nil
}

func (e *Engine) fail(ctx context.Context, run tb.Run, err error, log *slog.Logger) (tb.Run, error) {
	end := e.now()
	run.Status, run.FinishedAt, run.Error = tb.RunFailed, &end, detail(err)
	log.Error("run failed", slog.String("class", string(apperr.KindOf(err))), slog.String("err", err.Error()))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = e.store.PutRun(sctx, run)
	return run, err
}

func detail(err error) *tb.ErrorDetail {
	if err == nil {
		return nil
	}
	return &tb.ErrorDetail{Class: string(apperr.KindOf(err)), Message: apperr.MessageOf(err), Fields: apperr.FieldsOf(err)}
}

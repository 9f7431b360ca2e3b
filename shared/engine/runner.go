package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/limiter"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// runner holds the state of one run.
type runner struct {
	e   *Engine
	req Request
	run tb.Run
	log *slog.Logger

	profile  tb.Profile
	z        ZammadAPI
	k        KimaiAPI
	loc      *time.Location
	instance string
	catalog  *plan.Catalog
	names    plan.Names
	mappings plan.Mappings

	mu     sync.Mutex
	counts tb.Counts
	// gate admits the run's Kimai timesheet requests (gate.go), lim is its
	// write limiter (pace.go).
	gate *switchGate
	lim  *limiter.Limiter
	// perDay is how many timesheets a day a backfill expects Kimai to hold
	// (its entries over its days), for the orphan search's cost; 0 else.
	perDay float64
	// ctx is the run's context (itemError tells a deadline's cut from a
	// failure by it).
	ctx context.Context
	// phaseStart and phaseTime measure where the run's time goes.
	phaseStart time.Time
	phaseTime  map[string]time.Duration
	progress   tb.Progress
	itemErrors []tb.ItemError
	// outcomes holds each planned change's outcome, by plan index.
	outcomes []tb.EntryOutcome
	audit    []tb.AuditEvent
	// scan is the run's scan of all entries (full and range runs), links
	// the read of all of a full run's links (ahead.go).
	scan  *entryScan
	links *future[[]tb.Link]
	// changes receives what Kimai changed since the last observation
	// once listChanges has started reading it.
	changes <-chan kimaiChanges
	// strays are pending links of entries outside a full run's window.
	strays []tb.Link
	// fence is the lease generation this run holds; every link it writes
	// carries it (see store.PutLink).
	fence int64
	// Chunked runs (chunk.go): the last chunk's time, the Kimai writes
	// counted when this invocation started, the outcomes kept and how many
	// were dropped beyond MaxOutcomes, the records not written yet and the
	// tally when they last were.
	lastChunk     time.Duration
	writesAtStart int
	kept          []tb.EntryOutcome
	dropped       int
	unwritten     unwrittenRecords
	written       tally
	// failedUpdatedAt is the oldest updated_at of an entry that failed, so
	// the incremental cursor never moves past it.
	failedUpdatedAt time.Time
}

// ticketData is one ticket with all its entries.
type ticketData struct {
	ticket  plan.Ticket
	entries []plan.Entry
	gone    bool // the ticket no longer exists in Zammad
}

// execute carries out the run. Any error of a run whose context ended is
// its cut-off (chunk.go): a range run continues, others time out.
func (r *runner) execute(ctx context.Context) error {
	r.ctx = ctx
	// What the run started in the background (ahead.go) ends with it.
	run, stop := context.WithCancel(ctx)
	defer stop()
	if err := r.sync(run); err != nil {
		return r.cutOff(ctx, err)
	}
	return nil
}

func (r *runner) sync(ctx context.Context) error {
	p, err := r.e.store.GetProfile(ctx, r.req.ProfileID)
	if err != nil {
		return fmt.Errorf("engine: load profile %s: %w", r.req.ProfileID, err)
	}
	r.profile = p.WithDefaults()
	if r.profile.ZammadConnectorID == "" || r.profile.KimaiConnectorID == "" {
		return apperr.New(apperr.Validation, "engine: run", "The profile needs a Zammad and a Kimai connector.")
	}
	r.z, r.k, err = r.e.connect.Connect(ctx, r.profile)
	if err != nil {
		return fmt.Errorf("engine: connect profile %s: %w", r.profile.ID, err)
	}
	r.gate = &switchGate{g: newSlots(r.e.opts.ReadConcurrency)}
	r.k = gatedKimai{KimaiAPI: r.k, g: r.gate}
	r.instance = r.z.Instance()

	me, err := r.k.Me(ctx)
	if err != nil {
		return fmt.Errorf("engine: kimai user: %w", err)
	}
	if r.loc, err = me.Zone(); err != nil {
		// Never fall back to UTC: every entry would land at the wrong hour.
		return fmt.Errorf("engine: kimai user: %w", err)
	}

	if r.req.Mode == tb.ModeFull {
		r.loadLinksAhead(ctx)
	}
	tickets, scanned, newest, err := r.gather(ctx)
	if err != nil {
		return err
	}
	if r.req.Mode == tb.ModeFull {
		r.verifyAhead(ctx, tickets)
	}
	r.setPhase(tb.PhasePlanning, -1)
	if err := r.loadContext(ctx, tickets); err != nil {
		return err
	}
	if !r.req.DryRun {
		if err := r.k.EnsureTags(ctx, r.profile.Tags); err != nil {
			return fmt.Errorf("engine: ensure tags: %w", err)
		}
	}

	touched := map[int64]bool{}
	chunks := r.chunks(tickets)
	if r.chunked() {
		total := entriesIn(tickets, 0)
		r.perDay = float64(total) / max(1, r.req.To.Sub(r.req.From).Hours()/24)
		r.setPhase(tb.PhaseWriting, total)
		r.mu.Lock()
		r.progress.Done = total - entriesIn(tickets, r.req.Resume)
		r.writesAtStart = writes(r.counts)
		r.mu.Unlock()
	}
	for i, ids := range chunks {
		if i > 0 {
			if err := r.budget(ctx); err != nil {
				return err
			}
		}
		started := time.Now()
		part, err := r.chunk(ctx, tickets, ids)
		if err != nil {
			return err
		}
		if err := r.syncChunk(ctx, part, scanned, touched, i == len(chunks)-1); err != nil {
			return err
		}
		if r.chunked() {
			r.chunkDone(ids[len(ids)-1], time.Since(started))
			if r.unwritten.len() >= r.e.opts.RecordBatch || i == len(chunks)-1 {
				if err := r.flushRecords(ctx); err != nil {
					return err
				}
			}
		}
	}
	if r.req.DryRun {
		return nil
	}
	r.setPhase(tb.PhaseFinishing, -1)
	if ctx.Err() == nil {
		r.finish(ctx, touched)
	}
	if ctx.Err() != nil {
		// Cut off by the deadline: the queue retries it, and a re-run is
		// cheap (finished entries are unchanged).
		return ctx.Err()
	}
	if r.req.Mode == tb.ModeIncremental {
		r.advanceCursor(ctx, newest)
	}
	return nil
}

// syncChunk plans and applies the changes of one chunk of tickets and keeps
// their records, adding the tickets whose records changed to touched. Only
// range runs that write have more than one chunk (chunk.go). After the last
// chunk's writes, reading what Kimai changed begins (listChanges).
func (r *runner) syncChunk(ctx context.Context, tickets map[int64]*ticketData, scanned map[int64]bool, touched map[int64]bool, last bool) error {
	r.setPhase(tb.PhasePlanning, -1)
	if err := r.nameOrgs(ctx, tickets); err != nil {
		return err
	}
	if !r.req.DryRun {
		if err := r.ensureCatalog(ctx, tickets); err != nil {
			return err
		}
	}
	in, err := r.planInput(ctx, tickets, scanned)
	if err != nil {
		return err
	}
	pl := plan.Calculate(in)
	if r.req.DryRun {
		r.recordPreview(pl)
		return nil
	}
	if !r.chunked() { // the chunk is the whole run
		r.setPhase(tb.PhaseWriting, len(pl.Changes))
	} else {
		r.setPhase(tb.PhaseWriting, -1)
	}
	r.apply(ctx, pl)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.setPhase(tb.PhaseFinishing, -1)
	if last {
		r.listChanges(ctx)
	}
	changed, err := r.keepRecords(ctx, pl)
	if err != nil && ctx.Err() != nil && r.chunked() {
		return ctx.Err() // the chunk is done again, its records with it
	}
	if err != nil {
		r.itemError(0, 0, time.Time{}, err)
	}
	maps.Copy(touched, changed)
	r.keepOutcomes()
	return nil
}

func (r *runner) recordPreview(p plan.Plan) {
	preview := plan.Summarize(p, r.catalog)
	r.run.Preview = &preview
	for _, c := range p.Changes {
		w := plan.Locate(c, r.catalog)
		pc := tb.PlannedChange{Action: c.Action, EntryID: c.EntryID, TicketID: c.TicketID, Reason: c.Reason, Before: c.Observed,
			Customer: w.Customer, Project: w.Project, Activity: w.Activity}
		if c.Desired != nil {
			pc.TicketNumber = c.Desired.Ticket.Number
		}
		if c.Link != nil {
			pc.TimesheetID = c.Link.TimesheetID
		}
		if c.Desired != nil && c.Desired.Sheet != nil && c.Action != tb.ActionDelete {
			pc.After = c.Desired.Sheet
			if len(c.Desired.Creates) > 0 {
				var names []string
				for _, cs := range c.Desired.Creates {
					names = append(names, fmt.Sprintf("%s %q", cs.Kind, cs.Name))
				}
				pc.Reason = joinReason(pc.Reason, fmt.Sprintf("would auto-create %v", names))
			}
		}
		if c.Conflict != nil {
			pc.Conflict, pc.Reason = c.Conflict.Kind, c.Conflict.Message
		}
		r.run.Plan = append(r.run.Plan, pc)
		r.countAction(c)
	}
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (r *runner) countAction(c plan.Change) {
	r.bump(func(n *tb.Counts) {
		switch c.Action {
		case tb.ActionCreate:
			n.Created++
		case tb.ActionUpdate:
			n.Updated++
		case tb.ActionDelete:
			n.Deleted++
		case tb.ActionUnchanged:
			n.Unchanged++
		case tb.ActionSkip:
			n.Skipped++
		case tb.ActionConflict:
			n.Conflicts++
		}
	})
}

func (r *runner) advanceCursor(ctx context.Context, newest time.Time) {
	if newest.IsZero() {
		return
	}
	r.mu.Lock()
	failed := r.failedUpdatedAt
	r.mu.Unlock()
	if !failed.IsZero() && !failed.After(newest) {
		// Don't move past an entry that failed for now: the next run
		// re-reads it (the overlap covers the margin). Only for so long:
		// beyond MaxCursorHold the daily full run retries it, and holding
		// on would make every incremental run re-read ever more.
		held := failed.Add(-time.Millisecond)
		if floor := r.e.now().Add(-r.e.opts.MaxCursorHold); held.Before(floor) {
			r.log.Warn("cursor no longer held for a failing entry; the full run retries it", slog.Time("entry_updated_at", failed))
			held = floor
		}
		if held.Before(newest) {
			newest = held
		}
	}
	cur, ok, err := r.e.store.GetCursor(ctx, r.profile.ID)
	if err == nil && ok && !newest.After(cur.UpdatedAt) {
		return
	}
	if err := r.e.store.PutCursor(ctx, tb.Cursor{ProfileID: r.profile.ID, UpdatedAt: newest, RunID: r.run.ID}); err != nil {
		r.itemError(0, 0, time.Time{}, fmt.Errorf("engine: store cursor: %w", err))
	}
}

func (r *runner) bump(f func(*tb.Counts)) {
	r.mu.Lock()
	f(&r.counts)
	r.mu.Unlock()
}

// putLink writes l in place of prev (nil: a new link) under the run's
// lease generation (its fence). A synced link's time counts in the summary
// on the day its timesheet begins in the Kimai user's zone.
func (r *runner) putLink(ctx context.Context, l tb.Link, prev *tb.Link) (tb.Link, error) {
	l.Fence = r.fence
	l.WorkedOn = ""
	if l.State == tb.LinkSynced && !l.Baseline.Begin.IsZero() {
		l.WorkedOn = l.Baseline.Begin.In(r.loc).Format(time.DateOnly)
	}
	return r.e.store.PutLink(ctx, l, prev)
}

// holdCursor keeps the incremental cursor from moving past an entry that is
// not settled yet (see advanceCursor).
func (r *runner) holdCursor(updatedAt time.Time) {
	if updatedAt.IsZero() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failedUpdatedAt.IsZero() || updatedAt.Before(r.failedUpdatedAt) {
		r.failedUpdatedAt = updatedAt
	}
}

// itemError records a per-entry failure without stopping the run.
func (r *runner) itemError(entryID, ticketID int64, updatedAt time.Time, err error) {
	if r.chunked() && r.ctx != nil && r.ctx.Err() != nil {
		// Cut off by the invocation's deadline: the chunk is done again
		// in the next invocation (chunk.go), so this is no failure.
		r.log.Debug("item cut off by the deadline", slog.Int64("entry_id", entryID), slog.String("err", err.Error()))
		return
	}
	r.log.Warn("item failed", slog.Int64("entry_id", entryID), slog.String("class", string(apperr.KindOf(err))), slog.String("err", err.Error()))
	r.holdCursor(updatedAt)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts.Errors++
	if r.counts.ErrorsByClass == nil {
		r.counts.ErrorsByClass = map[string]int{}
	}
	r.counts.ErrorsByClass[string(apperr.KindOf(err))]++
	if len(r.itemErrors) < r.e.opts.MaxItemErrors {
		r.itemErrors = append(r.itemErrors, tb.ItemError{EntryID: entryID, TicketID: ticketID, Class: string(apperr.KindOf(err)), Message: apperr.MessageOf(err)})
	}
}

func (r *runner) addAudit(ev tb.AuditEvent) {
	now := r.e.now()
	ev.ID, ev.Time = ident.New(now), now
	ev.ProfileID, ev.RunID = r.profile.ID, r.run.ID
	if ev.Actor == "" {
		ev.Actor = r.req.Actor
	}
	r.mu.Lock()
	r.audit = append(r.audit, ev)
	r.mu.Unlock()
}

// auditBatch is how many events apply buffers before writing them, so that
// a process killed mid-run loses at most this many.
const auditBatch = 100

func (r *runner) flushAuditIfFull(ctx context.Context) {
	r.mu.Lock()
	full := len(r.audit) >= auditBatch
	r.mu.Unlock()
	if full {
		r.flushAudit(ctx)
	}
}

func (r *runner) flushAudit(ctx context.Context) {
	r.mu.Lock()
	evs := r.audit
	r.audit = nil
	r.mu.Unlock()
	if len(evs) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.e.store.AppendAudit(sctx, evs...); err != nil {
		r.log.Error("write audit events", slog.Int("count", len(evs)), slog.String("err", err.Error()))
	}
}

func entrySubject(id int64) string { return fmt.Sprintf("entry %d", id) }

func keys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// forEach runs fn over items with at most n in flight and returns the first
// error (after the others finish), or the cause of ctx's end.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, n))
	for _, it := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // admitted while the failure was happening: not started
			}
			return fn(gctx, it)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx) // nil unless the caller's context ended
}

// finish reads what Kimai changed since the last run (edits, exports) and,
// when the profile asks for it, brings the billed tags in line for the
// tickets whose records changed (touched). None of it changes Kimai, so a
// failure is an item error, not a failed run.
func (r *runner) finish(ctx context.Context, touched map[int64]bool) {
	observed, err := r.observeChanges(ctx)
	if err != nil {
		r.itemError(0, 0, time.Time{}, err)
	}
	if !r.profile.Billing.Enabled {
		return
	}
	maps.Copy(touched, observed)
	r.bill(ctx, touched)
}

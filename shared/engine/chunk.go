package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// A range run (a backfill) can cover a year of a large helpdesk: 100,000
// entries on 5,000 tickets take longer than one Lambda invocation may run
// (15 minutes), and holding all of their plans, outcomes and records at
// once would not fit its memory. So a range run works through its tickets
// in chunks of ChunkTickets, in ticket id order, each chunk read, planned,
// applied and recorded before the next is read. After each chunk the run
// notes the last ticket done (Progress.After, stored with the progress).
// When the invocation's deadline is too close for another chunk, the run
// stops between two chunks and returns a *Continuation: the queue consumer
// sends a message for the same run that resumes after that ticket, in a
// fresh invocation. A run cut off mid-chunk, or a process killed outright,
// resumes from the last stored point: the entries the cut chunk already
// wrote are linked, so doing that chunk again finds them unchanged.
// Nothing is ever started over from the first ticket.

// Continuation is returned by Run when a range run stopped before its
// invocation's deadline and continues in another invocation: after ticket
// After. Its run record stays running.
type Continuation struct {
	After int64
	// Part numbers the invocation that goes on (Request.Part).
	Part int
}

func (c *Continuation) Error() string {
	return fmt.Sprintf("engine: run continues after ticket %d", c.After)
}

// MaxOutcomes bounds the per-entry outcomes a run keeps for its run page;
// beyond it only failures and conflicts are kept (every entry's state is in
// the reconciliation report's records anyway).
const MaxOutcomes = 20_000

// chunked reports whether the run works through its tickets in chunks.
func (r *runner) chunked() bool { return r.req.Mode == tb.ModeRange && !r.req.DryRun }

// chunks splits the run's tickets into the chunks it works through, after
// Request.Resume: one chunk unless the run is chunked.
func (r *runner) chunks(tickets map[int64]*ticketData) [][]int64 {
	ids := keys(tickets)
	if !r.chunked() {
		return [][]int64{ids}
	}
	var out [][]int64
	var cur []int64
	for _, id := range ids {
		if id <= r.req.Resume {
			continue
		}
		cur = append(cur, id)
		if len(cur) == r.e.opts.ChunkTickets {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// entriesIn counts the entries of the tickets after ticket id after.
func entriesIn(tickets map[int64]*ticketData, after int64) int {
	n := 0
	for id, td := range tickets {
		if id > after {
			n += len(td.entries)
		}
	}
	return n
}

// chunk returns the tickets of one chunk, read from Zammad (a chunked
// run's gather only listed their entries).
func (r *runner) chunk(ctx context.Context, tickets map[int64]*ticketData, ids []int64) (map[int64]*ticketData, error) {
	if !r.chunked() {
		return tickets, nil
	}
	r.setPhase(tb.PhaseReading, -1)
	known := make(map[int64][]plan.Entry, len(ids))
	for _, id := range ids {
		known[id] = tickets[id].entries
	}
	return r.fetchTickets(ctx, ids, known, r.prefetchTickets(ctx, ids))
}

// budget returns a *Continuation when the context's deadline leaves too
// little time for another chunk: twice the last chunk's time, at least
// Options.MinChunkTime.
func (r *runner) budget(ctx context.Context) error {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	r.mu.Lock()
	need := max(2*r.lastChunk, r.e.opts.MinChunkTime)
	r.mu.Unlock()
	if time.Until(dl) < need {
		if err := r.flushRecords(ctx); err != nil {
			return err
		}
		r.mu.Lock()
		after := r.progress.After
		r.mu.Unlock()
		r.log.Info("run continues in another invocation", slog.Int64("after_ticket", after), slog.Duration("left", time.Until(dl)))
		return &Continuation{After: after, Part: r.nextPart()}
	}
	return nil
}

// writes counts the Kimai writes in c.
func writes(c tb.Counts) int { return c.Created + c.Updated + c.Deleted }

// nextPart is the part number of the invocation that continues the run.
func (r *runner) nextPart() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progress.Invocations + 1
}

// chunkDone notes that every ticket up to last is done: at once when its
// records are written, else once they are (flushRecords).
func (r *runner) chunkDone(last int64, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unwritten.len() == 0 {
		r.progress.After = last
		r.markWrittenLocked() // its counts are past the progress point now
	} else {
		r.unwritten.after = last
	}
	r.lastChunk = took
	r.progress.Stalls = 0
}

// cutOff is the error of a run stopped by err. A chunked run whose context
// ended (the invocation's deadline) continues after its last finished
// chunk; the entries it finished in the chunk it was cut off in are linked,
// so the next invocation finds them unchanged. A chunk that never gets
// anywhere in Options.MaxStalls invocations in a row fails the run as a
// timeout instead of continuing forever. What the chunks after the last
// progress point counted is taken back (rollback): they are done again.
func (r *runner) cutOff(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	var c *Continuation
	if errors.As(err, &c) {
		return err
	}
	r.mu.Lock()
	after := r.progress.After
	// Progress is what the next invocation need not do again: chunks
	// whose records are written, or entries written to Kimai.
	if after > r.req.Resume || writes(r.counts) > r.writesAtStart {
		r.progress.Stalls = 0
	} else {
		r.progress.Stalls++
	}
	stalled := r.progress.Stalls >= r.e.opts.MaxStalls
	r.mu.Unlock()
	if r.chunked() && !stalled {
		r.rollback()
		return &Continuation{After: after, Part: r.nextPart()}
	}
	return apperr.Wrap(ctx.Err(), apperr.Timeout, "engine: apply",
		"The run ran out of time before finishing; it is retried and continues where it stopped.")
}

// keepOutcomes adds the outcomes of the chunk just applied to the run's,
// up to MaxOutcomes (then failures and conflicts only).
func (r *runner) keepOutcomes() {
	for _, o := range r.outcomes {
		if len(r.kept) < MaxOutcomes || o.Outcome == tb.OutcomeFailed || o.Outcome == tb.OutcomeConflict {
			r.kept = append(r.kept, o)
		} else {
			r.dropped++
		}
	}
	r.outcomes = nil
}

// resume continues the record of a range run that stopped in an earlier
// invocation (a continuation message, or the redelivered message of an
// invocation that was killed): its counts, outcomes and errors so far, and
// the point after which to go on. It reports false for a message that is
// stale: a part of the run that a later part already followed (SQS
// delivered a continuation twice), or a continuation of a run that has
// ended; such a message must not touch the record.
func (e *Engine) resume(ctx context.Context, req *Request, run *tb.Run, r *runner) bool {
	if req.Mode != tb.ModeRange || req.DryRun {
		return true
	}
	prev, err := e.store.GetRun(ctx, req.RunID)
	if err != nil || prev.ProfileID != req.ProfileID {
		return true // a new run (a failed read only costs starting over)
	}
	if prev.Status != tb.RunRunning || prev.Progress == nil {
		return req.Part == 0 && req.Resume == 0
	}
	if req.Part < prev.Progress.Invocations {
		return false
	}
	req.Resume = max(req.Resume, prev.Progress.After)
	r.counts, r.itemErrors, r.kept = prev.Counts, prev.ItemErrors, prev.Outcomes
	r.progress.After, r.progress.Done, r.progress.Total = req.Resume, prev.Progress.Done, prev.Progress.Total
	r.progress.Invocations = req.Part
	r.progress.Stalls = prev.Progress.Stalls
	r.markWritten() // a cut before the first chunk takes back to these counts
	// The record stored at the start must keep all of it: this invocation
	// may be killed before it stores anything else.
	run.QueuedAt, run.StartedAt = prev.QueuedAt, prev.StartedAt
	run.Counts, run.ItemErrors, run.Outcomes = prev.Counts, prev.ItemErrors, prev.Outcomes
	run.Progress = &tb.Progress{Phase: tb.PhaseReading, After: req.Resume, Done: prev.Progress.Done, Total: prev.Progress.Total,
		Invocations: req.Part, Stalls: prev.Progress.Stalls, UpdatedAt: e.now()}
	return true
}

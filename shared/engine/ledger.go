package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// RecordStore is the store part that keeps the reconciliation report's
// entry records.
type RecordStore interface {
	WriteRecords(ctx context.Context, puts, dels []tb.EntryRecord) error
	TicketRecords(ctx context.Context, pid string, ticketID int64) ([]tb.EntryRecord, error)
	AllRecords(ctx context.Context, pid string) ([]tb.EntryRecord, error)
	EachRecords(ctx context.Context, pid string, fn func([]tb.EntryRecord) error) error
	Observed(ctx context.Context, pid string) (time.Time, error)
	SetObserved(ctx context.Context, pid string, at time.Time) error
}

// manyTickets: above this many tickets a run reads all of a profile's
// records with one Query instead of one Query per ticket.
const manyTickets = 64

// keepRecords brings the report's records of the plan's entries up to date
// with the outcomes of this run, writing only records whose content
// changed. It returns the tickets whose records changed.
func (r *runner) keepRecords(ctx context.Context, p plan.Plan) (map[int64]bool, error) {
	tickets := map[int64]bool{}
	for _, c := range p.Changes {
		tickets[c.TicketID] = true
	}
	prev, err := r.loadRecords(ctx, tickets)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	agents := maps.Clone(r.names.Agents)
	r.mu.Unlock()
	in := plan.RecordInput{ProfileID: r.profile.ID, MinutesPerUnit: r.profile.MinutesPerUnit, Loc: r.loc, Catalog: r.catalog, Agents: agents}
	var puts, dels []tb.EntryRecord
	changed := map[int64]bool{}
	for i, c := range p.Changes {
		if i >= len(r.outcomes) || r.outcomes[i].Outcome == "" {
			continue
		}
		old, had := prev[c.EntryID]
		var op *tb.EntryRecord
		if had {
			op = &old
		}
		rec, ok := plan.Record(in, c, r.outcomes[i], op)
		switch {
		case ok && (!had || rec != old):
			puts = append(puts, rec)
			changed[rec.TicketID] = true
			if had && (old.TicketID != rec.TicketID || old.Day != rec.Day) {
				dels = append(dels, old) // moved by a ticket merge, or to another day
				changed[old.TicketID] = true
			}
		case !ok && had:
			dels = append(dels, old)
			changed[old.TicketID] = true
		}
	}
	r.nameAgents(ctx, puts)
	if len(puts)+len(dels) == 0 {
		return changed, nil
	}
	if r.chunked() {
		// Written with those of the next chunks (Options.RecordBatch).
		r.unwritten.puts = append(r.unwritten.puts, puts...)
		r.unwritten.dels = append(r.unwritten.dels, dels...)
		return changed, nil
	}
	if err := r.records().WriteRecords(ctx, puts, dels); err != nil {
		return nil, fmt.Errorf("engine: write report records: %w", err)
	}
	return changed, nil
}

// A chunked run holds its chunks' records and writes them
// Options.RecordBatch at a time (default 20,000). Its chunks' tickets are
// consecutive, but their entries may fall on any day of the range, and
// every write rewrites the day buckets it touches (store.WriteRecords):
// written after every chunk of a year's backfill, each of the 365 day
// buckets would be rewritten once per chunk, ever larger. 20,000 records
// are a few MB, and one rewrite per five chunks of 4,000 entries.

// unwrittenRecords are the records of a chunked run's finished chunks not
// yet written, and the last ticket of those chunks.
type unwrittenRecords struct {
	puts, dels []tb.EntryRecord
	after      int64
}

func (u unwrittenRecords) len() int { return len(u.puts) + len(u.dels) }

// flushRecords writes the records a chunked run holds; then its progress
// moves past the chunks they came from. Cut off by the deadline, it
// returns the context's error: those chunks are done again (their entries
// are linked and unchanged, and their records are rebuilt).
func (r *runner) flushRecords(ctx context.Context) error {
	u := r.unwritten
	if u.len() > 0 {
		if err := r.records().WriteRecords(ctx, u.puts, u.dels); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.itemError(0, 0, time.Time{}, fmt.Errorf("engine: write report records: %w", err))
		}
	}
	r.unwritten = unwrittenRecords{}
	if u.after != 0 {
		r.mu.Lock()
		r.progress.After = u.after
		r.mu.Unlock()
	}
	r.markWritten()
	return nil
}

// tally is what a chunked run had counted and kept when its progress last
// moved: the chunks after that point are done again by the next
// invocation, so what they counted is taken back (rollback) lest it count
// twice. Their writes happened and are not counted again: an entry this
// run already created or changed is unchanged when done again (apply).
type tally struct {
	counts                    tb.Counts
	kept, dropped, itemErrors int
}

// markWritten notes the run's tally at its progress point.
func (r *runner) markWritten() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.markWrittenLocked()
}

// markWrittenLocked is markWritten for callers holding r.mu.
func (r *runner) markWrittenLocked() {
	r.written = tally{counts: r.counts, kept: len(r.kept), dropped: r.dropped, itemErrors: len(r.itemErrors)}
	r.written.counts.ErrorsByClass = maps.Clone(r.counts.ErrorsByClass)
}

// rollback takes back what the chunks after the progress point counted
// and kept but for their writes.
func (r *runner) rollback() {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.written
	n := &r.counts
	n.Seen, n.Unchanged, n.Skipped = w.counts.Seen, w.counts.Unchanged, w.counts.Skipped
	n.Errors, n.ErrorsByClass = w.counts.Errors, maps.Clone(w.counts.ErrorsByClass)
	r.kept, r.dropped = r.kept[:min(w.kept, len(r.kept))], w.dropped
	r.itemErrors = r.itemErrors[:min(w.itemErrors, len(r.itemErrors))]
}

func (r *runner) records() RecordStore { return r.e.store }

// loadRecords reads the stored records of the given tickets, by entry.
func (r *runner) loadRecords(ctx context.Context, tickets map[int64]bool) (map[int64]tb.EntryRecord, error) {
	if len(tickets) > manyTickets && !r.chunked() {
		// A chunk of a backfill reads its own tickets' buckets: all of
		// the profile's grow with every chunk.
		return r.allRecords(ctx)
	}
	out := map[int64]tb.EntryRecord{}
	var mu sync.Mutex
	err := forEach(ctx, r.e.opts.ReadConcurrency, keys(tickets), func(ctx context.Context, t int64) error {
		recs, err := r.records().TicketRecords(ctx, r.profile.ID, t)
		if err != nil {
			return fmt.Errorf("engine: read report records of ticket %d: %w", t, err)
		}
		mu.Lock()
		for _, rec := range recs {
			out[rec.EntryID] = rec
		}
		mu.Unlock()
		return nil
	})
	return out, err
}

// nameAgents fills in agent names the run did not read (user mapping by
// token): people report by name. Each unknown agent is read once.
func (r *runner) nameAgents(ctx context.Context, recs []tb.EntryRecord) {
	missing := map[int64]bool{}
	for _, rec := range recs {
		if rec.Agent == "" && rec.AgentID != 0 {
			missing[rec.AgentID] = true
		}
	}
	if len(missing) == 0 {
		return
	}
	names := map[int64]string{}
	var mu sync.Mutex
	_ = forEach(ctx, r.e.opts.ReadConcurrency, keys(missing), func(ctx context.Context, id int64) error {
		u, err := r.z.User(ctx, id)
		if err != nil {
			r.log.Warn("read agent name", slog.Int64("agent_id", id), slog.String("err", err.Error()))
			return nil
		}
		mu.Lock()
		names[id] = u.FullName()
		mu.Unlock()
		return nil
	})
	r.mu.Lock()
	for id, n := range names {
		r.names.Agents[id] = plan.Agent{ID: id, Name: n}
	}
	r.mu.Unlock()
	for i := range recs {
		if n, ok := names[recs[i].AgentID]; ok && recs[i].Agent == "" {
			recs[i].Agent = n
		}
	}
}

// observeMargin re-reads this much before the last observation: Kimai's
// clock and ours differ, and modified_after compares Kimai's.
const observeMargin = 2 * time.Minute

// observeChanges reads the Timebridge timesheets Kimai changed since the last
// observation (an edit, an export, an un-export) and records what Kimai
// holds in the report's records. It returns the tickets whose records
// changed. A profile observed for the first time is read over its deletion
// window. The Kimai listing may have been started already (listChanges).
func (r *runner) observeChanges(ctx context.Context) (map[int64]bool, error) {
	if r.changes == nil {
		r.listChanges(ctx)
	}
	got := <-r.changes
	r.changes = nil
	if got.err != nil {
		return nil, got.err
	}
	started, seen := got.started, got.seen
	changed := map[int64]bool{}
	if len(seen) > 0 {
		var puts []tb.EntryRecord
		err := r.eachRecordOf(ctx, keys(seen), func(rec tb.EntryRecord) {
			s := seen[rec.EntryID]
			if s.id != rec.TimesheetID {
				return // not the timesheet Timebridge keeps for it
			}
			next := rec
			next.Kimai, next.Exported, next.KimaiGone = s.duration, s.exported, false
			if next != rec {
				puts = append(puts, next)
				changed[rec.TicketID] = true
			}
		})
		if err != nil {
			return nil, err
		}
		if len(puts) > 0 {
			if err := r.records().WriteRecords(ctx, puts, nil); err != nil {
				return nil, fmt.Errorf("engine: write observed records: %w", err)
			}
		}
	}
	if err := r.records().SetObserved(ctx, r.profile.ID, started); err != nil {
		return nil, fmt.Errorf("engine: record observation: %w", err)
	}
	return changed, nil
}

// kimaiChanges is what Kimai changed since the last observation.
type kimaiChanges struct {
	started time.Time
	seen    map[int64]kimaiHolds // by entry
	err     error
}

// listChanges starts reading the Timebridge timesheets Kimai changed since
// the last observation, in the background, into r.changes. The run starts
// it as soon as its last write is done, so that the listing overlaps
// keeping the last records (it does not depend on them; observeChanges,
// which compares the two, waits for both).
func (r *runner) listChanges(ctx context.Context) {
	out := make(chan kimaiChanges, 1)
	r.changes = out
	go func() {
		got := kimaiChanges{started: r.e.now(), seen: map[int64]kimaiHolds{}}
		since, err := r.records().Observed(ctx, r.profile.ID)
		if err != nil {
			out <- kimaiChanges{err: fmt.Errorf("engine: read last observation: %w", err)}
			return
		}
		if since.IsZero() {
			since = got.started.AddDate(0, 0, -r.profile.DeletionWindowDays)
		} else {
			since = since.Add(-observeMargin)
		}
		err = r.k.ListTimesheets(ctx, kimai.TimesheetFilter{Term: "TB-" + r.instance, User: kimai.UserAll, ModifiedAfter: since},
			func(page []tb.Timesheet) error {
				for _, s := range page {
					if inst, id, ok := plan.ParseMarker(s.Description); ok && inst == r.instance {
						got.seen[id] = kimaiHolds{id: s.ID, duration: s.Duration, exported: s.Exported}
					}
				}
				return nil
			})
		if err != nil {
			got.err = fmt.Errorf("engine: list timesheets modified since %s: %w", since.UTC().Format(time.RFC3339), err)
		}
		out <- got
	}()
}

// kimaiHolds is what an observation keeps of a timesheet (100,000 of them
// after a backfill).
type kimaiHolds struct {
	id, duration int64
	exported     bool
}

// eachRecordOf calls fn with the stored record of each of the given
// entries that has one: through their links (which name the ticket) when
// they are few, else by going through all records (after a backfill,
// 100,000 of them: never all held at once).
func (r *runner) eachRecordOf(ctx context.Context, entries []int64, fn func(tb.EntryRecord)) error {
	if len(entries) > manyTickets {
		want := make(map[int64]bool, len(entries))
		for _, e := range entries {
			want[e] = true
		}
		err := r.records().EachRecords(ctx, r.profile.ID, func(recs []tb.EntryRecord) error {
			for _, rec := range recs {
				if want[rec.EntryID] {
					fn(rec)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("engine: read report records: %w", err)
		}
		return nil
	}
	tickets := map[int64]bool{}
	var mu sync.Mutex
	err := forEach(ctx, r.e.opts.ReadConcurrency, entries, func(ctx context.Context, e int64) error {
		l, err := r.e.store.GetLink(ctx, r.profile.ID, 0, e)
		if apperr.Is(err, apperr.NotFound) {
			return nil // not synced by this profile
		}
		if err != nil {
			return fmt.Errorf("engine: read link of entry %d: %w", e, err)
		}
		mu.Lock()
		tickets[l.TicketID] = true
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	byEntry, err := r.loadRecords(ctx, tickets)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if rec, ok := byEntry[e]; ok {
			fn(rec)
		}
	}
	return nil
}

// allRecords reads every record of the profile, by entry.
func (r *runner) allRecords(ctx context.Context) (map[int64]tb.EntryRecord, error) {
	all, err := r.records().AllRecords(ctx, r.profile.ID)
	if err != nil {
		return nil, fmt.Errorf("engine: read report records: %w", err)
	}
	out := make(map[int64]tb.EntryRecord, len(all))
	for _, rec := range all {
		out[rec.EntryID] = rec
	}
	return out, nil
}

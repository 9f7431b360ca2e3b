package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Scope: the plan input, i.e. the desired state of the entries in scope,
// their stored links and conflicts, and what Kimai holds for them.

// planInput assembles desired state, links, conflicts, recovered pending
// records and Kimai observations.
func (r *runner) planInput(ctx context.Context, tickets map[int64]*ticketData, scanned map[int64]bool) (plan.Input, error) {
	in := plan.Input{Links: map[int64]tb.Link{}, Conflicts: map[int64]tb.Conflict{}, Observed: map[int64]plan.Observation{}, Force: r.req.force}
	res := r.lookup()
	ids := keys(tickets)

	// Every stored link the run may act on: all of the profile's in a full
	// run (deletions are found among them), else those of the tickets in
	// scope.
	var all []tb.Link
	if scanned != nil {
		var err error
		if all, err = r.allLinks(ctx); err != nil {
			return in, err
		}
	} else {
		var mu sync.Mutex
		err := forEach(ctx, r.e.opts.ReadConcurrency, ids, func(ctx context.Context, tid int64) error {
			ls, err := r.e.store.LinksByTicket(ctx, r.profile.ID, tid)
			if err != nil {
				return fmt.Errorf("engine: load links of ticket %d: %w", tid, err)
			}
			mu.Lock()
			all = append(all, ls...)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return in, err
		}
	}
	r.countUntallied(ctx, all)
	byEntry := make(map[int64]tb.Link, len(all))
	for _, l := range all {
		byEntry[l.EntryID] = l
	}

	desire := func(td *ticketData) []plan.Desired {
		return plan.Desire(plan.DesireInput{Profile: r.profile, Instance: r.instance, Location: r.loc, Ticket: td.ticket,
			Entries: td.entries, Lookup: res, DryRun: r.req.DryRun})
	}
	if r.req.Mode == tb.ModeFull || r.req.Mode == tb.ModeRange {
		if err := r.rereadUnsettled(ctx, tickets, byEntry, desire); err != nil {
			return in, err
		}
		ids = keys(tickets)
	}

	present := map[int64]bool{}
	for _, id := range ids {
		td := tickets[id]
		if td.gone {
			continue
		}
		ds := desire(td)
		for _, d := range ds {
			present[d.Entry.ID] = true
		}
		in.Desired = append(in.Desired, ds...)
	}
	r.bump(func(n *tb.Counts) { n.Seen += len(in.Desired) })

	// Links of the entries in scope, plus the vanished ones.
	scope := plan.LinkScope{Mode: r.req.Mode, Present: present, Scanned: scanned,
		DeleteAfter: r.e.now().AddDate(0, 0, -r.profile.DeletionWindowDays)}
	if scanned == nil {
		scope.Gone = make(map[int64]bool, len(tickets))
		for id, td := range tickets {
			scope.Gone[id] = td.gone
		}
	}
	classes := plan.ClassifyLinks(all, scope)
	in.Links, r.strays = classes.InScope, classes.Strays
	vanished := classes.Vanished
	if scanned != nil && len(vanished) > 0 {
		// Offset-paged lists can skip a row when another is deleted during
		// the scan: confirm each vanished entry against its ticket before
		// deleting anything.
		confirmed, err := r.confirmVanished(ctx, vanished)
		if err != nil {
			return in, err
		}
		vanished = confirmed
	}
	in.Vanished = vanished

	if scanned == nil {
		if err := r.refreshLinks(ctx, &in); err != nil {
			return in, err
		}
	}

	conflicts, err := r.e.store.ListConflicts(ctx, r.profile.ID, tb.ConflictOpen)
	if err != nil {
		return in, fmt.Errorf("engine: load conflicts: %w", err)
	}
	for _, c := range conflicts {
		in.Conflicts[c.EntryID] = c
	}

	if !r.req.DryRun {
		if err := r.recoverPending(ctx, &in); err != nil {
			return in, err
		}
	}

	covered := func(plan.Desired) bool { return false }
	if r.req.Mode == tb.ModeFull {
		from := r.e.now().AddDate(0, 0, -r.profile.DeletionWindowDays-1)
		if err := r.observeKimai(ctx, &in, from); err != nil {
			return in, err
		}
		covered = func(d plan.Desired) bool { return d.Sheet.Begin.After(from.Add(plan.OrphanMargin)) }
	}
	if !r.req.DryRun {
		if err := r.findOrphans(ctx, &in, covered); err != nil {
			return in, err
		}
	}

	// What a listing already showed (full runs, adopted orphans) needs no
	// second read.
	need := slices.DeleteFunc(plan.NeedsObservation(in), func(id int64) bool { _, ok := in.Observed[id]; return ok })
	var mu sync.Mutex
	err = forEach(ctx, r.e.opts.ReadConcurrency, need, func(ctx context.Context, id int64) error {
		obs, err := r.observe(ctx, id)
		if err != nil {
			return err
		}
		mu.Lock()
		in.Observed[id] = obs
		mu.Unlock()
		return nil
	})
	if err != nil {
		return in, err
	}
	sort.Slice(in.Vanished, func(i, j int) bool { return in.Vanished[i].EntryID < in.Vanished[j].EntryID })
	return in, nil
}

// secondPassCheaper reports whether scanning all entries again (pages
// requests, all rows) costs less than reading the tickets one by one
// (tickets requests, rows rows): fewer requests, and not much more to
// read. A first sync reads as many rows either way, in 11 requests instead
// of 500; a backfill's chunk of 200 tickets would read a year's entries
// again for 4,000 of its own.
func secondPassCheaper(tickets, rows, pages, scanned int) bool {
	return pages < tickets && scanned <= 2*rows
}

// rereadUnsettled re-reads, from the ticket itself, the entries of every
// ticket the run would act on. Full and range runs take entries from one
// offset-paged list of all entries, and a row deleted in Zammad during that
// scan shifts another onto a page already read: its ticket would be netted
// from incomplete data (an unchanged timesheet rewritten or deleted, a false
// unmatched_negative). A ticket whose every entry already matches its link
// is left alone, so an unchanged re-run costs no extra reads; a ticket that
// vanished meanwhile is left to the next run. When a second scan that
// proves the first one complete (scanHeld) is cheaper (secondPassCheaper:
// a first sync), nothing is re-read unless it finds a row gone.
func (r *runner) rereadUnsettled(ctx context.Context, tickets map[int64]*ticketData, links map[int64]tb.Link, desire func(*ticketData) []plan.Desired) error {
	var todo []int64
	rows := 0 // the entries of the tickets in todo
	for _, id := range keys(tickets) {
		td := tickets[id]
		if td.gone {
			continue
		}
		for _, d := range desire(td) {
			if !plan.Settled(d, links[d.Entry.ID]) {
				todo = append(todo, id)
				rows += len(td.entries)
				break
			}
		}
	}
	if secondPassCheaper(len(todo), rows, r.scan.pages, len(r.scan.ids)) {
		held, err := r.scanHeld(ctx)
		if err != nil {
			return err
		}
		if held {
			return nil
		}
	}
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, todo, func(ctx context.Context, id int64) error {
		zs, err := r.z.TicketEntries(ctx, id)
		mu.Lock()
		defer mu.Unlock()
		if apperr.Is(err, apperr.NotFound) {
			delete(tickets, id)
			return nil
		}
		if err != nil {
			return fmt.Errorf("engine: zammad ticket %d entries: %w", id, err)
		}
		entries := make([]plan.Entry, 0, len(zs))
		for _, e := range zs {
			entries = append(entries, fromZammad(e))
		}
		tickets[id].entries = entries
		return nil
	})
}

// countUntallied brings synced links written before the summary existed
// (they carry no tally) into it: writing a link's own content again adds
// its tally, exactly once, because the write is conditional on the stored
// link having none. links is updated in place, so that later writes of
// this run start from the new versions. Dry runs write nothing.
func (r *runner) countUntallied(ctx context.Context, links []tb.Link) {
	if r.req.DryRun {
		return
	}
	for i, l := range links {
		if l.State != tb.LinkSynced || l.TimesheetID == 0 || l.Tally != nil {
			continue
		}
		saved, err := r.putLink(ctx, l, &links[i])
		if err != nil {
			// Counted by a later run; the link itself is unchanged.
			r.log.Warn("count link in summary", slog.Int64("entry_id", l.EntryID), slog.String("err", err.Error()))
			continue
		}
		links[i] = saved
	}
}

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/zammad"
)

// Reads a full run starts ahead of the step that needs them, so that they
// overlap other reads: the profile's links load from DynamoDB while the
// entry scan pages through Zammad, and the scan's second pass (scanHeld)
// runs while tickets, names and the catalog are read, when the run will
// certainly want it. Both are plain reads whose results are used later
// exactly as if they had been made then; starting them early changes only
// when the time is spent.

// future is a result computed in the background.
type future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// goFuture starts f in the background.
func goFuture[T any](f func() (T, error)) *future[T] {
	fu := &future[T]{done: make(chan struct{})}
	go func() {
		defer close(fu.done)
		fu.val, fu.err = f()
	}()
	return fu
}

// wait returns the result once there is one, or the cause of ctx's end.
func (f *future[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// loadLinksAhead starts reading all of the profile's links (a full run
// needs them all: deletions are found among them).
func (r *runner) loadLinksAhead(ctx context.Context) {
	r.links = goFuture(func() ([]tb.Link, error) {
		var all []tb.Link
		err := r.e.store.Links(ctx, r.profile.ID, func(ls []tb.Link) error {
			all = append(all, ls...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("engine: load links: %w", err)
		}
		return all, nil
	})
}

// allLinks returns all of the profile's links, from the read started ahead
// if there is one.
func (r *runner) allLinks(ctx context.Context) ([]tb.Link, error) {
	if r.links == nil {
		r.loadLinksAhead(ctx)
	}
	return r.links.wait(ctx)
}

// entryScan is what a run keeps of its scan of all entries: which rows it
// listed, over how many pages, and the second pass that tells whether it
// skipped any (started once, by verifyScan).
type entryScan struct {
	ids    map[int64]bool
	pages  int
	once   sync.Once
	second *future[bool]
}

// scanOptions lists all entries in id order, oldest first: new rows come
// last, so only a deletion shifts rows onto pages already read.
func scanOptions(perPage int) zammad.ListEntriesOptions {
	return zammad.ListEntriesOptions{SortBy: "id", OrderBy: "asc", PerPage: perPage}
}

// verifyScan starts the scan's second pass, once.
func (r *runner) verifyScan(ctx context.Context) {
	r.scan.once.Do(func() {
		r.scan.second = goFuture(func() (bool, error) { return r.rescan(ctx) })
	})
}

// scanHeld reports whether the run's scan of all entries listed every row
// that existed throughout it. A row is skipped only when one before it, on
// a page already read, is deleted before the next page is read; so the
// scan skipped nothing if every row it listed is still listed by a second
// scan made after it. The answer is about the first scan's data, so one
// second scan serves every chunk of a run.
func (r *runner) scanHeld(ctx context.Context) (bool, error) {
	r.verifyScan(ctx)
	return r.scan.second.wait(ctx)
}

// ZammadPageReader reads one page of the entry listing
// (zammad.Client.EntriesPage). Without it the second pass walks the pages
// one after another.
type ZammadPageReader interface {
	EntriesPage(ctx context.Context, opts zammad.ListEntriesOptions, page int) ([]zammad.Entry, error)
}

var _ ZammadPageReader = (*zammad.Client)(nil)

// rescan is the second pass. Unlike the first, it may read its pages side
// by side: a page read out of order can miss a row (a deletion shifted it),
// which only makes the run re-read tickets; it can never list a row that
// was deleted. Rows after the first pass's pages are new: not looked for.
func (r *runner) rescan(ctx context.Context) (bool, error) {
	var mu sync.Mutex
	again := make(map[int64]bool, len(r.scan.ids))
	keep := func(page []zammad.Entry) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range page {
			if r.scan.ids[e.ID] {
				again[e.ID] = true
			}
		}
	}
	opts := scanOptions(r.e.opts.ScanPageSize)
	var err error
	if pr, ok := r.z.(ZammadPageReader); ok {
		pages := make([]int, r.scan.pages)
		for i := range pages {
			pages[i] = i + 1
		}
		err = forEach(ctx, r.e.opts.ReadConcurrency, pages, func(ctx context.Context, n int) error {
			page, err := pr.EntriesPage(ctx, opts, n)
			keep(page)
			return err
		})
	} else {
		err = r.z.ListEntries(ctx, opts, func(page []zammad.Entry) (bool, error) {
			keep(page)
			return true, nil
		})
	}
	if err != nil {
		return false, fmt.Errorf("engine: list zammad entries again: %w", err)
	}
	if gone := len(r.scan.ids) - len(again); gone > 0 {
		r.log.Info("entries deleted during the scan; tickets are read one by one", slog.Int("gone", gone))
		return false, nil
	}
	return true, nil
}

// verifyAhead starts the scan's second pass right after the scan when the
// run will certainly want it (rereadUnsettled, secondPassCheaper), i.e.
// when enough tickets have time booked and none of their entries linked
// yet: a first sync. Whether such a ticket
// is unsettled depends on the mappings (an entry netted to zero, or left
// unmapped, wants nothing), so this only starts the pass early;
// rereadUnsettled decides from the exact count. It waits for the links in
// the background.
func (r *runner) verifyAhead(ctx context.Context, tickets map[int64]*ticketData) {
	if r.scan == nil || r.links == nil {
		return
	}
	var booked [][]int64 // entry ids of the tickets with time booked
	for _, td := range tickets {
		ids := make([]int64, 0, len(td.entries))
		positive := false
		for _, e := range td.entries {
			ids = append(ids, e.ID)
			positive = positive || e.Units.Sign() > 0
		}
		if positive {
			booked = append(booked, ids)
		}
	}
	if len(booked) <= r.scan.pages {
		return // too few to want it
	}
	go func() {
		links, err := r.links.wait(ctx)
		if err != nil {
			return // planInput reports it
		}
		linked := make(map[int64]bool, len(links))
		for _, l := range links {
			linked[l.EntryID] = true
		}
		n, rows := 0, 0
		for _, ids := range booked {
			if !anyOf(ids, linked) {
				n++
				rows += len(ids)
			}
		}
		if secondPassCheaper(n, rows, r.scan.pages, len(r.scan.ids)) {
			r.verifyScan(ctx)
		}
	}()
}

func anyOf(ids []int64, set map[int64]bool) bool {
	for _, id := range ids {
		if set[id] {
			return true
		}
	}
	return false
}

package engine

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/zammad"
)

// Bulk ticket reads (issue 12: cheap unchanged full re-runs).
//
// A full or range run needs the number, title, organization and group of
// every ticket with entries in its window. Reading them one by one made an
// unchanged full re-run of 10,000 entries on 500 tickets cost 500 ticket
// reads besides the 11 pages of the entry list. prefetchTickets reads them
// with Zammad's condition search instead, 200 tickets by id a request: 3
// requests for 500 tickets, fewer than the entry list a full run reads
// anyway to find deletions (a ticket has at least one entry, and the list
// holds 1000 entries a page).
//
// Why not a cache of ticket snapshots, refreshed each run by searching for
// the tickets updated since the cache was last known valid? It would make
// a re-run cost one search instead of n/200, but it serves stale data in
// ways nothing detects:
//   - Zammad limits every search to the tickets the token's user may read
//     (TicketPolicy::ReadScope). A ticket moved to a group the user cannot
//     read is updated but never found, so its cached organization and group
//     would be synced instead of today's error naming the missing access.
//   - Offset pages sorted by updated_at skip a ticket whenever a ticket of
//     an earlier page is edited during the scan (it moves to the end).
//   - updated_at is Zammad's clock and set before the transaction commits:
//     the search start is no exact "valid as of", so an overlap must be
//     guessed against clock skew and transaction length.
//
// A search by id has none of this: the answer is each ticket as Zammad
// holds it now (a condition-only search is plain SQL, never the lagging
// search index), it needs no state of its own, and every change of a
// ticket is seen by the next run. A ticket the search does not return
// (deleted, or not readable by the token's user) is read one by one as
// before, so a 404 or 403 is handled exactly as without the search.

// ZammadTicketSearcher reads many tickets by id in few requests
// (zammad.Client.TicketsByID). A ZammadAPI without it makes full runs read
// tickets one by one.
type ZammadTicketSearcher interface {
	TicketsByID(ctx context.Context, ids []int64) ([]zammad.Ticket, error)
}

var _ ZammadTicketSearcher = (*zammad.Client)(nil)

// ticketSearchBatch is how many ids one search asks for: the search's
// page cap, so that one request answers each batch.
const ticketSearchBatch = 200

// prefetchTickets reads the tickets of ids in batches, concurrently. It
// returns the tickets it found; ids it did not find are left to
// fetchTickets' one-by-one reads. A failing search (a Zammad without it,
// a token that may not search, a server error after retries, a malformed
// answer) is not an error of the run: it is logged once at warn, and the
// tickets it did not read are read one by one, as before.
func (r *runner) prefetchTickets(ctx context.Context, ids []int64) map[int64]zammad.Ticket {
	zs, ok := r.z.(ZammadTicketSearcher)
	if !ok || len(ids) < 2 {
		return nil // one ticket: a search costs as much as a read
	}
	sorted := slices.Sorted(slices.Values(ids))
	batches := slices.Collect(slices.Chunk(sorted, ticketSearchBatch))
	out := make(map[int64]zammad.Ticket, len(ids))
	var (
		mu     sync.Mutex
		failed error
	)
	_ = forEach(ctx, r.e.opts.ReadConcurrency, batches, func(ctx context.Context, batch []int64) error {
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			return nil // the search does not work: don't insist
		}
		ts, err := zs.TicketsByID(ctx, batch)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if failed == nil {
				failed = err
			}
			return nil
		}
		for _, t := range ts {
			out[t.ID] = t
		}
		return nil
	})
	if failed != nil && ctx.Err() == nil {
		r.log.Warn("zammad ticket search failed; reading the remaining tickets one by one",
			slog.String("class", string(apperr.KindOf(failed))), slog.String("err", failed.Error()),
			slog.Int("tickets", len(ids)), slog.Int("found", len(out)))
	}
	return out
}

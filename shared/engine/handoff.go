package engine

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Runs of a profile never overlap (its lease), so a burst of webhook
// deliveries for many tickets of one profile would otherwise queue up
// behind each other: every consumer that finds the profile busy would put
// its message back for a while, and the work would crawl through the
// busy-retry delays. Instead, ticket runs are handed to the lease holder:
//
//   - A ticket run that finds the profile busy is added to the profile's
//     pending set (HandOff; one atomic ADD) and its message is done.
//   - Every run that took the lease itself (a dry run too) drains the
//     pending set before it releases the lease (drainHeld), and a
//     resolution right after it released it: it takes the whole set in one atomic
//     update and carries the runs out as merged ticket runs of up to
//     MaxMerged tickets each (one profile, catalog and Kimai user lookup
//     for all of them; each queued run's record then points to the run
//     that did its work).
//   - After releasing, the run checks the set once more with a strongly
//     consistent read and drains it again if the lease is free
//     (afterRelease). A hand-off adds to the set before it tries the lease,
//     so either it gets the lease and drains itself, or the holder it lost
//     to releases later and sees the addition: nothing is stranded while
//     runs finish normally. A set left behind by a crashed holder is
//     drained by the next run of the profile (at the latest the scheduled
//     tick), whose incremental scan also covers those tickets anyway.
//
// A merged run that fails transiently puts its runs back into the set for
// the next holder, as the queue would have redelivered them.

// MaxMerged bounds the tickets one merged ticket run covers.
const MaxMerged = 50

// tickets are the run's tickets: TicketID first, then the merged runs'
// and the extra tickets, each once.
func (req Request) tickets() []int64 {
	ids := []int64{req.TicketID}
	seen := map[int64]bool{req.TicketID: true}
	for _, m := range req.Merged {
		if !seen[m.TicketID] {
			seen[m.TicketID] = true
			ids = append(ids, m.TicketID)
		}
	}
	for _, t := range req.Extra {
		if t > 0 && !seen[t] {
			seen[t] = true
			ids = append(ids, t)
		}
	}
	return ids
}

// HandOff gives queued ticket runs of a busy profile to the run holding
// its lease (see above). It returns once they are in the pending set; if
// the lease is free by then, it carries them out itself first. An error
// means they were not handed over (the caller keeps its messages).
func (e *Engine) HandOff(ctx context.Context, profileID string, runs []store.PendingRun) error {
	if err := e.store.AddPending(ctx, profileID, runs); err != nil {
		return err
	}
	e.drain(ctx, profileID)
	return nil
}

// afterRelease drains the pending set if something was added while the
// lease was held and the set was already drained.
func (e *Engine) afterRelease(ctx context.Context, profileID string) {
	if ctx.Err() != nil {
		return
	}
	more, err := e.store.HasPending(ctx, profileID)
	if err != nil {
		e.log.Warn("read pending ticket runs", slog.String("profile_id", profileID), slog.String("err", err.Error()))
		return
	}
	if more {
		e.drain(ctx, profileID)
	}
}

// drain takes the lease, if it is free, and carries out the pending ticket
// runs, again after releasing as long as more arrived meanwhile.
func (e *Engine) drain(ctx context.Context, profileID string) {
	log := e.log.With(slog.String("profile_id", profileID))
	for ctx.Err() == nil {
		l, release, err := e.takeLease(ctx, profileID, ident.New(e.now())+"/drain", log)
		if errors.Is(err, ErrBusy) {
			return // the holder drains
		}
		if err != nil {
			log.Warn("drain pending ticket runs", slog.String("err", err.Error()))
			return
		}
		lctx, stop := e.keepLease(ctx, profileID, l, log)
		ok := e.drainHeld(lctx, profileID, l, log)
		stop()
		release()
		if !ok {
			return // failing now: the next holder retries
		}
		more, err := e.store.HasPending(ctx, profileID)
		if err != nil || !more {
			return
		}
	}
}

// drainHeld carries out the pending ticket runs under the held lease until
// the set is empty; false when it stopped early (ctx ended, a store error,
// or a merged run failed transiently), with the unfinished runs put back.
func (e *Engine) drainHeld(ctx context.Context, profileID string, held *lease, log *slog.Logger) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		runs, err := e.store.TakePending(ctx, profileID)
		if err != nil {
			log.Warn("take pending ticket runs", slog.String("err", err.Error()))
			return false
		}
		if len(runs) == 0 {
			return true
		}
		for len(runs) > 0 {
			if ctx.Err() != nil {
				e.putBack(ctx, profileID, runs, log)
				return false
			}
			n := min(len(runs), MaxMerged)
			req := e.mergedRequest(ctx, profileID, runs[:n])
			if _, err := e.run(ctx, req, held); err != nil && !apperr.Permanent(err) {
				log.Warn("merged ticket run failed: its runs go back to the pending set",
					slog.String("run_id", req.RunID), slog.Int("runs", len(runs)), slog.String("err", err.Error()))
				e.putBack(ctx, profileID, runs, log)
				return false
			}
			runs = runs[n:]
		}
	}
}

// mergedRequest is one run carrying out chunk: the first queued run's
// record (trigger, requester, queue time) is the one that runs.
func (e *Engine) mergedRequest(ctx context.Context, profileID string, chunk []store.PendingRun) Request {
	lead := chunk[0]
	req := Request{RunID: lead.RunID, ProfileID: profileID, Mode: tb.ModeTicket, TicketID: lead.TicketID,
		Merged: chunk[1:], Trigger: "webhook", Actor: "webhook"}
	if rec, err := e.store.GetRun(ctx, lead.RunID); err == nil {
		req.Trigger, req.Actor, req.QueuedAt = rec.Trigger, rec.Requester, rec.QueuedAt
	}
	return req
}

func (e *Engine) putBack(ctx context.Context, profileID string, runs []store.PendingRun, log *slog.Logger) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.store.AddPending(pctx, profileID, runs); err != nil {
		log.Error("put pending ticket runs back: the next incremental run covers their tickets",
			slog.Int("runs", len(runs)), slog.String("err", err.Error()))
	}
}

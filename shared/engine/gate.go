package engine

import (
	"context"

	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// The write concurrency a profile sets is the number of Kimai requests in
// flight, not the number of entries being worked on. An entry's create is
// a DynamoDB claim, the Kimai POST and a DynamoDB link write; with one
// worker per Kimai slot, every slot would sit idle during both DynamoDB
// writes (a fifth of the time at 10 ms Kimai latency). So apply runs more
// workers than slots (workersPerSlot) and the slots gate only the Kimai
// requests: Kimai sees exactly the configured concurrency, kept busy while
// other workers write their claims and links.

// workersPerSlot is how many entry workers apply runs per Kimai slot. Two
// keep the slots full as long as the DynamoDB part of an entry takes no
// longer than its Kimai part.
const workersPerSlot = 2

// gate admits Kimai requests.
type gate interface {
	acquire(ctx context.Context) error
	release()
}

// slots is a fixed gate of n requests in flight.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, max(1, n)) }

func (s slots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s slots) release() { <-s }

// gatedKimai passes the timesheet requests of a run through its gate (the
// catalog and user reads happen once per run, before any write).
type gatedKimai struct {
	KimaiAPI
	g gate
}

var _ KimaiAPI = gatedKimai{}

func (k gatedKimai) Timesheet(ctx context.Context, id int64) (tb.Timesheet, error) {
	if err := k.g.acquire(ctx); err != nil {
		return tb.Timesheet{}, err
	}
	defer k.g.release()
	return k.KimaiAPI.Timesheet(ctx, id)
}

// ListTimesheets holds one slot for the whole listing: its pages are read
// one after the other.
func (k gatedKimai) ListTimesheets(ctx context.Context, f kimai.TimesheetFilter, fn func([]tb.Timesheet) error) error {
	if err := k.g.acquire(ctx); err != nil {
		return err
	}
	defer k.g.release()
	return k.KimaiAPI.ListTimesheets(ctx, f, fn)
}

func (k gatedKimai) CreateTimesheet(ctx context.Context, in kimai.TimesheetInput) (tb.Timesheet, error) {
	if err := k.g.acquire(ctx); err != nil {
		return tb.Timesheet{}, err
	}
	defer k.g.release()
	return k.KimaiAPI.CreateTimesheet(ctx, in)
}

func (k gatedKimai) UpdateTimesheet(ctx context.Context, id int64, in kimai.TimesheetInput) (tb.Timesheet, error) {
	if err := k.g.acquire(ctx); err != nil {
		return tb.Timesheet{}, err
	}
	defer k.g.release()
	return k.KimaiAPI.UpdateTimesheet(ctx, id, in)
}

func (k gatedKimai) DeleteTimesheet(ctx context.Context, id int64) error {
	if err := k.g.acquire(ctx); err != nil {
		return err
	}
	defer k.g.release()
	return k.KimaiAPI.DeleteTimesheet(ctx, id)
}

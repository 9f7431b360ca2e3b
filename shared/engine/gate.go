package engine

import (
	"context"
	"sync"

	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// The write concurrency a profile sets (its pace, fixed or adaptive, up to
// Profile.Concurrency) bounds the Kimai requests in flight, not the
// entries being worked on. An entry's create is a DynamoDB claim, the Kimai
// POST and a DynamoDB link write; with one worker per Kimai slot, every
// slot would sit idle during both DynamoDB writes (a fifth of the time at
// 10 ms Kimai latency). So apply runs more workers than slots
// (workersPerSlot) and the gate admits only the Kimai requests: Kimai sees
// exactly the pace's concurrency, kept busy while other workers write
// their claims and links. Outside apply (reading, observing) the gate is a
// fixed number of slots; during apply it is the pace's limiter (pace.go).

// workersPerSlot is how many entry workers apply runs per Kimai slot. Two
// keep the slots full as long as the DynamoDB part of an entry takes no
// longer than its Kimai part.
const workersPerSlot = 2

// gate admits Kimai requests; release ends one.
type gate interface {
	acquire(ctx context.Context) (release func(), err error)
}

// slots is a fixed gate of n requests in flight.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, max(1, n)) }

func (s slots) acquire(ctx context.Context) (func(), error) {
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// switchGate is the run's gate: its current gate can be replaced while
// requests are in flight (each releases where it was admitted).
type switchGate struct {
	mu sync.Mutex
	g  gate
}

func (s *switchGate) acquire(ctx context.Context) (func(), error) {
	s.mu.Lock()
	g := s.g
	s.mu.Unlock()
	return g.acquire(ctx)
}

// use makes g the gate for new requests and returns the previous one.
func (s *switchGate) use(g gate) gate {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.g
	s.g = g
	return prev
}

// gatedKimai passes the timesheet requests of a run through its gate (the
// catalog and user reads happen once per run, before any write).
type gatedKimai struct {
	KimaiAPI
	g gate
}

var _ KimaiAPI = gatedKimai{}

// gated calls f once g admits it.
func gated[T any](ctx context.Context, g gate, f func() (T, error)) (T, error) {
	release, err := g.acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer release()
	return f()
}

func (k gatedKimai) Timesheet(ctx context.Context, id int64) (tb.Timesheet, error) {
	return gated(ctx, k.g, func() (tb.Timesheet, error) { return k.KimaiAPI.Timesheet(ctx, id) })
}

// ListTimesheets holds one slot for the whole listing (its read-ahead
// pages are the listing's own business).
func (k gatedKimai) ListTimesheets(ctx context.Context, f kimai.TimesheetFilter, fn func([]tb.Timesheet) error) error {
	_, err := gated(ctx, k.g, func() (struct{}, error) { return struct{}{}, k.KimaiAPI.ListTimesheets(ctx, f, fn) })
	return err
}

func (k gatedKimai) CreateTimesheet(ctx context.Context, in kimai.TimesheetInput) (tb.Timesheet, error) {
	return gated(ctx, k.g, func() (tb.Timesheet, error) { return k.KimaiAPI.CreateTimesheet(ctx, in) })
}

func (k gatedKimai) UpdateTimesheet(ctx context.Context, id int64, in kimai.TimesheetInput) (tb.Timesheet, error) {
	return gated(ctx, k.g, func() (tb.Timesheet, error) { return k.KimaiAPI.UpdateTimesheet(ctx, id, in) })
}

func (k gatedKimai) DeleteTimesheet(ctx context.Context, id int64) error {
	_, err := gated(ctx, k.g, func() (struct{}, error) { return struct{}{}, k.KimaiAPI.DeleteTimesheet(ctx, id) })
	return err
}

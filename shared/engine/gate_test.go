package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// countingKimai records how many timesheet requests are in flight.
type countingKimai struct {
	KimaiAPI
	active, peak atomic.Int32
}

func (k *countingKimai) CreateTimesheet(ctx context.Context, in kimai.TimesheetInput) (tb.Timesheet, error) {
	n := k.active.Add(1)
	defer k.active.Add(-1)
	for {
		p := k.peak.Load()
		if n <= p || k.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(time.Millisecond)
	return tb.Timesheet{ID: 1}, nil
}

// TestGateBoundsKimaiRequests: apply's workers outnumber the slots, but
// Kimai never sees more requests at once than the slots allow, and it
// sees that many (the workers keep them busy).
func TestGateBoundsKimaiRequests(t *testing.T) {
	const n = 3
	inner := &countingKimai{}
	k := gatedKimai{KimaiAPI: inner, g: newSlots(n)}
	items := make([]int, 200)
	err := forEach(context.Background(), n*workersPerSlot, items, func(ctx context.Context, _ int) error {
		_, err := k.CreateTimesheet(ctx, kimai.TimesheetInput{})
		time.Sleep(time.Millisecond) // the DynamoDB part, outside the gate
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := inner.peak.Load(); p != n {
		t.Fatalf("peak Kimai requests in flight = %d, want %d", p, n)
	}
}

// TestGateEndsWithContext: a request waiting for a slot gives up with the
// context's cause.
func TestGateEndsWithContext(t *testing.T) {
	g := newSlots(1)
	release, err := g.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := context.DeadlineExceeded
	cancel(cause)
	if _, err := g.acquire(ctx); err != cause {
		t.Fatalf("acquire on an ended context = %v, want %v", err, cause)
	}
	release()
	if _, err := g.acquire(context.Background()); err != nil {
		t.Fatalf("slot not released: %v", err)
	}
}

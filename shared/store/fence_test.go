package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TakeLease's generation is a fencing token: it grows on every takeover,
// not on renewal, and survives the end of a term.
func TestTakeLeaseGenerations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	take := func(owner string, wantOK bool, wantGen int64) {
		t.Helper()
		gen, ok, err := f.st.TakeLease(c, "profile-p", owner, time.Minute)
		if err != nil || ok != wantOK || (ok && gen != wantGen) {
			t.Fatalf("TakeLease(%s) = %d, %v, %v; want %d, %v", owner, gen, ok, err, wantGen, wantOK)
		}
	}
	take("a", true, 1)
	take("a", true, 1) // renewal keeps the generation
	take("b", false, 0)
	noErr(t, f.st.EndLease(c, "profile-p", "b")) // not b's: no effect
	take("b", false, 0)
	noErr(t, f.st.EndLease(c, "profile-p", "a"))
	take("b", true, 2)
	f.clock.Add(2 * time.Minute) // b's term ran out without EndLease
	take("a", true, 3)
	take("b", false, 0)
	if item := f.raw(t, "LEASE#profile-p", "LEASE"); item["expires_at"] != nil {
		t.Fatal("a fencing lease must not expire through TTL: its generation would restart")
	}

	var wins atomic.Int32
	var wg sync.WaitGroup
	f.clock.Add(2 * time.Minute)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := f.st.TakeLease(c, "profile-p", fmt.Sprintf("w%d", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d owners won the lease", wins.Load())
	}
}

// A link written under a newer lease generation is never overwritten by a
// holder of an older one, even when the version matches again (the link
// was deleted and claimed anew).
func TestPutLinkFence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	l := tb.Link{ProfileID: "p", EntryID: 7, TicketID: 1, State: tb.LinkPending, Fence: 5}
	old, err := f.st.PutLink(c, l, nil)
	noErr(t, err)
	noErr(t, f.st.DeleteLink(c, old))
	l.Fence = 6
	_, err = f.st.PutLink(c, l, nil) // claimed anew at version 1 by a newer holder
	noErr(t, err)
	stale := old
	stale.State, stale.TimesheetID = tb.LinkSynced, 99
	if _, err := f.st.PutLink(c, stale, &old); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("a write under an older fence went through: %v", err)
	}
	cur, err := f.st.GetLink(c, "p", 1, 7)
	noErr(t, err)
	next := cur
	next.Fence = 6
	_, err = f.st.PutLink(c, next, &cur)
	noErr(t, err)
}

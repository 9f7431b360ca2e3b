package store_test

import (
	"testing"
	"time"
)

func TestClaimSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	claim := func(slot int64, want bool) {
		t.Helper()
		got, err := f.st.ClaimSlot(c, "p/42", slot, time.Minute)
		if err != nil || got != want {
			t.Fatalf("ClaimSlot(%d) = %v, %v; want %v", slot, got, err, want)
		}
	}
	claim(10, true)
	claim(10, false) // each slot once
	claim(9, false)  // slots only move forward
	claim(11, true)
	claim(11, false)
	noErr(t, f.st.ReleaseSlot(c, "p/42", 11)) // its run could not be queued
	claim(11, true)
	noErr(t, f.st.ReleaseSlot(c, "p/42", 10)) // not the latest claim: no effect
	claim(11, false)
	claim(5, false)
	f.clock.Add(2 * time.Minute) // expired, not yet deleted by DynamoDB
	claim(5, true)
	// Names are independent.
	if ok, err := f.st.ClaimSlot(c, "p/43", 5, time.Minute); err != nil || !ok {
		t.Fatalf("other name: %v %v", ok, err)
	}
}

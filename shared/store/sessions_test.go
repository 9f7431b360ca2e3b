package store_test

import (
	"testing"
	"time"
)

func TestSessionState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	state := func(id string, wantV int64, wantRevoked bool) {
		t.Helper()
		v, revoked, err := f.st.SessionState(c, id)
		if err != nil || v != wantV || revoked != wantRevoked {
			t.Fatalf("SessionState(%q) = %d, %v, %v; want %d, %v", id, v, revoked, err, wantV, wantRevoked)
		}
	}
	state("", 0, false)
	state("tok-1", 0, false)
	noErr(t, f.st.RevokeToken(c, "tok-1", f.clock.Now().Add(10*time.Minute)))
	state("tok-1", 0, true)
	state("tok-2", 0, false)
	for want := int64(1); want <= 3; want++ {
		if v, err := f.st.BumpSessionVersion(c); err != nil || v != want {
			t.Fatalf("bump: %d %v, want %d", v, err, want)
		}
	}
	state("tok-2", 3, false)
	// A revocation ends with the token's own expiry (DynamoDB deletes lazily).
	f.clock.Advance(11 * time.Minute)
	state("tok-1", 3, false)
}

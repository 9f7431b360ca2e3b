package auth

import (
	"context"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/testkit"
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	c := testkit.NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	st := newMemCounters()
	admin := testAdmin(t)
	a := New(StaticAdmin(admin), st, Options{Now: c.Now})
	login := func() Token {
		t.Helper()
		tok, _, err := a.Login(ctx, LoginRequest{Username: "admin", Password: testPassword, Address: "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	verify := func(tok Token) (Claims, error) { return a.Verify(ctx, tok.Token) }
	mustSignedOut := func(what string, tok Token) {
		t.Helper()
		if _, err := verify(tok); !apperr.Is(err, apperr.Auth) {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A token lives 15 minutes; renewals keep the session going, each
	// token short, for at most 12 hours after the login.
	tok := login()
	if got := tok.ExpiresAt.Sub(c.Now()); got != DefaultTokenTTL {
		t.Fatalf("token lifetime %v", got)
	}
	for i := 0; i < 51; i++ { // 11 h 54 min of use
		c.Add(14 * time.Minute)
		cl, err := verify(tok)
		if err != nil {
			t.Fatalf("renewal %d: %v", i, err)
		}
		if tok, err = a.Refresh(ctx, cl); err != nil {
			t.Fatalf("renewal %d: %v", i, err)
		}
	}
	login0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	cl, err := verify(tok)
	if err != nil || !cl.AuthTime.Equal(login0) {
		t.Fatalf("after renewals: %+v %v", cl, err)
	}
	if !tok.ExpiresAt.Equal(login0.Add(DefaultMaxSession)) {
		t.Fatalf("the last renewal runs past the session's end: %v", tok.ExpiresAt)
	}
	c.Set(login0.Add(DefaultMaxSession))
	if _, err := a.Refresh(ctx, cl); !apperr.Is(err, apperr.Auth) || apperr.MessageOf(err) != msgTooOld {
		t.Fatalf("renewal after 12 h: %v", err)
	}

	// Signing out revokes that token only.
	c.Add(time.Hour)
	t1, t2 := login(), login()
	cl1, _ := verify(t1)
	if err := a.Logout(ctx, cl1); err != nil {
		t.Fatal(err)
	}
	mustSignedOut("revoked token", t1)
	if _, err := a.Refresh(ctx, cl1); !apperr.Is(err, apperr.Auth) {
		t.Fatalf("refresh of a revoked token: %v", err)
	}
	if _, err := verify(t2); err != nil {
		t.Fatalf("the other browser was signed out: %v", err)
	}

	// Signing out everywhere ends every session issued so far.
	if err := a.LogoutEverywhere(ctx); err != nil {
		t.Fatal(err)
	}
	mustSignedOut("after sign-out everywhere", t2)
	if _, err := verify(login()); err != nil {
		t.Fatalf("a new login after sign-out everywhere: %v", err)
	}

	// A new password (same signing key) signs everyone out.
	t3 := login()
	newAdmin := admin
	h, err := HashPassword("a brand new password")
	if err != nil {
		t.Fatal(err)
	}
	newAdmin.hash = h
	a2 := New(StaticAdmin(newAdmin), st, Options{Now: c.Now})
	if _, err := a2.Verify(ctx, t3.Token); !apperr.Is(err, apperr.Auth) || apperr.MessageOf(err) != msgSignedOut {
		t.Fatalf("token of the old password: %v", err)
	}
}

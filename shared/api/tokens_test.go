package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/connect"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	"github.com/timebridge/timebridge/shared/upstream"
	"github.com/timebridge/timebridge/shared/vault"
)

// bearerRecorder is an HTTP transport that records the token of each
// request and answers none (the test only needs to see what was sent).
type bearerRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (b *bearerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tok := r.Header.Get("Authorization")
	if tok == "" {
		tok = r.Header.Get("X-AUTH-TOKEN")
	}
	b.tokens = append(b.tokens, tok)
	return nil, errors.New("recorded")
}

func (b *bearerRecorder) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tokens) == 0 {
		return ""
	}
	return b.tokens[len(b.tokens)-1]
}

func (f *fakeProber) lastToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tokens) == 0 {
		return ""
	}
	return f.tokens[len(f.tokens)-1]
}

// TestReplacedTokenReachesEveryInstance: a connector's token is replaced
// through one API instance; another API instance and a reconcile instance
// that cached the old token use the new one on their next call, not when
// their cache expires (the vault's TTL is an hour here).
func TestReplacedTokenReachesEveryInstance(t *testing.T) {
	a := newHarness(t, cachedSecrets())
	b := newHarness(t, cachedSecrets(), instanceOf(a))
	zid, kid := a.connectors()
	pr := a.do("POST", "/api/profiles", map[string]any{"name": "P", "zammad_connector_id": zid, "kimai_connector_id": kid}).want(t, 201).obj(t)
	profile, err := a.st.GetProfile(context.Background(), pr["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// The reconcile instance: its own vault cache, the clients' requests
	// recorded.
	rec := &bearerRecorder{}
	rv := vault.New(kumotest.Get(t).Secrets, a.prefix, time.Hour)
	conn := connect.New(a.st, rv, connect.Options{HTTPClient: &http.Client{Transport: rec}, Policy: upstream.Policy{MaxAttempts: 1}})
	reconcileToken := func() string {
		t.Helper()
		_, k, err := conn.Connect(context.Background(), profile)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		_, _ = k.Me(context.Background())
		return rec.last()
	}
	catalogToken := func(h *harness) string {
		t.Helper()
		h.do("GET", "/api/connectors/"+kid+"/catalog", nil).want(t, 200)
		return h.prober.lastToken()
	}

	oldTok := reconcileToken()
	if oldTok == "" || catalogToken(b) != strings.TrimPrefix(oldTok, "Bearer ") {
		t.Fatalf("before: reconcile sent %q, instance B %q", oldTok, b.prober.lastToken())
	}
	version := a.do("GET", "/api/connectors/"+kid, nil).want(t, 200).obj(t)["version"]
	a.do("PATCH", "/api/connectors/"+kid, map[string]any{"token": "kimai-token-NEW9", "version": version}).want(t, 200)

	if got := catalogToken(b); got != "kimai-token-NEW9" {
		t.Fatalf("instance B after the change: %q, want the new token", got)
	}
	if got := reconcileToken(); got != "Bearer kimai-token-NEW9" {
		t.Fatalf("reconcile after the change: %q, want the new token", got)
	}
	if got := catalogToken(a); got != "kimai-token-NEW9" {
		t.Fatalf("instance A after its own change: %q", got)
	}
}

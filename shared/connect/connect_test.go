package connect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
	"github.com/timebridge/timebridge/shared/vault"
)

type fakeStore map[string]tb.Connector

func (f fakeStore) GetConnector(_ context.Context, id string) (tb.Connector, error) {
	c, ok := f[id]
	if !ok {
		return c, apperr.New(apperr.NotFound, "store", "no connector")
	}
	return c, nil
}

type fakeSecrets map[string]string

func (f fakeSecrets) GetFresh(_ context.Context, name string, _ vault.Want) (vault.Secret, error) {
	v, ok := f[name]
	if !ok {
		return "", apperr.New(apperr.NotFound, "vault", "no secret")
	}
	return vault.Secret(v), nil
}

func TestConnect(t *testing.T) {
	store := fakeStore{
		"z": {ID: "z", Kind: tb.KindZammad, Name: "Z", BaseURL: "https://zammad.example.com", TokenSecret: "z/token"},
		"k": {ID: "k", Kind: tb.KindKimai, Name: "K", BaseURL: "https://kimai.example.com", TokenSecret: "k/token"},
		"n": {ID: "n", Kind: tb.KindKimai, Name: "No token", BaseURL: "https://kimai.example.com"},
		"m": {ID: "m", Kind: tb.KindKimai, Name: "Missing", BaseURL: "https://kimai.example.com", TokenSecret: "gone"},
		"b": {ID: "b", Kind: tb.KindKimai, Name: "Bad URL", BaseURL: "ftp://x", TokenSecret: "k/token"},
	}
	// A record naming another secret (say, a webhook secret) is ignored:
	// the token's name is derived from the connector id.
	store["r"] = tb.Connector{ID: "r", Kind: tb.KindKimai, Name: "Redirected", BaseURL: "https://kimai.example.com", TokenSecret: "profiles/p/webhook-secret"}
	secrets := fakeSecrets{"connectors/z/token": "zz-secret-1", "connectors/k/token": "kk-secret-2", "connectors/b/token": "kk-secret-2",
		"profiles/p/webhook-secret": "hook-secret-3"}
	tests := []struct {
		name, z, k string
		kind       apperr.Kind
		msg        string
	}{
		{"ok", "z", "k", "", ""},
		{"no zammad connector", "", "k", apperr.Validation, "no zammad connector"},
		{"unknown connector", "z", "x", apperr.NotFound, ""},
		{"kinds swapped", "k", "z", apperr.Validation, "is a kimai connector"},
		{"no token", "z", "n", apperr.Validation, "has no token"},
		{"token gone from Secrets Manager", "z", "m", apperr.Validation, "missing from Secrets Manager"},
		{"bad base URL", "z", "b", apperr.Validation, "base URL"},
		{"secret name from the id, not the record", "z", "r", apperr.Validation, "missing from Secrets Manager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(store, secrets, Options{})
			z, k, err := c.Connect(context.Background(), tb.Profile{ZammadConnectorID: tt.z, KimaiConnectorID: tt.k})
			if apperr.KindOf(err) != tt.kind {
				t.Fatalf("kind %q, want %q: %v", apperr.KindOf(err), tt.kind, err)
			}
			if err == nil && (z == nil || k == nil || z.Instance() == "") {
				t.Fatal("clients missing")
			}
			if err != nil && !strings.Contains(strings.ToLower(apperr.MessageOf(err)), strings.ToLower(tt.msg)) {
				t.Fatalf("message %q lacks %q", apperr.MessageOf(err), tt.msg)
			}
			if err != nil && (strings.Contains(err.Error(), "secret-1") || strings.Contains(err.Error(), "secret-2")) {
				t.Fatal("token in error")
			}
		})
	}
}

// TestClientOptions: Zammad and Kimai hand every option to their client:
// requests go through Options.HTTPClient, Options.Policy decides the
// attempts, and AttemptTimeout overrides the policy's.
func TestClientOptions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Slow") != "" {
			<-r.Context().Done()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx := context.Background()
	calls := map[string]func(Options) error{
		"zammad": func(o Options) error {
			z, err := Zammad(srv.URL, "zammad-token-1", o)
			if err != nil {
				return err
			}
			_, err = z.Groups(ctx)
			return err
		},
		"kimai": func(o Options) error {
			k, err := Kimai(srv.URL, "kimai-token-1", o)
			if err != nil {
				return err
			}
			_, err = k.Version(ctx)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int32
			counting := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				n.Add(1)
				return http.DefaultTransport.RoundTrip(r)
			})}
			policy := upstream.Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, AttemptTimeout: time.Minute}
			err := call(Options{HTTPClient: counting, Policy: policy})
			if !apperr.Is(err, apperr.Upstream) || n.Load() != 3 {
				t.Fatalf("%d requests (%v), want 3 through the given HTTP client", n.Load(), err)
			}
			slow := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r.Header.Set("X-Test-Slow", "1")
				return http.DefaultTransport.RoundTrip(r)
			})}
			policy.MaxAttempts = 1
			start := time.Now()
			err = call(Options{HTTPClient: slow, Policy: policy, AttemptTimeout: 20 * time.Millisecond})
			if !apperr.Is(err, apperr.Timeout) || time.Since(start) > 10*time.Second {
				t.Fatalf("slow upstream after %v: %v, want a timeout after 20ms", time.Since(start), err)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

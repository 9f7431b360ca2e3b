package edge

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

type fakeSecret struct {
	value string
	err   error
	calls int
}

func (f *fakeSecret) Get(context.Context, string) (string, error) {
	f.calls++
	return f.value, f.err
}

func TestGuard(t *testing.T) {
	src := &fakeSecret{value: "s3cret-origin-value"}
	g := New(src, "arn:aws:secretsmanager:eu-west-1:1:secret:origin-AbCdEf")
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	for name, c := range map[string]struct {
		origin, viewer, xff string
		want                string
		kind                apperr.Kind
	}{
		"through CloudFront":        {"s3cret-origin-value", "198.51.100.7", "", "198.51.100.7", ""},
		"IPv6 viewer":               {"s3cret-origin-value", "2001:db8::1", "", "2001:db8::1", ""},
		"mapped IPv4":               {"s3cret-origin-value", "::ffff:198.51.100.7", "", "198.51.100.7", ""},
		"X-Forwarded-For ignored":   {"s3cret-origin-value", "198.51.100.7", "192.0.2.99", "198.51.100.7", ""},
		"direct to execute-api":     {"", "198.51.100.7", "192.0.2.99", "", apperr.Permission},
		"wrong origin value":        {"guess", "198.51.100.7", "", "", apperr.Permission},
		"prefix of the origin":      {"s3cret", "198.51.100.7", "", "", apperr.Permission},
		"viewer header missing":     {"s3cret-origin-value", "", "", "", apperr.Internal},
		"viewer header not an addr": {"s3cret-origin-value", "evil, 1.2.3.4", "", "", apperr.Internal},
	} {
		r := httptest.NewRequest("POST", "/api/auth/login", nil)
		r.RemoteAddr = "130.176.0.1:443" // a CloudFront edge
		if c.origin != "" {
			r.Header.Set(OriginHeader, c.origin)
		}
		if c.viewer != "" {
			r.Header.Set(ViewerHeader, c.viewer)
		}
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		got, err := g.Client(r)
		switch {
		case c.kind == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q %v, want %q", name, got, err, c.want)
		case c.kind != "" && !apperr.Is(err, c.kind):
			t.Errorf("%s: %q %v, want %s", name, got, err, c.kind)
		}
	}
	if src.calls != 1 {
		t.Fatalf("secret read %d times, want once (cached)", src.calls)
	}
	// A failed refresh keeps the last good value; a rotation is picked up.
	now = now.Add(6 * time.Minute)
	src.err = errors.New("secrets manager down")
	r := httptest.NewRequest("GET", "/api/health", nil)
	r.Header.Set(OriginHeader, "s3cret-origin-value")
	r.Header.Set(ViewerHeader, "192.0.2.1")
	if _, err := g.Client(r); err != nil {
		t.Fatalf("during an outage: %v", err)
	}
	now = now.Add(2 * time.Minute)
	src.err, src.value = nil, "rotated"
	if _, err := g.Client(r); !apperr.Is(err, apperr.Permission) {
		t.Fatalf("old value after rotation: %v", err)
	}
}

// Without a secret (local mode) the connection's address counts and no
// header is trusted.
func TestNilGuard(t *testing.T) {
	g := New(nil, "")
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set(ViewerHeader, "198.51.100.7")
	r.Header.Set("X-Forwarded-For", "198.51.100.8")
	if got, err := g.Client(r); err != nil || got != "127.0.0.1" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := New(&fakeSecret{err: errors.New("x")}, "origin").Client(r); !apperr.Is(err, apperr.Internal) {
		t.Fatalf("unreadable secret: %v", err)
	}
}

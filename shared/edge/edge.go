// Package edge tells whether a request came through Timebridge's CloudFront
// distribution and, only then, who the client really is.
//
// Behind CloudFront the API sees CloudFront's address, not the viewer's, and
// the HTTP API's own execute-api endpoint is reachable by anyone who learns
// its name. CloudFront therefore adds two headers to every request it sends
// to the API: X-Timebridge-Origin, a random value kept in Secrets Manager
// (an origin custom header, which a viewer cannot set or see), and
// X-Timebridge-Viewer, the viewer's address (set by a viewer-request
// CloudFront Function, which overwrites whatever a client sent). A Guard
// with a secret refuses requests without the right origin value and takes
// the viewer header as the client address; without a secret (make dev, no
// CloudFront) it uses the connection's address. Client-supplied headers
// such as X-Forwarded-For are never trusted.
package edge

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Header names CloudFront adds.
const (
	OriginHeader = "X-Timebridge-Origin"
	ViewerHeader = "X-Timebridge-Viewer"
)

// msgDirect is shown to a client that bypassed CloudFront.
const msgDirect = "Requests must come through Timebridge's CloudFront address (the console's URL); the API's own endpoint does not answer."

// SecretGetter reads a secret's text (auth.FromSecretsManager).
type SecretGetter interface {
	Get(ctx context.Context, name string) (string, error)
}

// Guard checks requests; the zero value and nil trust the connection.
type Guard struct {
	src  SecretGetter
	name string
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	secret  string
	expires time.Time
}

// cacheTTL is how long the origin secret is used before it is read again:
// a rotation is picked up within it.
const cacheTTL = 5 * time.Minute

// New returns a Guard that requires the origin secret called name (an ARN
// or name); name "" returns nil, which trusts the connection (local mode).
func New(src SecretGetter, name string) *Guard {
	if name == "" {
		return nil
	}
	return &Guard{src: src, name: name, ttl: cacheTTL, now: time.Now}
}

// Client returns the client's address (an IP, no port) after checking that
// the request came through CloudFront when a secret is configured. A
// request that did not is apperr.Permission with a message that says so.
func (g *Guard) Client(r *http.Request) (string, error) {
	if g == nil {
		return hostOf(r.RemoteAddr), nil
	}
	const op = "edge: check origin"
	want, err := g.load(r.Context())
	if err != nil {
		return "", err
	}
	got := r.Header.Get(OriginHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return "", apperr.New(apperr.Permission, op, msgDirect)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get(ViewerHeader)))
	if err != nil {
		// CloudFront always sets it: the distribution is misconfigured.
		return "", apperr.New(apperr.Internal, op, "CloudFront did not send the viewer's address; check the distribution's viewer-request function.")
	}
	return a.Unmap().String(), nil
}

func (g *Guard) load(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.secret != "" && now.Before(g.expires) {
		return g.secret, nil
	}
	s, err := g.src.Get(ctx, g.name)
	switch {
	case err == nil && strings.TrimSpace(s) != "":
		g.secret, g.expires = strings.TrimSpace(s), now.Add(g.ttl)
	case g.secret != "":
		// Keep the last good value through a Secrets Manager outage.
		g.expires = now.Add(time.Minute)
	case err != nil:
		return "", apperr.Wrap(err, apperr.Internal, "edge: read origin secret", "The origin secret cannot be read; check TIMEBRIDGE_ORIGIN_SECRET and the function's permission to read it.")
	default:
		return "", apperr.New(apperr.Internal, "edge: read origin secret", "The origin secret is empty.")
	}
	return g.secret, nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Package netguard keeps connectors from reaching internal addresses (no
// server-side request forgery through a connector's base URL): loopback,
// link-local (the metadata service), unique-local, unspecified, multicast.
// The check runs at dial time, after DNS resolution, so a DNS answer that
// changes after validation (rebinding) is refused too. Every client that
// talks to a user-supplied URL in AWS (the API's connector tests and
// catalogs, the engine's sync clients) uses HTTPClient.
package netguard

import (
	"github.com/timebridge/timebridge/shared/upstream"

	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Allowed reports whether a connector may point at address a.
func Allowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if a.Is6() {
		b := a.As16()
		if b[0]&0xfe == 0xfc { // fc00::/7 unique local
			return false
		}
		// Forms that embed an IPv4 address: judge that one. NAT64
		// (64:ff9b::/96), IPv4-compatible (::/96, deprecated but routed by
		// some stacks) and 6to4 (2002::/16, the address in bytes 2–5).
		if nat64.Contains(a) || v4compat.Contains(a) {
			return Allowed(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
		if sixToFour.Contains(a) {
			return Allowed(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
		// Local-use NAT64 and deprecated site-local addresses are internal.
		if nat64Local.Contains(a) || siteLocal.Contains(a) {
			return false
		}
	}
	if a.Is4() {
		b := a.As4()
		if b[0] == 0 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) { // 0.0.0.0/8, broadcast
			return false
		}
		if sharedSpace.Contains(a) { // 100.64.0.0/10, carrier-grade NAT: never a public server
			return false
		}
	}
	return !(a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified())
}

var (
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48")
	v4compat    = netip.MustParsePrefix("::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	siteLocal   = netip.MustParsePrefix("fec0::/10")
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
)

// ErrForbidden is returned by the guarded dialer.
var ErrForbidden = errors.New("connection to an internal address refused (SSRF protection)")

// Dialer returns a dialer that refuses forbidden addresses at
// connect time, after DNS resolution.
func Dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !Allowed(ap.Addr()) {
				return ErrForbidden
			}
			return nil
		},
	}
}

// HTTPClient returns the client for user-supplied upstream URLs. Local mode
// (the local stack's simulators on 127.0.0.1) skips the guard.
func HTTPClient(local bool) *http.Client {
	tr := upstream.NewTransport()
	if !local {
		// No proxy: the dialer's address check must see the real target.
		tr.Proxy = nil
		tr.DialContext = Dialer().DialContext
	}
	return &http.Client{Transport: tr}
}

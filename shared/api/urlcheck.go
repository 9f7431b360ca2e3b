package api

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/netguard"
)

// Connector base URLs are fetched by Timebridge's functions inside AWS, so
// an unchecked URL would let whoever edits a connector make Timebridge call
// the instance metadata service or services on loopback (server-side
// request forgery). Outside local mode the API therefore refuses plain
// http and every URL whose host is, or resolves to, a loopback, link-local
// (169.254.0.0/16 holds the metadata service), unique-local (fc00::/7, AWS's
// IPv6 metadata address fd00:ec2::254), unspecified, multicast or broadcast
// address. Private RFC 1918 ranges stay allowed: a self-hosted Zammad or
// Kimai inside the VPC is a legitimate target. The resolution is checked
// again at dial time (netguard.HTTPClient, also used by the sync), so a
// DNS answer that changes after the check (rebinding) is refused too.

// Messages of base URL problems.
const (
	msgURLForbiddenAddr = "points to a loopback, link-local, metadata or other internal address, which Timebridge refuses (use the public address of the server)"
	msgURLHTTP          = "must use https:// (plain http is only allowed on the local stack)"
)

// checkBaseURL validates a connector base URL and returns it normalised
// (lower-case scheme and host, no trailing slash). Problems are added
// under field.
func (s *server) checkBaseURL(ctx context.Context, p problems, field, raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		p.add(field, "is required")
		return ""
	}
	if len(raw) > 2048 {
		p.add(field, "must have at most 2048 characters")
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		p.add(field, "is not a valid URL; use the address you open the application with, such as https://support.example.com")
		return ""
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		p.add(field, "must start with https://")
		return ""
	case u.Scheme == "http" && !s.LocalMode:
		p.add(field, msgURLHTTP)
		return ""
	case u.User != nil:
		p.add(field, "must not contain a username or password (the token goes into the token field)")
		return ""
	case u.Hostname() == "":
		p.add(field, "needs a host name")
		return ""
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		p.add(field, "must not contain a query (?…) or fragment (#…)")
		return ""
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.add(field, "has an invalid port")
			return ""
		}
	}
	host := strings.ToLower(u.Hostname())
	if !s.LocalMode {
		if msg := s.checkHost(ctx, host); msg != "" {
			p.add(field, msg)
			return ""
		}
	}
	if port := u.Port(); port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	} else {
		u.Host = host
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String()
}

// checkHost returns why host is refused, "" when it is allowed: an IP
// literal is judged directly, a name by every address it resolves to.
func (s *server) checkHost(ctx context.Context, host string) string {
	if a, err := netip.ParseAddr(host); err == nil {
		if !netguard.Allowed(a) {
			return msgURLForbiddenAddr
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := s.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "has a host name that cannot be resolved; check the spelling"
	}
	for _, a := range addrs {
		if !netguard.Allowed(a) {
			return msgURLForbiddenAddr
		}
	}
	return ""
}

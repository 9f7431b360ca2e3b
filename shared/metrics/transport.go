package metrics

import (
	"net/http"
	"time"
)

// Transport records every request made through base into the Doc of the
// request's context (NewContext): one count and one latency sample under
// requests and latency (e.g. KimaiRequests, KimaiLatency). Requests without
// a Doc pass through unrecorded.
func Transport(base http.RoundTripper, requests, latency string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, requests: requests, latency: latency}
}

type transport struct {
	base              http.RoundTripper
	requests, latency string
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	d := FromContext(r.Context())
	if d == nil {
		return t.base.RoundTrip(r)
	}
	start := time.Now()
	res, err := t.base.RoundTrip(r)
	d.Add(t.requests, Count, 1)
	d.Observe(t.latency, Milliseconds, float64(time.Since(start))/float64(time.Millisecond))
	return res, err
}

// Client returns a copy of c whose transport records as Transport does
// (nil c: a client with the default transport).
func Client(c *http.Client, requests, latency string) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.Transport = Transport(out.Transport, requests, latency)
	return &out
}

package netguard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestHTTPClientRefusesInternalAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	if _, err := HTTPClient(false).Get(srv.URL); err == nil || !errors.Is(err, ErrForbidden) {
		t.Fatalf("loopback reached in guarded mode: %v", err)
	}
	resp, err := HTTPClient(true).Get(srv.URL)
	if err != nil {
		t.Fatalf("local mode refused loopback: %v", err)
	}
	resp.Body.Close()
}

func TestAllowed(t *testing.T) {
	tests := map[string]bool{
		"93.184.216.34":          true,
		"10.1.2.3":               true, // a self-hosted server inside the VPC
		"2606:2800:220:1::1":     true,
		"127.0.0.1":              false,
		"169.254.169.254":        false,
		"0.0.0.0":                false,
		"100.64.1.1":             false,
		"::1":                    false,
		"fd00:ec2::254":          false,
		"fe80::1":                false,
		"::ffff:169.254.169.254": false,
		"::a9fe:a9fe":            false, // IPv4-compatible 169.254.169.254
		"::127.0.0.1":            false,
		"64:ff9b::7f00:1":        false, // NAT64 of 127.0.0.1
		"64:ff9b:1::1":           false,
		"2002:7f00:1::1":         false, // 6to4 of 127.0.0.1
		"2002:5db8:d822::1":      true,  // 6to4 of a public address
		"fec0::1":                false,
	}
	for in, want := range tests {
		if got := Allowed(netip.MustParseAddr(in)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", in, got, want)
		}
	}
}

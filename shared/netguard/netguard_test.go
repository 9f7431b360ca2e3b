package netguard

import (
	"errors"
	"net/http"
	"net/http/httptest"
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

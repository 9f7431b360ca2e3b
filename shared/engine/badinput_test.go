package engine_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/kimai"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/zammad"
)

// TestBadInput points the engine at broken upstreams: each case must give a
// classified error, a failed run record saying why, and leave stored state
// untouched (no links, no conflicts, lease released).
func TestBadInput(t *testing.T) {
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	serve := func(status int, ctype, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name     string
		zURL     string // "" = the harness simulator
		zTok     string
		kURL     string
		kTok     string
		zFaults  *zammadsim.Faults
		wantKind apperr.Kind
	}{
		{name: "wrong Zammad token", zTok: "wrong", wantKind: apperr.Auth},
		{name: "wrong Kimai token", kTok: "wrong", wantKind: apperr.Auth},
		{name: "Zammad unreachable", zURL: closed(), wantKind: apperr.Connection},
		{name: "Kimai unreachable", kURL: closed(), wantKind: apperr.Connection},
		{name: "Zammad answers HTML", zURL: serve(200, "text/html", "<html><body>Login</body></html>"), wantKind: apperr.Upstream},
		{name: "Kimai answers HTML", kURL: serve(200, "text/html", "<!doctype html><p>proxy error</p>"), wantKind: apperr.Upstream},
		{name: "Kimai answers malformed JSON", kURL: serve(200, "application/json", `{"id":1,"username":`), wantKind: apperr.Upstream},
		{name: "Kimai answers wrong JSON shape", kURL: serve(200, "application/json", `[1,2,3]`), wantKind: apperr.Upstream},
		{name: "Zammad answers malformed entries", zFaults: &zammadsim.Faults{MalformedRate: 1, Path: "/api/v1/time_accountings"}, wantKind: apperr.Upstream},
		{name: "Zammad lacks admin.time_accounting", zTok: "agent-only", wantKind: apperr.Permission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, options{})
			tid, agent, typ := h.seedBasics()
			h.addEntry(tid, agent, typ, "15", at(8, 0))
			h.zs.AddToken("agent-only", 3, "ticket.agent")
			if tt.zFaults != nil {
				h.zs.SetFaults(*tt.zFaults)
			}
			zURL, kURL := h.zs.URL(), h.ks.URL()
			zTok, kTok := zToken, kToken
			if tt.zURL != "" {
				zURL = tt.zURL
			}
			if tt.kURL != "" {
				kURL = tt.kURL
			}
			if tt.zTok != "" {
				zTok = tt.zTok
			}
			if tt.kTok != "" {
				kTok = tt.kTok
			}
			eng := engine.New(h.st, engine.ConnectorFunc(func(ctx context.Context, p tb.Profile) (engine.ZammadAPI, engine.KimaiAPI, error) {
				z, err := zammad.New(zURL, zTok, zammad.WithRetryPolicy(fastPolicy()))
				if err != nil {
					return nil, nil, err
				}
				k, err := kimai.New(kURL, kTok, kimai.WithRetryPolicy(fastPolicy()))
				return z, k, err
			}), nil, engine.Options{})
			run, err := eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull})
			if got := apperr.KindOf(err); got != tt.wantKind {
				t.Fatalf("kind %q, want %q: %v", got, tt.wantKind, err)
			}
			if run.Status != tb.RunFailed || run.Error == nil || run.Error.Class != string(tt.wantKind) || run.Error.Message == "" {
				t.Fatalf("run record %+v", run.Error)
			}
			stored, err := h.st.GetRun(context.Background(), run.ID)
			if err != nil || stored.Status != tb.RunFailed {
				t.Fatalf("stored run %v %+v", err, stored)
			}
			n := 0
			_ = h.st.Links(context.Background(), h.profile.ID, func(ls []tb.Link) error { n += len(ls); return nil })
			if n != 0 || len(h.openConflicts()) != 0 || len(h.ks.Timesheets()) != 0 {
				t.Fatalf("state changed: %d links, %d conflicts, %d timesheets", n, len(h.openConflicts()), len(h.ks.Timesheets()))
			}
			// The lease was released and a healthy run now works.
			ok, err := h.st.AcquireLease(context.Background(), "profile-"+h.profile.ID, "probe", 1)
			if err != nil || !ok {
				t.Fatalf("lease not released: %v", err)
			}
		})
	}
}

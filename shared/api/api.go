// Package api is Timebridge's HTTP API: a plain net/http handler (Go 1.22
// ServeMux patterns) that the api function serves on API Gateway HTTP API
// through aws-lambda-go-api-proxy, and the local stack serves the same way.
// The routes are listed in one table (routes.go), documented in the
// embedded OpenAPI 3.1 document served at GET /api/openapi.json, and a test
// keeps the two in step.
//
// Every answer is JSON. Errors are {"error":{"code","message","fields"}},
// produced in one place (errorResponse) from the apperr kind of the error;
// internal errors are logged with the request id and answered with a safe
// message. Input is validated at the edge: unknown fields, wrong types,
// out-of-range values and bodies over 1 MiB are 4xx answers naming the
// field, never 500s.
//
// Every route except GET /api/health, POST /api/auth/login and GET
// /api/openapi.json needs "Authorization: Bearer <token>" (shared/auth).
// Every mutation appends an audit event with the admin as actor. Nothing
// long runs inside a request: runs are recorded as queued and sent to SQS
// (queue.Submit); the reconcile function executes them.
//
// Connector tokens are write-only: they go to the vault (Secrets Manager)
// and responses carry only token_set and token_hint. A profile's webhook
// secret is shown only in the answer that made it: the profile's creation
// and each rotation (POST /api/profiles/{id}/webhook-secret).
//
// Lists cost one store query, never one per item.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/edge"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/probe"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
)

// Store is the part of the store the API uses.
type Store interface {
	ListConnectors(ctx context.Context) ([]tb.Connector, error)
	GetConnector(ctx context.Context, id string) (tb.Connector, error)
	CreateConnector(ctx context.Context, c tb.Connector) (tb.Connector, error)
	UpdateConnector(ctx context.Context, c tb.Connector, expectVersion int64) (tb.Connector, error)
	DeleteConnector(ctx context.Context, id string, expectVersion int64) error

	ListProfiles(ctx context.Context) ([]tb.Profile, error)
	GetProfile(ctx context.Context, id string) (tb.Profile, error)
	CreateProfile(ctx context.Context, p tb.Profile) (tb.Profile, error)
	UpdateProfile(ctx context.Context, p tb.Profile, expectVersion int64) (tb.Profile, error)
	DeleteProfile(ctx context.Context, id string, expectVersion int64) error

	Mappings(ctx context.Context, profileID string) ([]tb.Mapping, error)
	PutMapping(ctx context.Context, m tb.Mapping) error
	DeleteMapping(ctx context.Context, profileID string, kind tb.MappingKind, source string) error

	PutRun(ctx context.Context, r tb.Run) (tb.Run, error) // queue.Submit records runs
	GetRun(ctx context.Context, id string) (tb.Run, error)
	ListRuns(ctx context.Context, profileID string, limit int, cursor string) ([]tb.Run, string, error)
	ListAllRuns(ctx context.Context, limit int, cursor string) ([]tb.Run, string, error)
	RecordsByDay(ctx context.Context, pid, from, to string) ([]tb.EntryRecord, error)
	Observed(ctx context.Context, pid string) (time.Time, error)
	ListRunsIn(ctx context.Context, profileID string, w store.RunWindow, limit int, cursor string) ([]tb.Run, string, error)

	Summary(ctx context.Context, profileID, from, to string) (tb.Summary, error)

	ListConflicts(ctx context.Context, profileID string, status tb.ConflictStatus) ([]tb.Conflict, error)
	ConflictByID(ctx context.Context, id string) (tb.Conflict, error)

	AppendAudit(ctx context.Context, events ...tb.AuditEvent) error
	ListAudit(ctx context.Context, q tb.AuditQuery) ([]tb.AuditEvent, string, error)
}

// Vault keeps connector tokens and webhook secrets (names relative to the
// stack's secret prefix).
type Vault interface {
	Put(ctx context.Context, name, value string) error
	GetFresh(ctx context.Context, name string, want vault.Want) (vault.Secret, error)
	Delete(ctx context.Context, name string) error
}

// Resolver carries out a conflict resolution (the engine).
type Resolver interface {
	Resolve(ctx context.Context, conflictID string, res tb.Resolution, actor string) (tb.Conflict, error)
}

// Prober tests a connector's base URL and token against its upstream
// (probe.Prober).
type Prober interface {
	Test(ctx context.Context, kind tb.ConnectorKind, baseURL, token string) probe.TestResult
}

// CatalogReader reads what a connector's upstream offers for mappings
// (probe.Prober).
type CatalogReader interface {
	Catalog(ctx context.Context, kind tb.ConnectorKind, baseURL, token string) (probe.Catalog, error)
}

// Edge tells whether a request came through CloudFront and who the client
// really is (edge.Guard).
type Edge interface {
	Client(r *http.Request) (string, error)
}

// Authenticator logs the admin in and verifies session tokens.
type Authenticator interface {
	Login(ctx context.Context, in auth.LoginRequest) (auth.Token, []auth.Event, error)
	Verify(ctx context.Context, token string) (auth.Claims, error)
	Refresh(ctx context.Context, c auth.Claims) (auth.Token, error)
	Logout(ctx context.Context, c auth.Claims) error
	LogoutEverywhere(ctx context.Context) error
}

var (
	_ Store         = (*store.Store)(nil)
	_ Vault         = (*vault.Vault)(nil)
	_ queue.Sink    = (*queue.Sender)(nil)
	_ Resolver      = (*engine.Engine)(nil)
	_ Authenticator = (*auth.Authenticator)(nil)
	_ Edge          = (*edge.Guard)(nil)
	_ Prober        = (*probe.Prober)(nil)
	_ CatalogReader = (*probe.Prober)(nil)
)

// Deps are what the API needs. Store, Vault, Queue, Resolver, Prober,
// Catalog and Auth are required.
type Deps struct {
	Store    Store
	Vault    Vault
	Queue    queue.Sink
	Resolver Resolver
	Prober   Prober
	Catalog  CatalogReader
	Auth     Authenticator
	// Edge checks that requests came through CloudFront and gives the
	// client's real address; nil trusts the connection (local mode).
	Edge Edge
	// PublicURL is the stack's public base URL (no trailing slash), for the
	// webhook URLs shown to users.
	PublicURL string
	// LocalMode allows http:// and loopback connector URLs (local stack).
	LocalMode bool
	Logger    *slog.Logger     // default: discard
	Now       func() time.Time // default: time.Now
	// LookupHost resolves connector hosts for the address checks; nil
	// uses the system resolver.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Limits of the HTTP surface.
const (
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes = 1 << 20
	// auditActorFallback is the actor of events when no user is known.
	auditActorFallback = "admin"
)

type server struct {
	Deps
	mux *http.ServeMux
}

// New returns the API handler. It panics when a required dependency is
// missing: that is a wiring bug to find at start-up, not per request.
func New(d Deps) http.Handler {
	switch {
	case d.Store == nil, d.Vault == nil, d.Queue == nil, d.Resolver == nil,
		d.Prober == nil, d.Catalog == nil, d.Auth == nil:
		panic("api: New needs Store, Vault, Queue, Resolver, Prober, Catalog and Auth")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Edge == nil {
		d.Edge = (*edge.Guard)(nil)
	}
	if d.LookupHost == nil {
		d.LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	s := &server{Deps: d, mux: http.NewServeMux()}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	return http.HandlerFunc(s.serve)
}

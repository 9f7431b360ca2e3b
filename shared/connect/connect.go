// Package connect builds Timebridge's Zammad and Kimai clients, in one
// place: Zammad and Kimai turn Options into the clients' options, for the
// engine's runs (Connector) and for connector tests and catalog reads
// (shared/probe) alike.
//
// Connector opens the upstream clients of a sync profile: it reads the
// profile's two connectors from the store, their tokens from the vault
// (Secrets Manager), and builds the clients the engine uses. Tokens exist
// only in memory here; they are never logged.
package connect

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/kimai"
	"github.com/timebridge/timebridge/shared/metrics"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/zammad"
)

// Connectors is the part of the store this package reads.
type Connectors interface {
	GetConnector(ctx context.Context, id string) (tb.Connector, error)
}

// Secrets is the part of the vault this package reads.
type Secrets interface {
	GetFresh(ctx context.Context, name string, want vault.Want) (vault.Secret, error)
}

var _ Secrets = (*vault.Vault)(nil)

// Options tune the clients; zero values take the clients' defaults.
type Options struct {
	// HTTPClient carries the internal-address guard in AWS
	// (netguard.HTTPClient); nil uses the clients' default.
	HTTPClient *http.Client
	// Policy is the retry policy (attempts, backoff, per-attempt timeout,
	// Retry-After cap); zero fields take upstream.DefaultPolicy's values.
	Policy upstream.Policy
	// AttemptTimeout, when positive, overrides Policy.AttemptTimeout.
	AttemptTimeout time.Duration
	Logger         *slog.Logger // default: discard
}

// client is o.HTTPClient recording its requests into the metrics of the
// request's context (a run's, see metrics.NewContext). Without an
// HTTPClient the clients keep their defaults, unrecorded.
func (o Options) client(requests, latency string) *http.Client {
	if o.HTTPClient == nil {
		return nil
	}
	return metrics.Client(o.HTTPClient, requests, latency)
}

// Zammad returns a client for the Zammad at baseURL with token, tuned by o.
// Its errors are the client's own (a malformed base URL or token names the
// field, see apperr.FieldsOf).
func Zammad(baseURL, token string, o Options) (*zammad.Client, error) {
	return zammad.New(baseURL, token, zammad.WithHTTPClient(o.client(metrics.ZammadRequests, metrics.ZammadLatency)), zammad.WithRetryPolicy(o.Policy),
		zammad.WithTimeout(o.AttemptTimeout), zammad.WithLogger(o.Logger))
}

// Kimai returns a client for the Kimai at baseURL with token, tuned by o
// (see Zammad).
func Kimai(baseURL, token string, o Options) (*kimai.Client, error) {
	return kimai.New(baseURL, token, kimai.WithHTTPClient(o.client(metrics.KimaiRequests, metrics.KimaiLatency)), kimai.WithRetryPolicy(o.Policy),
		kimai.WithTimeout(o.AttemptTimeout), kimai.WithLogger(o.Logger))
}

// Connector implements engine.Connector.
type Connector struct {
	store   Connectors
	secrets Secrets
	opts    Options
}

var _ engine.Connector = (*Connector)(nil)

// New returns a Connector.
func New(store Connectors, secrets Secrets, opts Options) *Connector {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Connector{store: store, secrets: secrets, opts: opts}
}

// Connect opens the clients of profile p.
func (c *Connector) Connect(ctx context.Context, p tb.Profile) (engine.ZammadAPI, engine.KimaiAPI, error) {
	zc, ztok, err := c.load(ctx, p.ZammadConnectorID, tb.KindZammad)
	if err != nil {
		return nil, nil, err
	}
	kc, ktok, err := c.load(ctx, p.KimaiConnectorID, tb.KindKimai)
	if err != nil {
		return nil, nil, err
	}
	z, err := Zammad(zc.BaseURL, ztok, c.opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: zammad connector %s: %w", zc.ID, err)
	}
	k, err := Kimai(kc.BaseURL, ktok, c.opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: kimai connector %s: %w", kc.ID, err)
	}
	return z, k, nil
}

func (c *Connector) load(ctx context.Context, id string, kind tb.ConnectorKind) (tb.Connector, string, error) {
	if id == "" {
		return tb.Connector{}, "", apperr.New(apperr.Validation, "connect", fmt.Sprintf("The profile has no %s connector; choose one in the profile.", kind))
	}
	conn, err := c.store.GetConnector(ctx, id)
	if err != nil {
		return conn, "", fmt.Errorf("connect: load %s connector %s: %w", kind, id, err)
	}
	if conn.Kind != kind {
		return conn, "", apperr.New(apperr.Validation, "connect",
			fmt.Sprintf("Connector %q is a %s connector, but the profile uses it as its %s connector.", conn.Name, conn.Kind, kind))
	}
	if conn.TokenSecret == "" {
		return conn, "", apperr.New(apperr.Validation, "connect", fmt.Sprintf("Connector %q has no token; paste one in the connector.", conn.Name))
	}
	// The name is derived from the id, not read from the record. The
	// record's version and hint make an instance that cached the token
	// before it was replaced (by another instance) read it again.
	tok, err := c.secrets.GetFresh(ctx, vault.ConnectorToken(conn.ID), vault.Want{Version: conn.Version, Hint: conn.TokenHint})
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return conn, "", apperr.Wrap(err, apperr.Validation, "connect",
				fmt.Sprintf("The token of connector %q is missing from Secrets Manager; paste the token again.", conn.Name))
		}
		return conn, "", fmt.Errorf("connect: token of connector %s: %w", id, err)
	}
	return conn, tok.Reveal(), nil
}

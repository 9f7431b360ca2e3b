// Package connect opens the upstream clients of a sync profile: it reads the
// profile's two connectors from the store, their tokens from the vault
// (Secrets Manager), and builds the Zammad and Kimai clients the engine
// uses. Tokens exist only in memory here; they are never logged.
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
	Get(ctx context.Context, name string) (string, error)
}

// Options tune the clients; zero values take the clients' defaults.
type Options struct {
	// HTTPClient carries the internal-address guard in AWS
	// (netguard.HTTPClient); nil uses the clients' default.
	HTTPClient     *http.Client
	Policy         upstream.Policy
	AttemptTimeout time.Duration
	Logger         *slog.Logger
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
	zopts := []zammad.Option{zammad.WithLogger(c.opts.Logger)}
	kopts := []kimai.Option{kimai.WithLogger(c.opts.Logger)}
	if c.opts.HTTPClient != nil {
		zopts = append(zopts, zammad.WithHTTPClient(c.opts.HTTPClient))
		kopts = append(kopts, kimai.WithHTTPClient(c.opts.HTTPClient))
	}
	if c.opts.Policy != (upstream.Policy{}) {
		zopts = append(zopts, zammad.WithRetryPolicy(c.opts.Policy))
		kopts = append(kopts, kimai.WithRetryPolicy(c.opts.Policy))
	}
	if c.opts.AttemptTimeout > 0 {
		zopts = append(zopts, zammad.WithTimeout(c.opts.AttemptTimeout))
		kopts = append(kopts, kimai.WithTimeout(c.opts.AttemptTimeout))
	}
	z, err := zammad.New(zc.BaseURL, ztok, zopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: zammad connector %s: %w", zc.ID, err)
	}
	k, err := kimai.New(kc.BaseURL, ktok, kopts...)
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
	// The name is derived from the id, not read from the record.
	tok, err := c.secrets.Get(ctx, vault.ConnectorToken(conn.ID))
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return conn, "", apperr.Wrap(err, apperr.Validation, "connect",
				fmt.Sprintf("The token of connector %q is missing from Secrets Manager; paste the token again.", conn.Name))
		}
		return conn, "", fmt.Errorf("connect: token of connector %s: %w", id, err)
	}
	return conn, tok, nil
}

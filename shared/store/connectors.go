package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/timebridge"
)

const (
	pkConnector = "CONNECTOR"
	pkProfile   = "PROFILE"
)

// connectorItem is the stored form of a timebridge.Connector. Connector and
// profile items carry every attribute (no omitempty) so that an update
// replaces all of them.
type connectorItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Type        string `dynamodbav:"type"`
	ID          string `dynamodbav:"id"`
	Kind        string `dynamodbav:"kind"`
	Name        string `dynamodbav:"name"`
	BaseURL     string `dynamodbav:"base_url"`
	TokenSecret string `dynamodbav:"token_secret"`
	TokenHint   string `dynamodbav:"token_hint"`
	Version     int64  `dynamodbav:"version"`
	CreatedAt   string `dynamodbav:"created_at"`
	UpdatedAt   string `dynamodbav:"updated_at"`
}

func toConnectorItem(c timebridge.Connector) connectorItem {
	return connectorItem{
		PK: pkConnector, SK: c.ID, Type: "connector",
		ID: c.ID, Kind: string(c.Kind), Name: c.Name, BaseURL: c.BaseURL,
		TokenSecret: c.TokenSecret, TokenHint: c.TokenHint, Version: c.Version,
		CreatedAt: fmtTime(c.CreatedAt), UpdatedAt: fmtTime(c.UpdatedAt),
	}
}

func (it connectorItem) domain() (timebridge.Connector, error) {
	var p timeParser
	c := timebridge.Connector{
		ID: it.ID, Kind: timebridge.ConnectorKind(it.Kind), Name: it.Name, BaseURL: it.BaseURL,
		TokenSecret: it.TokenSecret, TokenHint: it.TokenHint, Version: it.Version,
		CreatedAt: p.t(it.CreatedAt), UpdatedAt: p.t(it.UpdatedAt),
	}
	return c, p.err
}

// CreateConnector stores a new connector with Version 1. An empty ID is
// assigned (NewID); CreatedAt (when zero) and UpdatedAt are set to now. An
// existing id fails with apperr.Conflict.
func (st *Store) CreateConnector(ctx context.Context, c timebridge.Connector) (timebridge.Connector, error) {
	const op = "store: create connector"
	now := st.now().UTC()
	if c.ID == "" {
		c.ID = ident.New(now)
	}
	if err := checkID(op, "connector id", c.ID); err != nil {
		return c, err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	c.Version = 1
	item, err := marshal(op, toConnectorItem(c))
	if err != nil {
		return c, err
	}
	if err := st.putVersioned(ctx, op, "connector "+c.ID, item, 0); err != nil {
		return c, err
	}
	return normConnector(c), nil
}

// GetConnector returns the connector, apperr.NotFound if there is none.
func (st *Store) GetConnector(ctx context.Context, id string) (timebridge.Connector, error) {
	const op = "store: get connector"
	if err := checkID(op, "connector id", id); err != nil {
		return timebridge.Connector{}, err
	}
	var it connectorItem
	ok, err := st.getItem(ctx, op, key(pkConnector, id), &it)
	if err != nil {
		return timebridge.Connector{}, err
	}
	if !ok {
		return timebridge.Connector{}, notFound(op, "connector "+id)
	}
	return conv(op, it.domain)
}

// ListConnectors returns all connectors ordered by id.
func (st *Store) ListConnectors(ctx context.Context) ([]timebridge.Connector, error) {
	const op = "store: list connectors"
	items, err := queryPrefix[connectorItem](ctx, st, op, pkConnector, "")
	if err != nil {
		return nil, err
	}
	out := make([]timebridge.Connector, 0, len(items))
	for _, it := range items {
		c, err := conv(op, it.domain)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// UpdateConnector replaces the connector when its stored version equals
// expectVersion, and returns it with Version expectVersion+1 and UpdatedAt
// now (CreatedAt is kept from the stored item). A stale version fails with
// apperr.Conflict, a missing connector with apperr.NotFound.
func (st *Store) UpdateConnector(ctx context.Context, c timebridge.Connector, expectVersion int64) (timebridge.Connector, error) {
	const op = "store: update connector"
	if err := checkID(op, "connector id", c.ID); err != nil {
		return c, err
	}
	c.Version = expectVersion + 1
	c.UpdatedAt = st.now().UTC()
	item, err := marshal(op, toConnectorItem(c))
	if err != nil {
		return c, err
	}
	attrs, err := st.updateVersioned(ctx, op, "connector "+c.ID, item, expectVersion)
	if err != nil {
		return c, err
	}
	var it connectorItem
	if err := attributevalue.UnmarshalMap(attrs, &it); err != nil {
		return c, internal(op, err)
	}
	return conv(op, it.domain)
}

// DeleteConnector deletes the connector when its stored version equals
// expectVersion. The store does not check whether profiles still use it.
func (st *Store) DeleteConnector(ctx context.Context, id string, expectVersion int64) error {
	const op = "store: delete connector"
	if err := checkID(op, "connector id", id); err != nil {
		return err
	}
	return st.deleteVersioned(ctx, op, "connector "+id, key(pkConnector, id), expectVersion)
}

func normConnector(c timebridge.Connector) timebridge.Connector {
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c
}

// conv converts a stored item to its domain value, classifying a failure
// (a malformed stored attribute) as internal.
func conv[T any](op string, domain func() (T, error)) (T, error) {
	v, err := domain()
	if err != nil {
		return v, internal(op, err)
	}
	return v, nil
}

func internal(op string, err error) error { return apperr.Wrap(err, apperr.Internal, op, msgInternal) }

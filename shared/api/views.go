package api

import (
	"time"

	"github.com/timebridge/timebridge/shared/ident"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// connectorView is a connector as the API shows it: never the token, only
// whether one is set and a short hint.
type connectorView struct {
	ID        string           `json:"id"`
	Kind      tb.ConnectorKind `json:"kind"`
	Name      string           `json:"name"`
	BaseURL   string           `json:"base_url"`
	TokenSet  bool             `json:"token_set"`
	TokenHint string           `json:"token_hint"`
	Version   int64            `json:"version"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

func viewConnector(c tb.Connector) connectorView {
	v := connectorView{ID: c.ID, Kind: c.Kind, Name: c.Name, BaseURL: c.BaseURL, TokenSet: c.TokenSecret != "",
		Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if v.TokenSet {
		v.TokenHint = c.TokenHint
	}
	return v
}

// profileView is a profile with the webhook URL to paste into Zammad.
type profileView struct {
	tb.Profile
	WebhookURL string `json:"webhook_url"`
	// WebhookSecret is set only in the answer that created it (profile
	// creation, rotation): it is shown once.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func (s *server) viewProfile(p tb.Profile) profileView {
	if p.Tags == nil {
		p.Tags = []string{}
	}
	if p.Pace == "" {
		p.Pace = tb.PaceAdaptive // stored before profiles had a pace
	}
	return profileView{Profile: p, WebhookURL: s.webhookURL(p.ID)}
}

func (s *server) webhookURL(profileID string) string {
	return s.PublicURL + "/webhooks/zammad/" + profileID
}

// conflictView is a conflict with the actions that apply to it.
type conflictView struct {
	tb.Conflict
	Actions []tb.Resolution `json:"actions"`
}

func viewConflict(c tb.Conflict) conflictView {
	v := conflictView{Conflict: c, Actions: []tb.Resolution{}}
	if c.Status == tb.ConflictOpen {
		v.Actions = c.Kind.Resolutions()
	}
	return v
}

type list[T any] struct {
	Items []T `json:"items"`
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func auditRecord(e auditEvent, now time.Time) tb.AuditEvent {
	return tb.AuditEvent{ID: ident.New(now), Time: now, ProfileID: e.ProfileID, RunID: e.RunID,
		Actor: e.Actor, Type: e.Type, Subject: e.Subject, Message: e.Message, Before: e.Before, After: e.After}
}

// Secret names in the vault (relative to the stack's prefix), as the
// contract fixes them.

package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/ident"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/zammad"
)

// Ranges of profile settings.
const (
	maxMinutesPerUnit = 1440 // a day per unit
	minWindowDays     = 1
	maxWindowDays     = 366
	minConcurrency    = 1
	// An adaptive pace only reaches the bound against a Kimai that keeps
	// up; 64 leaves room for large servers while one run's writes (each
	// holds a DynamoDB claim and a Kimai request) stay within what one
	// function instance handles.
	maxConcurrency = 64
	// The scheduler ticks every 5 minutes, so shorter intervals would not
	// run more often.
	minIntervalMinutes = 5
	maxIntervalMinutes = 1440
	maxTags            = 10
	maxExternalID      = 1 << 53 // ids beyond this lose precision in JSON clients
)

// profileInput is the body of POST and PATCH /api/profiles. Every field is
// optional in a PATCH; a null counts as absent.
type profileInput struct {
	Name                 *string         `json:"name"`
	ZammadConnectorID    *string         `json:"zammad_connector_id"`
	KimaiConnectorID     *string         `json:"kimai_connector_id"`
	Enabled              *bool           `json:"enabled"`
	MinutesPerUnit       json.RawMessage `json:"minutes_per_unit"`
	ProjectStrategy      *string         `json:"project_strategy"`
	AutoCreateCustomers  *bool           `json:"auto_create_customers"`
	AutoCreateProjects   *bool           `json:"auto_create_projects"`
	AutoCreateActivities *bool           `json:"auto_create_activities"`
	DefaultCustomerID    *int64          `json:"default_customer_id"`
	DefaultActivityID    *int64          `json:"default_activity_id"`
	UserMode             *string         `json:"user_mode"`
	StrictUsers          *bool           `json:"strict_users"`
	DeletionWindowDays   *int            `json:"deletion_window_days"`
	Concurrency          *int            `json:"concurrency"`
	Pace                 *string         `json:"pace"`
	Tags                 *[]string       `json:"tags"`
	IntervalMinutes      *int            `json:"interval_minutes"`
	Billing              *billingInput   `json:"billing"`
	Version              *int64          `json:"version"`
}

type billingInput struct {
	Enabled *bool   `json:"enabled"`
	Tag     *string `json:"tag"`
}

func intIn(p problems, field string, v *int, lo, hi int, dst *int) {
	if v == nil {
		return
	}
	if *v < lo || *v > hi {
		p.add(field, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return
	}
	*dst = *v
}

func idIn(p problems, field string, v *int64, dst *int64) {
	if v == nil {
		return
	}
	if *v < 0 || *v > maxExternalID {
		p.add(field, "must be 0 (none) or a positive id")
		return
	}
	*dst = *v
}

// apply validates in and writes it onto pr. Connector ids are only checked
// for presence here; checkConnectors looks them up.
func (in profileInput) apply(p problems, pr *tb.Profile, create bool) {
	if in.Name != nil || create {
		name := ""
		if in.Name != nil {
			name = *in.Name
		}
		pr.Name = checkText(p, "name", name, true, maxNameLength)
	}
	for _, f := range []struct {
		field string
		v     *string
		dst   *string
	}{
		{"zammad_connector_id", in.ZammadConnectorID, &pr.ZammadConnectorID},
		{"kimai_connector_id", in.KimaiConnectorID, &pr.KimaiConnectorID},
	} {
		switch {
		case f.v == nil && create:
			p.add(f.field, "is required")
		case f.v == nil:
		case !ident.Valid(*f.v):
			p.add(f.field, "is not a valid connector id")
		default:
			*f.dst = *f.v
		}
	}
	if in.Enabled != nil {
		pr.Enabled = *in.Enabled
	}
	if len(in.MinutesPerUnit) > 0 && string(in.MinutesPerUnit) != "null" {
		var d decimal.Dec
		max := decimal.FromInt(maxMinutesPerUnit)
		if err := json.Unmarshal(in.MinutesPerUnit, &d); err != nil || d.Sign() <= 0 || d.Cmp(max) > 0 {
			p.add("minutes_per_unit", fmt.Sprintf("must be a decimal above 0 and at most %d (1 for minutes, 60 for hours, 15 for quarter hours)", maxMinutesPerUnit))
		} else {
			pr.MinutesPerUnit = d
		}
	}
	if in.ProjectStrategy != nil {
		switch v := tb.ProjectStrategy(*in.ProjectStrategy); v {
		case tb.ProjectPerCustomer, tb.ProjectPerTicket, tb.ProjectPerGroup:
			pr.ProjectStrategy = v
		default:
			p.add("project_strategy", "must be customer, ticket or group")
		}
	}
	if in.AutoCreateCustomers != nil {
		pr.AutoCreateCustomers = *in.AutoCreateCustomers
	}
	if in.AutoCreateProjects != nil {
		pr.AutoCreateProjects = *in.AutoCreateProjects
	}
	if in.AutoCreateActivities != nil {
		pr.AutoCreateActivities = *in.AutoCreateActivities
	}
	idIn(p, "default_customer_id", in.DefaultCustomerID, &pr.DefaultCustomerID)
	idIn(p, "default_activity_id", in.DefaultActivityID, &pr.DefaultActivityID)
	if in.UserMode != nil {
		switch v := tb.UserMode(*in.UserMode); v {
		case tb.UserToken, tb.UserEmail, tb.UserExplicit:
			pr.UserMode = v
		default:
			p.add("user_mode", "must be token, email or explicit")
		}
	}
	if in.StrictUsers != nil {
		pr.StrictUsers = *in.StrictUsers
	}
	intIn(p, "deletion_window_days", in.DeletionWindowDays, minWindowDays, maxWindowDays, &pr.DeletionWindowDays)
	intIn(p, "concurrency", in.Concurrency, minConcurrency, maxConcurrency, &pr.Concurrency)
	if in.Pace != nil {
		switch v := tb.Pace(*in.Pace); v {
		case tb.PaceAdaptive, tb.PaceFixed:
			pr.Pace = v
		default:
			p.add("pace", "must be adaptive or fixed")
		}
	}
	intIn(p, "interval_minutes", in.IntervalMinutes, minIntervalMinutes, maxIntervalMinutes, &pr.IntervalMinutes)
	if in.Tags != nil {
		tags := []string{}
		if len(*in.Tags) > maxTags {
			p.add("tags", fmt.Sprintf("must have at most %d tags", maxTags))
		}
		for i, t := range *in.Tags {
			field := fmt.Sprintf("tags.%d", i)
			t = checkText(p, field, t, true, 100)
			switch {
			case t == "":
			case len([]rune(t)) < 2:
				p.add(field, "must have at least 2 characters (Kimai's rule)")
			case strings.ContainsAny(t, `,<>"=`):
				p.add(field, `must not contain , < > " or = (Kimai refuses them)`)
			case !slices.Contains(tags, t):
				tags = append(tags, t)
			}
		}
		pr.Tags = tags
	}
	if b := in.Billing; b != nil {
		if b.Enabled == nil {
			p.add("billing.enabled", "is required")
		} else {
			pr.Billing.Enabled = *b.Enabled
		}
		if b.Tag == nil {
			p.add("billing.tag", "is required")
		} else {
			t := checkText(p, "billing.tag", *b.Tag, true, 100)
			if strings.Contains(t, ",") {
				// Zammad's UI splits tags on commas.
				p.add("billing.tag", "must not contain a comma")
			}
			pr.Billing.Tag = t
		}
	}
}

// checkConnectors verifies that the profile's connectors exist and have
// the right kinds.
func (s *server) checkConnectors(ctx context.Context, p problems, pr tb.Profile) error {
	for _, f := range []struct {
		field string
		id    string
		kind  tb.ConnectorKind
	}{
		{"zammad_connector_id", pr.ZammadConnectorID, tb.KindZammad},
		{"kimai_connector_id", pr.KimaiConnectorID, tb.KindKimai},
	} {
		if _, bad := p[f.field]; bad || f.id == "" {
			continue
		}
		c, err := s.Store.GetConnector(ctx, f.id)
		switch {
		case apperr.Is(err, apperr.NotFound):
			p.add(f.field, "names no existing connector")
		case err != nil:
			return err
		case c.Kind != f.kind:
			p.add(f.field, fmt.Sprintf("names a %s connector; choose a %s connector", c.Kind, f.kind))
		}
	}
	return nil
}

func (s *server) listProfiles(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ps, err := s.Store.ListProfiles(r.Context())
	if err != nil {
		return err
	}
	out := make([]profileView, len(ps))
	for i, p := range ps {
		out[i] = s.viewProfile(p)
	}
	writeJSON(w, http.StatusOK, list[profileView]{Items: out})
	return nil
}

// newWebhookSecret returns 32 random bytes as hex: printable, and long
// enough for HMAC-SHA1.
func newWebhookSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", apperr.Wrap(err, apperr.Internal, "api: webhook secret", "")
	}
	return hex.EncodeToString(b[:]), nil
}

func (s *server) createProfile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in profileInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := problems{}
	if in.Version != nil {
		p.add("version", "is not accepted when creating a profile")
	}
	var pr tb.Profile
	in.apply(p, &pr, true)
	if err := s.checkConnectors(ctx, p, pr); err != nil {
		return err
	}
	if err := p.err(); err != nil {
		return err
	}
	if err := s.checkPairUnique(ctx, pr); err != nil {
		return err
	}
	pr = pr.WithDefaults()
	pr.ID = ident.New(s.Now())
	secret, err := newWebhookSecret()
	if err != nil {
		return err
	}
	if err := s.Vault.Put(ctx, vault.WebhookSecret(pr.ID), secret); err != nil {
		return err
	}
	created, err := s.Store.CreateProfile(ctx, pr)
	if err != nil {
		s.dropSecret(ctx, vault.WebhookSecret(pr.ID))
		return err
	}
	v := s.viewProfile(created)
	s.audit(r, auditEvent{ProfileID: created.ID, Type: "profile.created", Subject: "profile " + created.ID,
		Message: fmt.Sprintf("Created profile %q", created.Name), After: v})
	v.WebhookSecret = secret
	setETag(w, created.Version)
	w.Header().Set("Location", "/api/profiles/"+created.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *server) loadProfile(r *http.Request) (tb.Profile, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return tb.Profile{}, err
	}
	return s.Store.GetProfile(r.Context(), id)
}

func (s *server) getProfile(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	pr, err := s.loadProfile(r)
	if err != nil {
		return err
	}
	setETag(w, pr.Version)
	writeJSON(w, http.StatusOK, s.viewProfile(pr))
	return nil
}

func (s *server) patchProfile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in profileInput
	cur, err := loadForPatch(r, &in, "profile", func(in *profileInput) *int64 { return in.Version },
		s.Store.GetProfile, func(p tb.Profile) int64 { return p.Version })
	if err != nil {
		return err
	}
	id := cur.ID
	p := problems{}
	next := cur
	in.apply(p, &next, false)
	if next.ZammadConnectorID != cur.ZammadConnectorID || next.KimaiConnectorID != cur.KimaiConnectorID {
		if err := s.checkConnectors(ctx, p, next); err != nil {
			return err
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	if next.ZammadConnectorID != cur.ZammadConnectorID {
		if err := s.checkZammadSwitch(ctx, cur, next); err != nil {
			return err
		}
	}
	if next.ZammadConnectorID != cur.ZammadConnectorID || next.KimaiConnectorID != cur.KimaiConnectorID {
		if err := s.checkPairUnique(ctx, next); err != nil {
			return err
		}
	}
	next = next.WithDefaults()
	updated, err := s.Store.UpdateProfile(ctx, next, cur.Version)
	if err != nil {
		return err
	}
	v := s.viewProfile(updated)
	s.audit(r, auditEvent{ProfileID: id, Type: "profile.updated", Subject: "profile " + id,
		Message: fmt.Sprintf("Updated profile %q", updated.Name), Before: s.viewProfile(cur), After: v})
	setETag(w, updated.Version)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) deleteProfile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cur, err := loadForDelete(r, "profile", s.loadProfile, func(p tb.Profile) int64 { return p.Version })
	if err != nil {
		return err
	}
	// DeleteProfile removes the profile and then its data (mappings,
	// links, cursor, conflicts, runs); audit events stay as history.
	if err := s.Store.DeleteProfile(ctx, cur.ID, cur.Version); err != nil {
		return err
	}
	s.dropSecret(ctx, vault.WebhookSecret(cur.ID))
	s.audit(r, auditEvent{ProfileID: cur.ID, Type: "profile.deleted", Subject: "profile " + cur.ID,
		Message: fmt.Sprintf("Deleted profile %q and its data", cur.Name), Before: s.viewProfile(cur)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type webhookSecretResponse struct {
	ProfileID     string `json:"profile_id"`
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret"`
}

func (s *server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := query(r); err != nil {
		return err
	}
	if err := emptyBody(r); err != nil {
		return err
	}
	pr, err := s.loadProfile(r)
	if err != nil {
		return err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return err
	}
	if err := s.Vault.Put(ctx, vault.WebhookSecret(pr.ID), secret); err != nil {
		return err
	}
	s.audit(r, auditEvent{ProfileID: pr.ID, Type: "profile.webhook_secret_rotated", Subject: "profile " + pr.ID,
		Message: "Rotated the webhook secret; paste the new one into Zammad's webhook"})
	writeJSON(w, http.StatusOK, webhookSecretResponse{ProfileID: pr.ID, WebhookURL: s.webhookURL(pr.ID), WebhookSecret: secret})
	return nil
}

// emptyBody accepts no body, an empty one or "{}" (clients differ in what
// they send with a bodiless POST).
func emptyBody(r *http.Request) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	var in struct{}
	err := decodeJSON(r, &in)
	if err != nil && apperr.FieldsOf(err)["body"] == "is required (a JSON object)" {
		return nil
	}
	return err
}

// checkZammadSwitch refuses to move a profile that has already run to a
// Zammad connector of another instance: its links are keyed by that
// instance's entry ids, which the other Zammad reuses for different
// entries. Another connector to the same instance (say, a new token) is fine.
func (s *server) checkZammadSwitch(ctx context.Context, cur, next tb.Profile) error {
	if cur.ZammadConnectorID == "" {
		return nil
	}
	runs, _, err := s.Store.ListRuns(ctx, cur.ID, 1, "")
	if err != nil || len(runs) == 0 {
		return err
	}
	instance := func(id string) string {
		c, err := s.Store.GetConnector(ctx, id)
		if err != nil {
			return ""
		}
		in, _ := zammad.InstanceID(c.BaseURL)
		return in
	}
	if a, b := instance(cur.ZammadConnectorID), instance(next.ZammadConnectorID); a == "" || a != b {
		return &apperr.Error{Kind: apperr.Conflict, Op: "api: update profile",
			Message: "This profile has already synced one Zammad; it can only switch to a connector of the same Zammad instance. Create a new profile for another Zammad.",
			Fields:  map[string]string{"zammad_connector_id": "names another Zammad instance than the one this profile has synced"}}
	}
	return nil
}

// checkPairUnique refuses a second profile syncing the same Zammad instance
// into the same Kimai: the two would each create a timesheet for every
// entry (their ledgers are per profile) and adopt each other's by marker.
func (s *server) checkPairUnique(ctx context.Context, p tb.Profile) error {
	if p.ZammadConnectorID == "" || p.KimaiConnectorID == "" {
		return nil
	}
	key := func(zid, kid string) string {
		z, err1 := s.Store.GetConnector(ctx, zid)
		k, err2 := s.Store.GetConnector(ctx, kid)
		if err1 != nil || err2 != nil {
			return ""
		}
		inst, err := zammad.InstanceID(z.BaseURL)
		if err != nil {
			return ""
		}
		return inst + " " + strings.ToLower(strings.TrimRight(k.BaseURL, "/"))
	}
	mine := key(p.ZammadConnectorID, p.KimaiConnectorID)
	if mine == "" {
		return nil
	}
	profiles, err := s.Store.ListProfiles(ctx)
	if err != nil {
		return err
	}
	for _, q := range profiles {
		if q.ID != p.ID && key(q.ZammadConnectorID, q.KimaiConnectorID) == mine {
			return &apperr.Error{Kind: apperr.Conflict, Op: "api: profile connectors",
				Message: fmt.Sprintf("Profile %q already syncs this Zammad into this Kimai; two profiles would book every entry twice. Edit that profile instead.", q.Name),
				Fields:  map[string]string{"zammad_connector_id": "already synced into this Kimai by profile " + q.Name}}
		}
	}
	return nil
}

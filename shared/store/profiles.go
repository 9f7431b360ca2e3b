package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// profileItem is the stored form of a timebridge.Profile (every attribute
// always present, see connectorItem).
type profileItem struct {
	PK                   string   `dynamodbav:"pk"`
	SK                   string   `dynamodbav:"sk"`
	Type                 string   `dynamodbav:"type"`
	ID                   string   `dynamodbav:"id"`
	Name                 string   `dynamodbav:"name"`
	ZammadConnectorID    string   `dynamodbav:"zammad_connector_id"`
	KimaiConnectorID     string   `dynamodbav:"kimai_connector_id"`
	Enabled              bool     `dynamodbav:"enabled"`
	MinutesPerUnit       string   `dynamodbav:"minutes_per_unit"`
	ProjectStrategy      string   `dynamodbav:"project_strategy"`
	AutoCreateCustomers  bool     `dynamodbav:"auto_create_customers"`
	AutoCreateProjects   bool     `dynamodbav:"auto_create_projects"`
	AutoCreateActivities bool     `dynamodbav:"auto_create_activities"`
	DefaultCustomerID    int64    `dynamodbav:"default_customer_id"`
	DefaultActivityID    int64    `dynamodbav:"default_activity_id"`
	UserMode             string   `dynamodbav:"user_mode"`
	StrictUsers          bool     `dynamodbav:"strict_users"`
	DeletionWindowDays   int      `dynamodbav:"deletion_window_days"`
	Concurrency          int      `dynamodbav:"concurrency"`
	Pace                 string   `dynamodbav:"pace,omitempty"` // absent before profiles had a pace
	Tags                 []string `dynamodbav:"tags"`
	IntervalMinutes      int      `dynamodbav:"interval_minutes"`
	BillingEnabled       bool     `dynamodbav:"billing_enabled"`
	BillingTag           string   `dynamodbav:"billing_tag,omitempty"`
	Version              int64    `dynamodbav:"version"`
	CreatedAt            string   `dynamodbav:"created_at"`
	UpdatedAt            string   `dynamodbav:"updated_at"`
}

func toProfileItem(p timebridge.Profile) profileItem {
	return profileItem{
		PK: pkProfile, SK: p.ID, Type: "profile",
		ID: p.ID, Name: p.Name,
		ZammadConnectorID: p.ZammadConnectorID, KimaiConnectorID: p.KimaiConnectorID,
		Enabled:              p.Enabled,
		MinutesPerUnit:       p.MinutesPerUnit.String(),
		ProjectStrategy:      string(p.ProjectStrategy),
		AutoCreateCustomers:  p.AutoCreateCustomers,
		AutoCreateProjects:   p.AutoCreateProjects,
		AutoCreateActivities: p.AutoCreateActivities,
		DefaultCustomerID:    p.DefaultCustomerID,
		DefaultActivityID:    p.DefaultActivityID,
		UserMode:             string(p.UserMode),
		StrictUsers:          p.StrictUsers,
		DeletionWindowDays:   p.DeletionWindowDays,
		Concurrency:          p.Concurrency,
		Pace:                 string(p.Pace),
		Tags:                 p.Tags,
		IntervalMinutes:      p.IntervalMinutes,
		BillingEnabled:       p.Billing.Enabled,
		BillingTag:           p.Billing.Tag,
		Version:              p.Version,
		CreatedAt:            fmtTime(p.CreatedAt),
		UpdatedAt:            fmtTime(p.UpdatedAt),
	}
}

func (it profileItem) domain() (timebridge.Profile, error) {
	var tp timeParser
	mpu, err := decimal.Parse(it.MinutesPerUnit)
	if err != nil {
		return timebridge.Profile{}, err
	}
	p := timebridge.Profile{
		ID: it.ID, Name: it.Name,
		ZammadConnectorID: it.ZammadConnectorID, KimaiConnectorID: it.KimaiConnectorID,
		Enabled:              it.Enabled,
		MinutesPerUnit:       mpu,
		ProjectStrategy:      timebridge.ProjectStrategy(it.ProjectStrategy),
		AutoCreateCustomers:  it.AutoCreateCustomers,
		AutoCreateProjects:   it.AutoCreateProjects,
		AutoCreateActivities: it.AutoCreateActivities,
		DefaultCustomerID:    it.DefaultCustomerID,
		DefaultActivityID:    it.DefaultActivityID,
		UserMode:             timebridge.UserMode(it.UserMode),
		StrictUsers:          it.StrictUsers,
		DeletionWindowDays:   it.DeletionWindowDays,
		Concurrency:          it.Concurrency,
		Pace:                 timebridge.Pace(it.Pace),
		Tags:                 it.Tags,
		IntervalMinutes:      it.IntervalMinutes,
		Billing:              timebridge.Billing{Enabled: it.BillingEnabled, Tag: it.BillingTag},
		Version:              it.Version,
		CreatedAt:            tp.t(it.CreatedAt),
		UpdatedAt:            tp.t(it.UpdatedAt),
	}
	return p, tp.err
}

// CreateProfile stores a new profile with Version 1 (ID assigned when empty,
// timestamps set as for CreateConnector). The store does not apply
// Profile.WithDefaults and does not check that the connectors exist.
func (st *Store) CreateProfile(ctx context.Context, p timebridge.Profile) (timebridge.Profile, error) {
	const op = "store: create profile"
	now := st.now().UTC()
	if p.ID == "" {
		p.ID = ident.New(now)
	}
	if err := checkID(op, "profile id", p.ID); err != nil {
		return p, err
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = now
	p.Version = 1
	item, err := marshal(op, toProfileItem(p))
	if err != nil {
		return p, err
	}
	if err := st.putVersioned(ctx, op, "profile "+p.ID, item, 0); err != nil {
		return p, err
	}
	return p, nil
}

// GetProfile returns the profile, apperr.NotFound if there is none.
func (st *Store) GetProfile(ctx context.Context, id string) (timebridge.Profile, error) {
	const op = "store: get profile"
	if err := checkID(op, "profile id", id); err != nil {
		return timebridge.Profile{}, err
	}
	var it profileItem
	ok, err := st.getItem(ctx, op, key(pkProfile, id), &it)
	if err != nil {
		return timebridge.Profile{}, err
	}
	if !ok {
		return timebridge.Profile{}, notFound(op, "profile "+id)
	}
	return conv(op, it.domain)
}

// ListProfiles returns all profiles ordered by id.
func (st *Store) ListProfiles(ctx context.Context) ([]timebridge.Profile, error) {
	const op = "store: list profiles"
	items, err := queryPrefix[profileItem](ctx, st, op, pkProfile, "")
	if err != nil {
		return nil, err
	}
	out := make([]timebridge.Profile, 0, len(items))
	for _, it := range items {
		p, err := conv(op, it.domain)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// UpdateProfile replaces the profile when its stored version equals
// expectVersion (see UpdateConnector).
func (st *Store) UpdateProfile(ctx context.Context, p timebridge.Profile, expectVersion int64) (timebridge.Profile, error) {
	const op = "store: update profile"
	if err := checkID(op, "profile id", p.ID); err != nil {
		return p, err
	}
	p.Version = expectVersion + 1
	p.UpdatedAt = st.now().UTC()
	item, err := marshal(op, toProfileItem(p))
	if err != nil {
		return p, err
	}
	attrs, err := st.updateVersioned(ctx, op, "profile "+p.ID, item, expectVersion)
	if err != nil {
		return p, err
	}
	var it profileItem
	if err := attributevalue.UnmarshalMap(attrs, &it); err != nil {
		return p, internal(op, err)
	}
	return conv(op, it.domain)
}

// DeleteProfile deletes the profile when its stored version equals
// expectVersion, then removes its data with DeleteProfileData. If that
// second step fails, the profile is gone but some of its data is not: the
// error says so, and DeleteProfileData can be called again.
func (st *Store) DeleteProfile(ctx context.Context, id string, expectVersion int64) error {
	const op = "store: delete profile"
	if err := checkID(op, "profile id", id); err != nil {
		return err
	}
	if err := st.deleteVersioned(ctx, op, "profile "+id, key(pkProfile, id), expectVersion); err != nil {
		return err
	}
	if err := st.DeleteProfileData(ctx, id); err != nil {
		return &apperr.Error{
			Kind: apperr.KindOf(err), Op: op,
			Message: "The profile was deleted, but some of its data could not be removed yet; retry the cleanup.",
			Err:     err,
		}
	}
	return nil
}

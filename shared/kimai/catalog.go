package kimai

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/upstream"
)

// ---------------------------------------------------------------------
// Users

// User is a Kimai user as the API reports it.
type User struct {
	ID       int64    `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Timezone string   `json:"timezone"`
	Roles    []string `json:"roles"`
	Enabled  bool     `json:"enabled"`
}

// Zone is the API user's time zone, in which Kimai reads the local times
// Timebridge sends. Unlike Location it never guesses: an empty zone or one
// this build does not know is an error saying what to fix, because a wrong
// zone would book every entry at the wrong hour.
func (u User) Zone() (*time.Location, error) {
	const op = "kimai: user time zone"
	if u.Timezone == "" {
		return nil, apperr.New(apperr.Validation, op,
			fmt.Sprintf("Kimai did not say which time zone user %q has; set one on the Kimai user (Preferences › Timezone).", u.Username))
	}
	l, err := time.LoadLocation(u.Timezone)
	if err != nil || u.Timezone == "Local" {
		return nil, apperr.New(apperr.Validation, op,
			fmt.Sprintf("Kimai user %q has time zone %q, which Timebridge does not know; set a valid IANA time zone on the Kimai user (Preferences › Timezone).", u.Username, u.Timezone))
	}
	return l, nil
}

// Me returns the user the token belongs to.
func (c *Client) Me(ctx context.Context) (User, error) {
	const op = "kimai: me"
	var u User
	if _, err := c.call(ctx, get(op, "/api/users/me", nil), &u); err != nil {
		return User{}, err
	}
	if u.ID == 0 {
		return User{}, malformed(op, fmt.Errorf("%w: user without id", errUnexpected))
	}
	return u, nil
}

// Users returns all users, enabled and disabled (Enabled tells them apart;
// disabled users cannot own new timesheets). It needs the view_user
// permission.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	const op = "kimai: list users"
	var us []User
	if _, err := c.call(ctx, get(op, "/api/users", url.Values{"visible": {"3"}}), &us); err != nil {
		return nil, refine(err, apperr.Permission,
			"Listing Kimai users needs the view_user permission (by default administrators only): give the connector's Kimai user that role, or map Zammad agents to Kimai users explicitly.")
	}
	return us, nil
}

// ---------------------------------------------------------------------
// Customers, projects, activities

// Customer is a Kimai customer.
type Customer struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Number   string `json:"number"`
	Comment  string `json:"comment"`
	Visible  bool   `json:"visible"`
	Billable bool   `json:"billable"`
	Country  string `json:"country"`
	Currency string `json:"currency"`
	Timezone string `json:"timezone"`
}

// Project is a Kimai project. Start and End are dates (YYYY-MM-DD) or "".
type Project struct {
	ID               int64  `json:"id"`
	CustomerID       int64  `json:"customer"`
	Name             string `json:"name"`
	Number           string `json:"number"`
	Comment          string `json:"comment"`
	Visible          bool   `json:"visible"`
	Billable         bool   `json:"billable"`
	GlobalActivities bool   `json:"globalActivities"`
	Start            string `json:"start"`
	End              string `json:"end"`
}

// Activity is a Kimai activity; ProjectID 0 means a global activity.
type Activity struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project"`
	Name      string `json:"name"`
	Number    string `json:"number"`
	Comment   string `json:"comment"`
	Visible   bool   `json:"visible"`
	Billable  bool   `json:"billable"`
}

// Customers returns all customers, visible and hidden (the list is not
// paginated). Hidden ones are included so that their numbers are known:
// numbers are unique across both.
func (c *Client) Customers(ctx context.Context) ([]Customer, error) {
	var out []Customer
	_, err := c.call(ctx, get("kimai: list customers", "/api/customers", url.Values{"visible": {"3"}}), &out)
	return out, err
}

// Projects returns all projects, visible and hidden, regardless of their
// date range (ignoreDates=1&visible=3: the default list hides projects
// whose start/end does not cover today).
func (c *Client) Projects(ctx context.Context) ([]Project, error) {
	var out []Project
	q := url.Values{"ignoreDates": {"1"}, "visible": {"3"}}
	_, err := c.call(ctx, get("kimai: list projects", "/api/projects", q), &out)
	return out, err
}

// Activities returns all activities, visible and hidden, global and
// project-specific.
func (c *Client) Activities(ctx context.Context) ([]Activity, error) {
	var out []Activity
	_, err := c.call(ctx, get("kimai: list activities", "/api/activities", url.Values{"visible": {"3"}}), &out)
	return out, err
}

// Default customer settings sent when CustomerInput leaves them empty:
// Kimai's shipped defaults. Kimai before 2.63 requires them.
const (
	DefaultCountry  = "DE"
	DefaultCurrency = "EUR"
	DefaultTimezone = "UTC"
)

// CustomerInput creates a customer. The zero value of the booleans gives a
// visible, billable customer; every setting is sent explicitly, because
// Kimai before 2.63 cleared omitted fields (hidden, not billable) while
// 2.63+ fills in defaults. Number, when set, is the external key (unique,
// at most 50 characters); when empty Kimai 2.63+ generates one.
type CustomerInput struct {
	Name        string
	Number      string
	Comment     string
	Country     string // ISO 3166-1 alpha-2; default DefaultCountry
	Currency    string // ISO 4217; default DefaultCurrency
	Timezone    string // IANA; default DefaultTimezone
	Hidden      bool
	NonBillable bool
}

// ProjectInput creates a project of customer CustomerID. The zero value of
// the booleans gives a visible, billable project that allows global
// activities; all three are always sent. Number is at most 10 characters.
type ProjectInput struct {
	CustomerID         int64
	Name               string
	Number             string
	Comment            string
	Hidden             bool
	NonBillable        bool
	NoGlobalActivities bool
}

// ActivityInput creates an activity; ProjectID 0 creates a global one. The
// zero value of the booleans gives a visible, billable activity. Number is
// at most 10 characters.
type ActivityInput struct {
	ProjectID   int64
	Name        string
	Number      string
	Comment     string
	Hidden      bool
	NonBillable bool
}

func entityKey(number, name string) string {
	if number != "" {
		return fmt.Sprintf("%q", number)
	}
	return fmt.Sprintf("%q", name)
}

// post sends a catalog POST. It is not idempotent: after an ambiguous
// failure the entity may exist, so the caller re-reads the catalog (by
// number) before creating again.
func post(op, path string, body any) upstream.Request {
	return upstream.Request{Op: op, Method: http.MethodPost, Path: path, Body: body}
}

// CreateCustomer creates a customer (needs create_customer).
func (c *Client) CreateCustomer(ctx context.Context, in CustomerInput) (Customer, error) {
	op := "kimai: create customer " + entityKey(in.Number, in.Name)
	body := map[string]any{
		"name":     in.Name,
		"country":  orDefault(in.Country, DefaultCountry),
		"currency": orDefault(in.Currency, DefaultCurrency),
		"timezone": orDefault(in.Timezone, DefaultTimezone),
		"visible":  !in.Hidden,
		"billable": !in.NonBillable,
	}
	optional(body, "number", in.Number)
	optional(body, "comment", in.Comment)
	var out Customer
	if _, err := c.call(ctx, post(op, "/api/customers", body), &out); err != nil {
		return Customer{}, refine(err, apperr.Permission, createPermMessage("customers", "create_customer"))
	}
	if out.ID == 0 {
		return Customer{}, malformed(op, fmt.Errorf("%w: customer without id", errUnexpected))
	}
	return out, nil
}

// CreateProject creates a project (needs create_project).
func (c *Client) CreateProject(ctx context.Context, in ProjectInput) (Project, error) {
	op := "kimai: create project " + entityKey(in.Number, in.Name)
	body := map[string]any{
		"name":             in.Name,
		"customer":         in.CustomerID,
		"visible":          !in.Hidden,
		"billable":         !in.NonBillable,
		"globalActivities": !in.NoGlobalActivities,
	}
	optional(body, "number", in.Number)
	optional(body, "comment", in.Comment)
	var out Project
	if _, err := c.call(ctx, post(op, "/api/projects", body), &out); err != nil {
		return Project{}, refine(err, apperr.Permission, createPermMessage("projects", "create_project"))
	}
	if out.ID == 0 {
		return Project{}, malformed(op, fmt.Errorf("%w: project without id", errUnexpected))
	}
	return out, nil
}

// CreateActivity creates an activity (needs create_activity). A global
// activity is created by omitting "project", as Kimai requires.
func (c *Client) CreateActivity(ctx context.Context, in ActivityInput) (Activity, error) {
	op := "kimai: create activity " + entityKey(in.Number, in.Name)
	body := map[string]any{
		"name":     in.Name,
		"visible":  !in.Hidden,
		"billable": !in.NonBillable,
	}
	if in.ProjectID != 0 {
		body["project"] = in.ProjectID
	}
	optional(body, "number", in.Number)
	optional(body, "comment", in.Comment)
	var out Activity
	if _, err := c.call(ctx, post(op, "/api/activities", body), &out); err != nil {
		return Activity{}, refine(err, apperr.Permission, createPermMessage("activities", "create_activity"))
	}
	if out.ID == 0 {
		return Activity{}, malformed(op, fmt.Errorf("%w: activity without id", errUnexpected))
	}
	return out, nil
}

func createPermMessage(what, perm string) string {
	return fmt.Sprintf("The connector's Kimai user may not create %s (permission %s, by default administrators): create and map them in Timebridge by hand, or give that user the administrator role in Kimai.", what, perm)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func optional(body map[string]any, k, v string) {
	if v != "" {
		body[k] = v
	}
}

// ---------------------------------------------------------------------
// Tags

// Tag is a Kimai tag.
type Tag struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Visible bool   `json:"visible"`
	Color   string `json:"color"`
}

// FindTag looks a tag up by name. Kimai's search is a substring match, so
// the result is checked here: an exact match wins, otherwise a match that
// differs only in case (Kimai's database treats those as the same tag).
func (c *Client) FindTag(ctx context.Context, name string) (Tag, bool, error) {
	name = strings.TrimSpace(name)
	op := fmt.Sprintf("kimai: find tag %q", name)
	var tags []Tag
	if _, err := c.call(ctx, get(op, "/api/tags/find", url.Values{"name": {name}}), &tags); err != nil {
		return Tag{}, false, err
	}
	for _, t := range tags {
		if t.Name == name {
			return t, true, nil
		}
	}
	for _, t := range tags {
		if strings.EqualFold(t.Name, name) {
			return t, true, nil
		}
	}
	return Tag{}, false, nil
}

// CreateTag creates a visible tag (needs create_tag; ROLE_USER has it).
// Names are 2–100 characters without , < > " =.
func (c *Client) CreateTag(ctx context.Context, name string) (Tag, error) {
	name = strings.TrimSpace(name)
	op := fmt.Sprintf("kimai: create tag %q", name)
	var out Tag
	body := map[string]any{"name": name, "visible": true}
	if _, err := c.call(ctx, post(op, "/api/tags", body), &out); err != nil {
		return Tag{}, refine(err, apperr.Permission, createPermMessage("tags", "create_tag"))
	}
	if out.ID == 0 {
		return Tag{}, malformed(op, fmt.Errorf("%w: tag without id", errUnexpected))
	}
	return out, nil
}

// EnsureTags makes sure every named tag exists, creating missing ones:
// Kimai silently drops unknown tags from timesheets. A create that fails
// because the tag exists after all (a concurrent run created it; Kimai
// answers a validation error) or ambiguously (the tag may have been
// created) is checked by finding the tag again.
func (c *Client) EnsureTags(ctx context.Context, names []string) error {
	seen := map[string]bool{}
	for _, raw := range names {
		name := strings.TrimSpace(raw)
		if name == "" || seen[strings.ToLower(name)] {
			continue
		}
		seen[strings.ToLower(name)] = true
		if strings.Contains(name, ",") {
			return apperr.New(apperr.Validation, fmt.Sprintf("kimai: ensure tag %q", name),
				fmt.Sprintf("The tag %q contains a comma, which Kimai does not allow in tag names; rename it in the profile.", name))
		}
		if _, ok, err := c.FindTag(ctx, name); err != nil {
			return err
		} else if ok {
			continue
		}
		_, err := c.CreateTag(ctx, name)
		if err == nil {
			continue
		}
		switch apperr.KindOf(err) {
		case apperr.Validation, apperr.Upstream, apperr.Timeout, apperr.Connection:
			if _, ok, ferr := c.FindTag(ctx, name); ferr == nil && ok {
				continue
			}
		}
		return err
	}
	return nil
}

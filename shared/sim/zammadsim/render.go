package zammadsim

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// This file holds the wire formats: how Rails serialises Zammad's records
// (decimal strings, millisecond timestamps, nulls) and its error bodies.

// TimeFormat is how Zammad's API writes timestamps.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// jsTime is a timestamp as Zammad writes it: UTC, milliseconds, "Z".
type jsTime time.Time

func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(TimeFormat) + `"`), nil
}

// jsID is a nullable foreign key: 0 is written as null.
type jsID int64

func (id jsID) MarshalJSON() ([]byte, error) {
	if id == 0 {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(id), 10), nil
}

// jsDec is a decimal column as Rails writes a BigDecimal: a JSON string with
// at least one decimal ("15.0", "-100.0", "0.25").
type jsDec decimal.Dec

func (d jsDec) MarshalJSON() ([]byte, error) {
	return json.Marshal(FormatDecimal(decimal.Dec(d)))
}

// FormatDecimal writes d as Rails' BigDecimal#to_s does in JSON: the
// shortest plain form with at least one decimal ("15.0", "0.25").
func FormatDecimal(d decimal.Dec) string {
	s := d.String()
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// rubyFloat is a Ruby Float as to_json writes it: always with a decimal
// point ("15.0"), unlike Go's encoding/json ("15").
type rubyFloat float64

func (f rubyFloat) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []byte(s), nil
}

// round2 rounds d half away from zero to two decimals, as PostgreSQL does
// when a value is stored in a numeric(6,2) column.
func round2(d decimal.Dec) decimal.Dec {
	s := d.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) <= 2 {
		return d
	}
	frac += strings.Repeat("0", 6-len(frac))
	cents, _ := strconv.ParseInt(whole+frac[:2], 10, 64)
	if frac[2] >= '5' {
		cents++
	}
	r := decimal.FromInt(cents)
	r, _ = r.Mul(decimal.MustParse("0.01"))
	if neg {
		r = r.Neg()
	}
	return r
}

// maxUnit is the largest magnitude a decimal(6,2) column holds.
var maxUnit = decimal.MustParse("9999.99")

type entryJSON struct {
	ID              int64  `json:"id"`
	TicketID        int64  `json:"ticket_id"`
	TicketArticleID jsID   `json:"ticket_article_id"`
	TimeUnit        jsDec  `json:"time_unit"`
	TypeID          jsID   `json:"type_id"`
	CreatedByID     int64  `json:"created_by_id"`
	CreatedAt       jsTime `json:"created_at"`
	UpdatedAt       jsTime `json:"updated_at"`
}

type entryExpandedJSON struct {
	entryJSON
	Type      *string `json:"type"`
	CreatedBy string  `json:"created_by"`
}

// entryView renders an entry; s.mu must be held for expand.
func (s *Server) entryView(e *Entry, expand bool) any {
	j := entryJSON{
		ID: e.ID, TicketID: e.TicketID, TicketArticleID: jsID(e.TicketArticleID),
		TimeUnit: jsDec(e.TimeUnit), TypeID: jsID(e.TypeID), CreatedByID: e.CreatedByID,
		CreatedAt: jsTime(e.CreatedAt), UpdatedAt: jsTime(e.UpdatedAt),
	}
	if !expand {
		return j
	}
	x := entryExpandedJSON{entryJSON: j, CreatedBy: s.login(e.CreatedByID)}
	if t := s.types[e.TypeID]; t != nil {
		name := t.Name
		x.Type = &name
	}
	return x
}

func (s *Server) login(id int64) string {
	if u := s.users[id]; u != nil {
		return u.Login
	}
	return "-"
}

type ticketJSON struct {
	ID                    int64          `json:"id"`
	GroupID               int64          `json:"group_id"`
	PriorityID            int64          `json:"priority_id"`
	StateID               int64          `json:"state_id"`
	OrganizationID        jsID           `json:"organization_id"`
	Number                string         `json:"number"`
	Title                 string         `json:"title"`
	OwnerID               int64          `json:"owner_id"`
	CustomerID            int64          `json:"customer_id"`
	Note                  *string        `json:"note"`
	FirstResponseAt       *jsTime        `json:"first_response_at"`
	CloseAt               *jsTime        `json:"close_at"`
	LastCloseAt           *jsTime        `json:"last_close_at"`
	LastContactAt         *jsTime        `json:"last_contact_at"`
	CreateArticleTypeID   int64          `json:"create_article_type_id"`
	CreateArticleSenderID int64          `json:"create_article_sender_id"`
	ArticleCount          int            `json:"article_count"`
	EscalationAt          *jsTime        `json:"escalation_at"`
	PendingTime           *jsTime        `json:"pending_time"`
	Type                  *string        `json:"type"`
	TimeUnit              *jsDec         `json:"time_unit"`
	Preferences           map[string]any `json:"preferences"`
	UpdatedByID           int64          `json:"updated_by_id"`
	CreatedByID           int64          `json:"created_by_id"`
	CreatedAt             jsTime         `json:"created_at"`
	UpdatedAt             jsTime         `json:"updated_at"`
	ChecklistID           *int64         `json:"checklist_id"`
}

type ticketExpandedJSON struct {
	ticketJSON
	ArticleIDs          []int64 `json:"article_ids"`
	EntryIDs            []int64 `json:"ticket_time_accounting_ids"`
	Group               string  `json:"group"`
	Organization        *string `json:"organization,omitempty"`
	State               string  `json:"state"`
	Priority            string  `json:"priority"`
	Owner               string  `json:"owner"`
	Customer            string  `json:"customer"`
	CreatedBy           string  `json:"created_by"`
	UpdatedBy           string  `json:"updated_by"`
	CreateArticleType   string  `json:"create_article_type"`
	CreateArticleSender string  `json:"create_article_sender"`
}

// ticketEntries returns the ticket's entries ordered by id; s.mu held.
func (s *Server) ticketEntries(ticketID int64) []*Entry {
	var out []*Entry
	for _, e := range s.entries {
		if e.TicketID == ticketID {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Entry) int { return cmpInt(a.ID, b.ID) })
	return out
}

// ticketView renders a ticket; s.mu must be held.
func (s *Server) ticketView(t *ticketRec, expand bool) any {
	j := ticketJSON{
		ID: t.ID, GroupID: t.GroupID, PriorityID: t.PriorityID, StateID: states[t.State],
		OrganizationID: jsID(t.OrganizationID), Number: t.Number, Title: t.Title,
		OwnerID: t.OwnerID, CustomerID: t.CustomerID,
		CreateArticleTypeID: 1, CreateArticleSenderID: 2,
		Preferences: map[string]any{}, UpdatedByID: t.OwnerID, CreatedByID: t.CustomerID,
		CreatedAt: jsTime(t.CreatedAt), UpdatedAt: jsTime(t.UpdatedAt),
	}
	if t.HasTime {
		d := jsDec(t.TimeUnit)
		j.TimeUnit = &d
	}
	if t.State == "closed" || t.State == "merged" {
		at := jsTime(t.UpdatedAt)
		j.CloseAt, j.LastCloseAt = &at, &at
	}
	articles := []int64{}
	entryIDs := []int64{}
	for _, e := range s.ticketEntries(t.ID) {
		entryIDs = append(entryIDs, e.ID)
		if e.TicketArticleID != 0 {
			articles = append(articles, e.TicketArticleID)
		}
	}
	slices.Sort(articles)
	j.ArticleCount = len(articles)
	if !expand {
		return j
	}
	// Association ids appear in expanded (and search) output only.
	x := ticketExpandedJSON{
		ticketJSON: j, ArticleIDs: articles, EntryIDs: entryIDs, State: t.State, Priority: priorities[t.PriorityID],
		Owner: s.login(t.OwnerID), Customer: s.login(t.CustomerID),
		CreatedBy: s.login(t.CustomerID), UpdatedBy: s.login(t.OwnerID),
		CreateArticleType: "email", CreateArticleSender: "Customer",
	}
	if g := s.groups[t.GroupID]; g != nil {
		x.Group = g.Name
	}
	x.Organization = s.orgName(t.OrganizationID)
	return x
}

type orgJSON struct {
	ID                 int64   `json:"id"`
	Name               string  `json:"name"`
	Shared             bool    `json:"shared"`
	Domain             string  `json:"domain"`
	DomainAssignment   bool    `json:"domain_assignment"`
	Active             bool    `json:"active"`
	Note               string  `json:"note"`
	VIP                bool    `json:"vip"`
	UpdatedByID        int64   `json:"updated_by_id"`
	CreatedByID        int64   `json:"created_by_id"`
	CreatedAt          jsTime  `json:"created_at"`
	UpdatedAt          jsTime  `json:"updated_at"`
	MemberIDs          []int64 `json:"member_ids"`
	SecondaryMemberIDs []int64 `json:"secondary_member_ids"`
}

// orgName is the name of organization id for expanded views, nil for none.
func (s *Server) orgName(id int64) *string {
	if o := s.orgs[id]; o != nil {
		return nullable(o.Name)
	}
	return nil
}

// nullable renders an empty string as null, as Rails does for a NULL column.
func nullable(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// orgView renders an organization; s.mu must be held.
func (s *Server) orgView(o *Organization) any {
	members := []int64{}
	for _, u := range s.users {
		if u.OrganizationID == o.ID {
			members = append(members, u.ID)
		}
	}
	slices.Sort(members)
	return orgJSON{
		ID: o.ID, Name: o.Name, Shared: true, Active: !o.Inactive, Note: o.Note,
		UpdatedByID: 1, CreatedByID: 1, CreatedAt: jsTime(o.CreatedAt), UpdatedAt: jsTime(o.UpdatedAt),
		MemberIDs: members, SecondaryMemberIDs: []int64{},
	}
}

type userJSON struct {
	ID              int64               `json:"id"`
	OrganizationID  jsID                `json:"organization_id"`
	Login           string              `json:"login"`
	Firstname       string              `json:"firstname"`
	Lastname        string              `json:"lastname"`
	Email           string              `json:"email"`
	Image           *string             `json:"image"`
	Web             string              `json:"web"`
	Phone           string              `json:"phone"`
	Department      *string             `json:"department"`
	VIP             bool                `json:"vip"`
	Verified        bool                `json:"verified"`
	Active          bool                `json:"active"`
	Note            string              `json:"note"`
	LastLogin       *jsTime             `json:"last_login"`
	Source          *string             `json:"source"`
	LoginFailed     int                 `json:"login_failed"`
	OutOfOffice     bool                `json:"out_of_office"`
	Preferences     map[string]any      `json:"preferences"`
	UpdatedByID     int64               `json:"updated_by_id"`
	CreatedByID     int64               `json:"created_by_id"`
	CreatedAt       jsTime              `json:"created_at"`
	UpdatedAt       jsTime              `json:"updated_at"`
	RoleIDs         []int64             `json:"role_ids"`
	OrganizationIDs []int64             `json:"organization_ids"`
	GroupIDs        map[string][]string `json:"group_ids"`
}

type userExpandedJSON struct {
	userJSON
	Roles        []string `json:"roles"`
	Organization *string  `json:"organization,omitempty"`
	CreatedBy    string   `json:"created_by"`
	UpdatedBy    string   `json:"updated_by"`
}

var roleNames = map[int64]string{1: "Admin", 2: "Agent", 3: "Customer"}

// userView renders a user; s.mu must be held.
func (s *Server) userView(u *User, expand bool) any {
	roles := slices.Clone(u.RoleIDs)
	if roles == nil {
		roles = []int64{}
	}
	groups := map[string][]string{}
	if u.GroupAccess != nil {
		for id, levels := range u.GroupAccess {
			groups[strconv.FormatInt(id, 10)] = slices.Clone(levels)
		}
	} else if slices.Contains(roles, 2) {
		for id := range s.groups {
			groups[strconv.FormatInt(id, 10)] = []string{"full"}
		}
	}
	j := userJSON{
		ID: u.ID, OrganizationID: jsID(u.OrganizationID), Login: u.Login,
		Firstname: u.Firstname, Lastname: u.Lastname, Email: u.Email,
		Active: !u.Inactive, Preferences: map[string]any{}, UpdatedByID: 1, CreatedByID: 1,
		CreatedAt: jsTime(u.CreatedAt), UpdatedAt: jsTime(u.UpdatedAt),
		RoleIDs: roles, OrganizationIDs: []int64{}, GroupIDs: groups,
	}
	if !expand {
		return j
	}
	x := userExpandedJSON{userJSON: j, Roles: []string{}, CreatedBy: "-", UpdatedBy: "-"}
	for _, r := range roles {
		x.Roles = append(x.Roles, roleNames[r])
	}
	x.Organization = s.orgName(u.OrganizationID)
	return x
}

type groupJSON struct {
	ID                 int64   `json:"id"`
	Name               string  `json:"name"`
	NameLast           string  `json:"name_last"`
	ParentID           *int64  `json:"parent_id"`
	AssignmentTimeout  *int    `json:"assignment_timeout"`
	FollowUpPossible   string  `json:"follow_up_possible"`
	FollowUpAssignment bool    `json:"follow_up_assignment"`
	EmailAddressID     *int64  `json:"email_address_id"`
	SignatureID        *int64  `json:"signature_id"`
	Note               *string `json:"note"`
	Active             bool    `json:"active"`
	UpdatedByID        int64   `json:"updated_by_id"`
	CreatedByID        int64   `json:"created_by_id"`
	CreatedAt          jsTime  `json:"created_at"`
	UpdatedAt          jsTime  `json:"updated_at"`
}

func groupView(g *Group) any {
	return groupJSON{
		ID: g.ID, Name: g.Name, NameLast: g.Name, FollowUpPossible: "yes", FollowUpAssignment: true,
		Note: nullable(g.Note), Active: !g.Inactive, UpdatedByID: 1, CreatedByID: 1,
		CreatedAt: jsTime(g.CreatedAt), UpdatedAt: jsTime(g.UpdatedAt),
	}
}

type typeJSON struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Note        *string `json:"note"`
	Active      bool    `json:"active"`
	CreatedByID int64   `json:"created_by_id"`
	UpdatedByID int64   `json:"updated_by_id"`
	CreatedAt   jsTime  `json:"created_at"`
	UpdatedAt   jsTime  `json:"updated_at"`
}

func typeView(t *Type) any {
	return typeJSON{ID: t.ID, Name: t.Name, Note: nullable(t.Note), Active: !t.Inactive, CreatedByID: 1, UpdatedByID: 1,
		CreatedAt: jsTime(t.CreatedAt), UpdatedAt: jsTime(t.UpdatedAt)}
}

// writeJSON writes a successful JSON response (Zammad's API always answers
// success as JSON, whatever the Accept header).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("zammadsim: encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// apiError is an error as ApplicationController::HandlesErrors renders it.
type apiError struct {
	status int
	msg    string // error (and error_human, when human is set)
	human  bool   // whether error_human is present
}

func errNotFound(model, id string) apiError {
	return apiError{http.StatusNotFound, fmt.Sprintf("Couldn't find %s with 'id'=%s", model, id), true}
}

func errUnprocessable(msg string) apiError {
	return apiError{http.StatusUnprocessableEntity, msg, true}
}

// wantsJSON mirrors Rails' format negotiation for respond_to with a json
// block first: an Accept naming application/json, or a bare */*, gets JSON;
// a missing Accept (Go's default) or a browser's gets the HTML page.
func wantsJSON(r *http.Request) bool {
	acc := strings.TrimSpace(r.Header.Get("Accept"))
	return strings.Contains(acc, "application/json") || acc == "*/*" || strings.HasSuffix(r.URL.Path, ".json")
}

// writeError renders e as Zammad does: JSON for JSON requests, else the
// static public/<status>.html page. 401 and 403 repeat the message in
// X-Failure.
func writeError(w http.ResponseWriter, r *http.Request, e apiError) {
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		w.Header().Set("X-Failure", e.msg)
	}
	if !wantsJSON(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(e.status)
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html>\n<head>\n  <title>Zammad</title>\n</head>\n<body>\n  <div class=\"wrapper\">\n    <h1>%d: %s</h1>\n    <div>%s</div>\n  </div>\n</body>\n</html>\n",
			e.status, html.EscapeString(http.StatusText(e.status)), html.EscapeString(e.msg))
		return
	}
	body := map[string]string{"error": e.msg}
	if e.human {
		body["error_human"] = e.msg
	}
	writeJSON(w, e.status, body)
}

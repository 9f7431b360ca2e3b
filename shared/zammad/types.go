package zammad

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// Entry is one Zammad time accounting entry. Zammad stores no start, end or
// editor: CreatedAt is when the time was booked, UpdatedAt moves on every
// edit. Nullable ids are 0 when null.
type Entry struct {
	ID              int64       `json:"id"`
	TicketID        int64       `json:"ticket_id"`
	TicketArticleID int64       `json:"ticket_article_id"` // 0: booked without an article
	TimeUnit        decimal.Dec `json:"time_unit"`         // unitless; may be negative (a correction)
	TypeID          int64       `json:"type_id"`           // 0: no activity type
	CreatedByID     int64       `json:"created_by_id"`     // the agent who booked the time
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
}

// UnmarshalJSON decodes Zammad's entry JSON, reading time_unit with
// ParseTimeUnit: a missing, null or out-of-range unit is an error rather than
// a silent 0, because a wrong amount would be synced to Kimai as truth.
func (e *Entry) UnmarshalJSON(b []byte) error {
	type plain Entry
	var w struct {
		plain
		TimeUnit json.RawMessage `json:"time_unit"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := timeUnitJSON(w.TimeUnit)
	if err != nil {
		return fmt.Errorf("entry %d: %w", w.ID, err)
	}
	*e = Entry(w.plain)
	e.TimeUnit = d
	return nil
}

func timeUnitJSON(raw json.RawMessage) (decimal.Dec, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return decimal.Dec{}, errors.New("time_unit is missing")
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return decimal.Dec{}, fmt.Errorf("time_unit: %w", err)
		}
		s = str
	}
	return ParseTimeUnit(s)
}

// Ticket is the part of a Zammad ticket Timebridge maps. Nullable ids are 0
// when null; State is the state's name (Timebridge reads tickets with
// expand=true to get it).
type Ticket struct {
	ID             int64     `json:"id"`
	Number         string    `json:"number"` // a string in Zammad, e.g. "53003"
	Title          string    `json:"title"`
	OrganizationID int64     `json:"organization_id"`
	GroupID        int64     `json:"group_id"`
	CustomerID     int64     `json:"customer_id"`
	OwnerID        int64     `json:"owner_id"`
	StateID        int64     `json:"state_id"`
	State          string    `json:"state"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Organization is a Zammad organization (a Kimai customer candidate).
type Organization struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// User is a Zammad user (an agent who books time, or a customer).
type User struct {
	ID             int64  `json:"id"`
	Login          string `json:"login"`
	Firstname      string `json:"firstname"`
	Lastname       string `json:"lastname"`
	Email          string `json:"email"`
	Active         bool   `json:"active"`
	OrganizationID int64  `json:"organization_id"` // 0: none
}

// FullName is the name Zammad shows for u: "Firstname Lastname", else the
// e-mail address, else the login.
func (u User) FullName() string {
	if n := strings.TrimSpace(strings.TrimSpace(u.Firstname) + " " + strings.TrimSpace(u.Lastname)); n != "" {
		return n
	}
	if u.Email != "" {
		return u.Email
	}
	return u.Login
}

// Group is a Zammad group.
type Group struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// ActivityType is a time accounting type (Zammad ≥ 6.1), mapped to a Kimai
// activity. Types are deactivated, never deleted, so old entries keep
// pointing at inactive ones.
type ActivityType struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Note   string `json:"note"`
	Active bool   `json:"active"`
}

// Capabilities is what Probe found out about a Zammad and its token.
type Capabilities struct {
	Instance string // see Client.Instance
	User     User   // the token's user
	// GlobalEntries: GET /api/v1/time_accountings answers, so incremental
	// and full reads work (a Zammad release after 6.1, token with
	// admin.time_accounting).
	GlobalEntries bool
	// ActivityTypes: the type list is readable; TypeCount types exist.
	ActivityTypes bool
	TypeCount     int
}

// MaxTimeUnit is the largest magnitude Zammad's time_unit column
// (decimal(6,2)) holds.
var MaxTimeUnit = decimal.MustParse("9999.99")

// ParseTimeUnit reads a Zammad time_unit: the string forms Zammad writes
// ("15.0", "-100.0", "0.25") and plain numbers ("15", "7.5"); surrounding
// spaces are allowed. It rejects anything decimal.Parse rejects (garbage,
// exponents, NaN, separators) and values outside decimal(6,2)'s ±9999.99.
// More than two decimals are accepted (up to decimal's six, never rounded)
// since the unit is only a label and a future Zammad may widen the column.
func ParseTimeUnit(s string) (decimal.Dec, error) {
	d, err := decimal.Parse(s)
	if err != nil {
		return decimal.Dec{}, fmt.Errorf("time_unit %s: %w", quoteShort(s), err)
	}
	if d.Cmp(MaxTimeUnit) > 0 || d.Cmp(MaxTimeUnit.Neg()) < 0 {
		return decimal.Dec{}, fmt.Errorf("time_unit %s is outside Zammad's range ±9999.99: %w", quoteShort(s), decimal.ErrRange)
	}
	return d, nil
}

// FormatTimeUnit writes d as Zammad does: a plain decimal with at least one
// decimal place ("15.0", "0.25", "-100.0").
func FormatTimeUnit(d decimal.Dec) string {
	s := d.String()
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// quoteShort quotes s for an error message, shortened so that a garbage
// body cannot flood logs.
func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return fmt.Sprintf("%q", s)
}

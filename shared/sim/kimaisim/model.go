package kimaisim

import (
	"slices"
	"time"
)

// Roles known to the simulator. Kimai's role hierarchy is linear, so each
// role's permission set includes the sets of the roles below it.
const (
	RoleUser       = "ROLE_USER"
	RoleTeamlead   = "ROLE_TEAMLEAD"
	RoleAdmin      = "ROLE_ADMIN"
	RoleSuperAdmin = "ROLE_SUPER_ADMIN"
)

// Permission names, as in Kimai's config/packages/kimai.yaml. Only the ones
// the simulated endpoints consult are listed.
const (
	PermAPIAccess             = "api_access"
	PermViewOwnTimesheet      = "view_own_timesheet"
	PermCreateOwnTimesheet    = "create_own_timesheet"
	PermEditOwnTimesheet      = "edit_own_timesheet"
	PermDeleteOwnTimesheet    = "delete_own_timesheet"
	PermViewOtherTimesheet    = "view_other_timesheet"
	PermCreateOtherTimesheet  = "create_other_timesheet"
	PermEditOtherTimesheet    = "edit_other_timesheet"
	PermDeleteOtherTimesheet  = "delete_other_timesheet"
	PermEditExportOwn         = "edit_export_own_timesheet"
	PermEditExportOther       = "edit_export_other_timesheet"
	PermEditBillableOwn       = "edit_billable_own_timesheet"
	PermEditBillableOther     = "edit_billable_other_timesheet"
	PermEditRateOwn           = "edit_rate_own_timesheet"
	PermEditRateOther         = "edit_rate_other_timesheet"
	PermEditExportedTimesheet = "edit_exported_timesheet"
	PermViewUser              = "view_user"
	PermCreateCustomer        = "create_customer"
	PermCreateProject         = "create_project"
	PermCreateActivity        = "create_activity"
	PermCreateTag             = "create_tag"
	PermManageTag             = "manage_tag"
)

// rolePermissions is the reference's role table (kimai-api.md §3.3, §9):
// ROLE_USER may set begin, end, project, activity, description and tags;
// ROLE_TEAMLEAD adds user, exported and billable plus access to other users'
// timesheets; ROLE_ADMIN and ROLE_SUPER_ADMIN add the rate fields, user
// listing, editing exported records and creating catalog entries.
var rolePermissions = func() map[string][]string {
	user := []string{PermAPIAccess, PermViewOwnTimesheet, PermCreateOwnTimesheet,
		PermEditOwnTimesheet, PermDeleteOwnTimesheet, PermCreateTag}
	lead := append(slices.Clone(user), PermViewOtherTimesheet, PermCreateOtherTimesheet,
		PermEditOtherTimesheet, PermDeleteOtherTimesheet, PermEditExportOwn, PermEditExportOther,
		PermEditBillableOwn, PermEditBillableOther)
	admin := append(slices.Clone(lead), PermEditRateOwn, PermEditRateOther, PermEditExportedTimesheet,
		PermViewUser, PermCreateCustomer, PermCreateProject, PermCreateActivity, PermManageTag)
	return map[string][]string{
		RoleUser:       user,
		RoleTeamlead:   lead,
		RoleAdmin:      admin,
		RoleSuperAdmin: admin,
	}
}()

// PermissionsFor returns the union of the default permissions of roles,
// sorted. Unknown roles contribute nothing; every user is at least ROLE_USER
// (as in Kimai, where ROLE_USER is implied).
func PermissionsFor(roles ...string) []string {
	set := map[string]bool{}
	for _, p := range rolePermissions[RoleUser] {
		set[p] = true
	}
	for _, r := range roles {
		for _, p := range rolePermissions[r] {
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// User is a Kimai user. A zero Timezone means "UTC". Permissions, when nil,
// is derived from Roles by AddUser (see PermissionsFor); set it explicitly
// to model an administrator who changed the role permissions.
//
// Enabled must be true for the user's token to work: Kimai refuses to
// authenticate disabled users (401), and a disabled user is not a valid
// choice for a timesheet's "user" field.
type User struct {
	ID          int64
	Username    string
	Email       string
	Timezone    string
	Language    string // default "en"
	Roles       []string
	Enabled     bool
	Permissions []string
}

// Can reports whether u holds permission p.
func (u User) Can(p string) bool { return slices.Contains(u.Permissions, p) }

// Customer is a Kimai customer. Zero values are Kimai's 2.63+ defaults for
// a new customer: visible and billable (hence the negated field names).
// Country, Currency and Timezone default to the server's customer defaults
// when empty (see WithCustomerDefaults); Number is generated when empty.
type Customer struct {
	ID          int64
	Name        string
	Number      string
	Comment     string
	Country     string
	Currency    string
	Timezone    string
	Color       string
	Hidden      bool
	NonBillable bool
}

// Project is a Kimai project. Zero values are Kimai's 2.63+ defaults:
// visible, billable and allowing global activities. Start and End, when
// set, bound the instants at which timesheets may be booked and hide the
// project from the default list outside that range; they are output as
// dates (YYYY-MM-DD, in UTC).
type Project struct {
	ID                 int64
	CustomerID         int64
	Name               string
	Number             string
	OrderNumber        string
	Comment            string
	Color              string
	Start, End         time.Time
	Hidden             bool
	NonBillable        bool
	NoGlobalActivities bool
}

// Activity is a Kimai activity; ProjectID 0 makes it global. Zero values are
// Kimai's 2.63+ defaults: visible and billable.
type Activity struct {
	ID          int64
	ProjectID   int64
	Name        string
	Number      string
	Comment     string
	Color       string
	Hidden      bool
	NonBillable bool
}

// Tag is a Kimai tag. The zero value is visible.
type Tag struct {
	ID     int64
	Name   string
	Color  string
	Hidden bool
}

// Sheet is the simulator's stored form of a timesheet, with every field
// Kimai would persist. Begin and End are instants; End is zero while the
// timesheet is running. Timezone is the zone label of the record (its
// owner's timezone): Kimai renders a record's begin/end in that zone.
type Sheet struct {
	ID          int64
	UserID      int64
	ProjectID   int64
	ActivityID  int64
	Begin       time.Time
	End         time.Time
	Duration    int64 // seconds; recomputed from Begin/End on every save
	Description string
	Tags        []string
	Exported    bool
	Billable    bool
	FixedRate   *float64
	HourlyRate  *float64
	Timezone    string
	ModifiedAt  time.Time // UTC, whole seconds (a DATETIME column)
}

// Running reports whether the timesheet has no end.
func (s Sheet) Running() bool { return s.End.IsZero() }

// rate mimics Kimai's rate calculation for the fields the simulator keeps:
// a fixed rate wins, otherwise hourly rate × hours.
func (s Sheet) rate() float64 {
	if s.FixedRate != nil {
		return *s.FixedRate
	}
	if s.HourlyRate != nil {
		return *s.HourlyRate * float64(s.Duration) / 3600
	}
	return 0
}

// TimesheetConfig is the answer of GET /api/config/timesheet.
type TimesheetConfig struct {
	TrackingMode           string `json:"trackingMode"`
	DefaultBeginTime       string `json:"defaultBeginTime"`
	ActiveEntriesHardLimit int    `json:"activeEntriesHardLimit"`
	IsAllowFutureTimes     bool   `json:"isAllowFutureTimes"`
	IsAllowOverlapping     bool   `json:"isAllowOverlapping"`
}

// DefaultTimesheetConfig is Kimai's default configuration.
var DefaultTimesheetConfig = TimesheetConfig{
	TrackingMode:           "default",
	DefaultBeginTime:       "now",
	ActiveEntriesHardLimit: 1,
	IsAllowFutureTimes:     true,
	IsAllowOverlapping:     true,
}

// Limits Kimai enforces.
const (
	// MaxPageSize caps the size parameter of paginated lists (Kimai ≥ 2.42).
	MaxPageSize = 500
	// DefaultPageSize is used when size is omitted.
	DefaultPageSize = 50
	// MaxDuration is the longest timesheet Kimai accepts (one year).
	MaxDuration = 365 * 24 * time.Hour
)

// roundSheet applies Kimai's default rounding rule (begin floored, end
// ceiled to the minute) and recomputes the duration, as Kimai's
// TimesheetSubscriber does on every insert and update.
func roundSheet(s *Sheet) {
	s.Begin = floorMinute(s.Begin)
	if s.End.IsZero() {
		s.Duration = 0
		return
	}
	s.End = ceilMinute(s.End)
	s.Duration = int64(s.End.Sub(s.Begin) / time.Second)
}

func floorMinute(t time.Time) time.Time {
	return t.Truncate(time.Minute)
}

func ceilMinute(t time.Time) time.Time {
	f := t.Truncate(time.Minute)
	if f.Equal(t) {
		return t
	}
	return f.Add(time.Minute)
}

// Package timebridge holds Timebridge's domain types: connectors, sync
// profiles, mappings, links, conflicts, runs and audit events. It has no
// dependencies on AWS, HTTP or the upstream APIs, so that the engine, the
// store and the HTTP API all speak in these terms (the "standard package
// layout": domain at the centre, adapters around it).
package timebridge

import (
	"strconv"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// ConnectorKind says which upstream a connector talks to.
type ConnectorKind string

const (
	KindZammad ConnectorKind = "zammad"
	KindKimai  ConnectorKind = "kimai"
)

// Connector is the metadata of one upstream account. Its token lives in
// Secrets Manager under TokenSecret and is never stored or returned here.
type Connector struct {
	ID          string        `json:"id"`
	Kind        ConnectorKind `json:"kind"`
	Name        string        `json:"name"`
	BaseURL     string        `json:"base_url"`
	TokenSecret string        `json:"-"`          // secret name in the vault
	TokenHint   string        `json:"token_hint"` // e.g. "…a1b2"
	Version     int64         `json:"version"`    // optimistic concurrency
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// ProjectStrategy says how a Kimai project is chosen for a ticket.
type ProjectStrategy string

const (
	ProjectPerCustomer ProjectStrategy = "customer" // one project per customer (default)
	ProjectPerTicket   ProjectStrategy = "ticket"   // one project per ticket
	ProjectPerGroup    ProjectStrategy = "group"    // one project per Zammad group (per customer)
)

// UserMode says which Kimai user a timesheet is booked for.
type UserMode string

const (
	UserToken    UserMode = "token"    // everything as the Kimai token user
	UserEmail    UserMode = "email"    // explicit mapping, else match agent email to Kimai user email
	UserExplicit UserMode = "explicit" // explicit mapping only
)

// Profile ties one Zammad connector to one Kimai connector with the settings
// of the sync between them.
type Profile struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	ZammadConnectorID string `json:"zammad_connector_id"`
	KimaiConnectorID  string `json:"kimai_connector_id"`
	Enabled           bool   `json:"enabled"`

	// MinutesPerUnit converts Zammad's unitless time_unit into minutes:
	// 1 for minutes, 60 for hours, 15 for quarters, any decimal.
	MinutesPerUnit decimal.Dec `json:"minutes_per_unit"`

	ProjectStrategy      ProjectStrategy `json:"project_strategy"`
	AutoCreateCustomers  bool            `json:"auto_create_customers"`
	AutoCreateProjects   bool            `json:"auto_create_projects"`
	AutoCreateActivities bool            `json:"auto_create_activities"`
	// DefaultCustomerID is the Kimai customer for tickets without an
	// organization; 0 means none (auto-create or conflict).
	DefaultCustomerID int64 `json:"default_customer_id"`
	// DefaultActivityID is the Kimai activity for entries without a type;
	// 0 means none (conflict).
	DefaultActivityID int64 `json:"default_activity_id"`

	UserMode UserMode `json:"user_mode"`
	// StrictUsers makes an unmapped agent a conflict instead of falling back
	// to the token user.
	StrictUsers bool `json:"strict_users"`

	DeletionWindowDays int `json:"deletion_window_days"` // default 60
	// Concurrency bounds the Kimai writes at once (default 32): the most an
	// adaptive pace may reach, the exact number for a fixed pace.
	Concurrency int `json:"concurrency"`
	// Pace is how a run chooses its Kimai write concurrency (default
	// adaptive).
	Pace Pace     `json:"pace"`
	Tags []string `json:"tags"` // always includes "zammad"
	// Billing tags Zammad tickets whose synced entries Kimai has all
	// marked exported (opt-in).
	Billing Billing `json:"billing"`

	IntervalMinutes int `json:"interval_minutes"` // schedule of incremental runs

	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Pace is how a run chooses its Kimai write concurrency.
type Pace string

// Paces (Profile.Pace).
const (
	// PaceAdaptive learns Kimai's capacity from the answers' latency and
	// its 429s, up to Profile.Concurrency (see package limiter).
	PaceAdaptive Pace = "adaptive"
	// PaceFixed keeps Profile.Concurrency writes at once.
	PaceFixed Pace = "fixed"
)

// Defaults used when a profile leaves a setting unset.
const (
	DefaultDeletionWindowDays = 60
	DefaultConcurrency        = 32
	DefaultTag                = "zammad"
	DefaultIntervalMinutes    = 15
)

// WithDefaults returns p with unset settings filled in.
func (p Profile) WithDefaults() Profile {
	if p.MinutesPerUnit.IsZero() {
		p.MinutesPerUnit = decimal.FromInt(1)
	}
	if p.ProjectStrategy == "" {
		p.ProjectStrategy = ProjectPerCustomer
	}
	if p.UserMode == "" {
		p.UserMode = UserToken
	}
	if p.DeletionWindowDays <= 0 {
		p.DeletionWindowDays = DefaultDeletionWindowDays
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.Pace == "" {
		p.Pace = PaceAdaptive
	}
	if p.IntervalMinutes <= 0 {
		p.IntervalMinutes = DefaultIntervalMinutes
	}
	has := false
	for _, t := range p.Tags {
		if t == DefaultTag {
			has = true
		}
	}
	if !has {
		p.Tags = append([]string{DefaultTag}, p.Tags...)
	}
	if p.Billing.Tag == "" {
		p.Billing.Tag = DefaultBilledTag
	}
	return p
}

// Billing is a profile's "billed status back to Zammad" setting.
type Billing struct {
	// Enabled: tag a ticket once every synced entry of it is exported in
	// Kimai, and remove the tag when an entry is added or a timesheet
	// un-exported.
	Enabled bool   `json:"enabled"`
	Tag     string `json:"tag"` // default DefaultBilledTag
}

// DefaultBilledTag is Billing.Tag's default.
const DefaultBilledTag = "billed"

// MappingKind names what a mapping maps.
type MappingKind string

const (
	MapActivity MappingKind = "activity" // Zammad time accounting type id → Kimai activity id
	MapCustomer MappingKind = "customer" // Zammad organization id → Kimai customer id
	MapProject  MappingKind = "project"  // project key (see engine) → Kimai project id
	MapUser     MappingKind = "user"     // Zammad user id → Kimai user id
)

// Mapping is one explicit mapping of a profile.
type Mapping struct {
	ProfileID string      `json:"profile_id"`
	Kind      MappingKind `json:"kind"`
	SourceID  string      `json:"source_id"`
	TargetID  int64       `json:"target_id"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// LinkState is the lifecycle state of a link.
type LinkState string

const (
	// LinkPending is written (conditionally) before a timesheet is created;
	// finding one later means the outcome of that create is unknown.
	LinkPending LinkState = "pending"
	// LinkSynced means TimesheetID exists in Kimai as recorded.
	LinkSynced LinkState = "synced"
	// LinkNone means the entry deliberately has no timesheet (netted to ≤ 0,
	// or its timesheet was deleted because the entry vanished).
	LinkNone LinkState = "none"
	// LinkSkipped means a human chose never to sync this entry again.
	LinkSkipped LinkState = "skipped"
)

// Link is the durable record of one Zammad entry's Kimai timesheet: the
// ledger that makes the sync exactly-once.
type Link struct {
	ProfileID   string    `json:"profile_id"`
	EntryID     int64     `json:"entry_id"`
	TicketID    int64     `json:"ticket_id"`
	State       LinkState `json:"state"`
	TimesheetID int64     `json:"timesheet_id,omitempty"`
	// SourceHash is the hash of the desired state last written; equal hash
	// means nothing to do.
	SourceHash string `json:"source_hash"`
	// Baseline is what Kimai returned after Timebridge's last write: an
	// update or delete only proceeds while Kimai still holds exactly this.
	Baseline Timesheet `json:"baseline"`
	// EntryCreatedAt places the entry in the deletion window.
	EntryCreatedAt time.Time `json:"entry_created_at"`
	// ClaimedAt is when the pending claim was written (engine clock): a
	// pending claim whose marker is not in Kimai is only cleared once it is
	// older than the engine's PendingGrace.
	ClaimedAt time.Time `json:"claimed_at,omitempty"`
	// Fence is the lease generation of the run that wrote this version; a
	// write from a run with an older generation is refused.
	Fence int64 `json:"fence,omitempty"`
	// WorkedOn is the day of the timesheet's begin in the Kimai user's
	// zone (YYYY-MM-DD), the day its time counts for in the profile's
	// summary; empty means the UTC day of Baseline.Begin.
	WorkedOn string `json:"worked_on,omitempty"`
	// Tally is what this version of the link adds to the profile's
	// summary, as stored. Only the store sets it (from State, Baseline and
	// WorkedOn, on every write); nil means nothing.
	Tally     *Tally    `json:"tally,omitempty"`
	RunID     string    `json:"run_id"` // the run that wrote this version
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Tally is one synced entry's share of its profile's summary: the seconds
// of its timesheet on the day worked.
type Tally struct {
	Day     string `json:"day"` // YYYY-MM-DD
	Seconds int64  `json:"seconds"`
}

// TallyOf is what a link with this content adds to the summary: a synced
// timesheet counts once, with its duration, on WorkedOn (or the UTC day of
// its begin); anything else counts nothing.
func TallyOf(l Link) *Tally {
	if l.State != LinkSynced || l.TimesheetID == 0 {
		return nil
	}
	day := l.WorkedOn
	if day == "" {
		day = l.Baseline.Begin.UTC().Format(time.DateOnly)
	}
	return &Tally{Day: day, Seconds: l.Baseline.Duration}
}

// DayTotal is the synced entries and time of one day worked.
type DayTotal struct {
	Day     string `json:"day"` // YYYY-MM-DD
	Entries int64  `json:"entries"`
	Seconds int64  `json:"seconds"`
}

// Summary is what a profile holds in Kimai, by the day worked: totals over
// all time and per day of a period. The engine keeps it exact on every
// link write (store.PutLink), so it is never recomputed from runs.
type Summary struct {
	ProfileID string `json:"profile_id"`
	Entries   int64  `json:"entries"` // synced entries, all time
	Seconds   int64  `json:"seconds"`
	// Days are the days of the requested period that have synced time,
	// oldest first.
	Days []DayTotal `json:"days"`
}

// Timesheet is the part of a Kimai timesheet Timebridge writes and compares.
type Timesheet struct {
	ID          int64     `json:"id,omitempty"`
	Begin       time.Time `json:"begin"`
	End         time.Time `json:"end"`
	Duration    int64     `json:"duration"` // seconds
	ProjectID   int64     `json:"project"`
	ActivityID  int64     `json:"activity"`
	UserID      int64     `json:"user,omitempty"`
	Description string    `json:"description,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Exported    bool      `json:"exported,omitempty"`
}

// ConflictKind names why an entry could not be synced safely.
type ConflictKind string

const (
	ConflictEditedInKimai    ConflictKind = "edited_in_kimai"
	ConflictDeletedInKimai   ConflictKind = "deleted_in_kimai"
	ConflictLockedInKimai    ConflictKind = "locked_in_kimai"
	ConflictDuplicateInKimai ConflictKind = "duplicate_in_kimai"
	ConflictDeletedInZammad  ConflictKind = "deleted_in_zammad"
	ConflictUnmappedActivity ConflictKind = "unmapped_activity"
	ConflictUnmappedCustomer ConflictKind = "unmapped_customer"
	ConflictUnmappedProject  ConflictKind = "unmapped_project"
	ConflictUnmappedUser     ConflictKind = "unmapped_user"
	ConflictRejectedByKimai  ConflictKind = "rejected_by_kimai"
	// ConflictUnmatchedNegative: a negative correction with no earlier
	// positive entry (same ticket, agent, type) to net against.
	ConflictUnmatchedNegative ConflictKind = "unmatched_negative"
	// ConflictUnreadableInKimai: Kimai refuses to show the linked
	// timesheet to the token's user (403), so nothing can be decided.
	ConflictUnreadableInKimai ConflictKind = "unreadable_in_kimai"
	// ConflictTimeMismatch: Kimai stored other instants than Timebridge
	// sent (a wall-clock time in the repeated hour of a daylight-saving
	// change is read as its first occurrence), or would.
	ConflictTimeMismatch ConflictKind = "time_mismatch"
)

// Resolution is a human's answer to a conflict.
type Resolution string

const (
	ResolveUseZammad Resolution = "use_zammad" // overwrite or re-create from Zammad
	ResolveKeepKimai Resolution = "keep_kimai" // accept Kimai's state as the new baseline
	ResolveSkip      Resolution = "skip"       // never sync this entry again
	ResolveRetry     Resolution = "retry"      // try again (e.g. after adding a mapping)
)

// Resolutions returns the resolutions that apply to a conflict kind.
func (k ConflictKind) Resolutions() []Resolution {
	switch k {
	case ConflictEditedInKimai, ConflictDeletedInKimai, ConflictDuplicateInKimai, ConflictDeletedInZammad:
		return []Resolution{ResolveUseZammad, ResolveKeepKimai, ResolveSkip}
	case ConflictLockedInKimai, ConflictTimeMismatch:
		return []Resolution{ResolveKeepKimai, ResolveSkip, ResolveRetry}
	default: // unmapped_*, rejected_by_kimai, unmatched_negative, unreadable_in_kimai
		return []Resolution{ResolveRetry, ResolveSkip}
	}
}

// Allows reports whether r applies to kind k.
func (k ConflictKind) Allows(r Resolution) bool {
	for _, x := range k.Resolutions() {
		if x == r {
			return true
		}
	}
	return false
}

// ConflictStatus is open or resolved.
type ConflictStatus string

const (
	ConflictOpen     ConflictStatus = "open"
	ConflictResolved ConflictStatus = "resolved"
)

// Conflict is an entry the engine refused to decide alone. One open conflict
// per entry at most; it blocks the entry until resolved.
type Conflict struct {
	ID        string         `json:"id"` // ConflictID(profile, entry)
	ProfileID string         `json:"profile_id"`
	EntryID   int64          `json:"entry_id"`
	TicketID  int64          `json:"ticket_id"`
	Kind      ConflictKind   `json:"kind"`
	Status    ConflictStatus `json:"status"`
	Message   string         `json:"message"`          // what happened and what to do
	SourceKey string         `json:"source_key"`       // the unmapped key, for unmapped_*
	Zammad    *EntrySnapshot `json:"zammad,omitempty"` // the Zammad side
	Kimai     *Timesheet     `json:"kimai,omitempty"`  // the Kimai side as observed
	Desired   *Timesheet     `json:"desired,omitempty"`
	// Duplicates lists timesheet ids sharing one marker (duplicate_in_kimai).
	Duplicates []int64 `json:"duplicates,omitempty"`
	// Names are the names behind the ids above, as Zammad and Kimai had
	// them when the conflict was opened.
	Names      *ConflictNames `json:"names,omitempty"`
	Resolution Resolution     `json:"resolution,omitempty"`
	ResolvedBy string         `json:"resolved_by,omitempty"`
	ResolvedAt *time.Time     `json:"resolved_at,omitempty"`
	RunID      string         `json:"run_id"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Version    int64          `json:"version"`
}

// ConflictNames are what people read instead of a conflict's ids: the
// Zammad agent and time accounting type, the Kimai customer, project and
// activity (of the desired timesheet, else of Kimai's).
type ConflictNames struct {
	Agent    string `json:"agent,omitempty"`
	Type     string `json:"type,omitempty"`
	Customer string `json:"customer,omitempty"`
	Project  string `json:"project,omitempty"`
	Activity string `json:"activity,omitempty"`
}

// EntrySnapshot is the Zammad side of an entry, for conflicts and previews.
type EntrySnapshot struct {
	EntryID      int64       `json:"entry_id"`
	TicketID     int64       `json:"ticket_id"`
	TicketNumber string      `json:"ticket_number"`
	TicketTitle  string      `json:"ticket_title"`
	TimeUnit     decimal.Dec `json:"time_unit"`
	NetUnit      decimal.Dec `json:"net_unit"` // after netting negative corrections
	TypeID       int64       `json:"type_id,omitempty"`
	AgentID      int64       `json:"agent_id"`
	CreatedAt    time.Time   `json:"created_at"`
	UpdatedAt    time.Time   `json:"updated_at"`
}

// RunMode says what a run reads.
type RunMode string

const (
	ModeIncremental RunMode = "incremental" // entries updated since the cursor (with overlap)
	ModeTicket      RunMode = "ticket"      // one ticket (webhook)
	ModeFull        RunMode = "full"        // every entry in the deletion window, plus deletions
	ModeRange       RunMode = "range"       // entries created in [From, To) (backfill)
)

// RunStatus is the lifecycle of a run.
type RunStatus string

const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunPartial   RunStatus = "partial" // finished with item errors or conflicts
	RunFailed    RunStatus = "failed"
)

// Counts are what a run did. Conflicts counts conflicts raised in the run.
type Counts struct {
	Seen      int `json:"seen"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	Conflicts int `json:"conflicts"`
	Errors    int `json:"errors"`
	// ErrorsByClass splits Errors by apperr kind (e.g. "permission": 3).
	ErrorsByClass map[string]int `json:"errors_by_class,omitempty"`
}

// ErrorDetail is a classified error as shown to users.
type ErrorDetail struct {
	Class   string            `json:"class"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	Count   int               `json:"count,omitempty"`
}

// Run is the record of one sync run.
type Run struct {
	ID         string       `json:"id"`
	ProfileID  string       `json:"profile_id"`
	Trigger    string       `json:"trigger"` // schedule, webhook, manual, resolution
	Mode       RunMode      `json:"mode"`
	DryRun     bool         `json:"dry_run"`
	TicketID   int64        `json:"ticket_id,omitempty"`
	From       *time.Time   `json:"from,omitempty"`
	To         *time.Time   `json:"to,omitempty"`
	Status     RunStatus    `json:"status"`
	QueuedAt   time.Time    `json:"queued_at"`
	StartedAt  *time.Time   `json:"started_at,omitempty"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
	DurationMS int64        `json:"duration_ms"`
	Counts     Counts       `json:"counts"`
	Error      *ErrorDetail `json:"error_detail,omitempty"`
	// ItemErrors keeps the first few classified per-entry errors.
	ItemErrors []ItemError `json:"item_errors,omitempty"`
	// Plan is the plan of a dry run (nothing written), and Preview its
	// summary.
	Plan      []PlannedChange `json:"plan,omitempty"`
	Preview   *Preview        `json:"preview,omitempty"`
	Requester string          `json:"requester,omitempty"`
	// Tickets lists every ticket of a ticket run that also carried out
	// other queued ticket runs of the profile (its own ticket first).
	Tickets []int64 `json:"tickets,omitempty"`
	// MergedInto names the run that carried out this queued ticket run.
	MergedInto string `json:"merged_into,omitempty"`
	// RetryOf names the run whose failed entries this run retries.
	RetryOf string `json:"retry_of,omitempty"`
	// Progress is stored every few seconds while the run goes on.
	Progress *Progress `json:"progress,omitempty"`
	// Concurrency is how many Kimai writes the run allowed at once (nil
	// when it wrote nothing).
	Concurrency *ConcurrencyTrace `json:"concurrency,omitempty"`
	// Outcomes are the entries a run that writes touched, in plan order
	// (GET /api/runs/{id}/entries pages them; never in the run's JSON).
	Outcomes []EntryOutcome `json:"-"`
}

// ConcurrencyTrace is the course of a run's Kimai write concurrency.
type ConcurrencyTrace struct {
	Pace  Pace `json:"pace"`
	Bound int  `json:"bound"` // the profile's Concurrency
	Min   int  `json:"min"`
	Max   int  `json:"max"`
	Final int  `json:"final"`
	// Attempts counts the Kimai requests answered during the writes, Drops
	// those refused or failed for load (429, 502-504, timeouts).
	Attempts int `json:"attempts"`
	Drops    int `json:"drops"`
	// Points is the limit over time, at most about 100 (thinned evenly on
	// long runs), the first at the start of the writes.
	Points []ConcurrencyPoint `json:"points"`
}

// ConcurrencyPoint is the write concurrency from a moment of a run on.
type ConcurrencyPoint struct {
	AtMS  int64 `json:"at_ms"` // since the writes began
	Limit int   `json:"limit"`
}

// Progress is how far a running run is.
type Progress struct {
	Phase     string    `json:"phase"` // reading, planning, writing, finishing
	Done      int       `json:"done"`
	Total     int       `json:"total"`
	UpdatedAt time.Time `json:"updated_at"`
	// After is the last ticket a range run has finished (it works through
	// its tickets in id order, in chunks), and Invocations how many times
	// it continued in a new invocation: a backfill outlasting one.
	After       int64 `json:"after_ticket,omitempty"`
	Invocations int   `json:"invocations,omitempty"`
	// Stalls counts the invocations in a row that ended without finishing
	// a single change (a chunk that never fits into one invocation).
	Stalls int `json:"stalls,omitempty"`
}

// Run phases (Progress.Phase).
const (
	PhaseReading   = "reading"
	PhasePlanning  = "planning"
	PhaseWriting   = "writing"
	PhaseFinishing = "finishing"
)

// Outcome is what became of one entry in a run.
type Outcome string

// Outcomes (EntryOutcome.Outcome).
const (
	OutcomeCreated   Outcome = "created"
	OutcomeUpdated   Outcome = "updated"
	OutcomeDeleted   Outcome = "deleted"
	OutcomeUnchanged Outcome = "unchanged"
	OutcomeSkipped   Outcome = "skipped"
	OutcomeConflict  Outcome = "conflict"
	OutcomeFailed    Outcome = "failed"
)

// EntryOutcome is one entry's outcome in a run, with its reason.
type EntryOutcome struct {
	EntryID      int64   `json:"entry_id"`
	TicketID     int64   `json:"ticket_id"`
	TicketNumber string  `json:"ticket_number,omitempty"`
	Outcome      Outcome `json:"outcome"`
	Class        string  `json:"class,omitempty"`
	Reason       string  `json:"reason,omitempty"`
	TimesheetID  int64   `json:"timesheet_id,omitempty"`
	Seconds      int64   `json:"seconds,omitempty"`
	Customer     string  `json:"customer,omitempty"`
	Project      string  `json:"project,omitempty"`
	Activity     string  `json:"activity,omitempty"`
}

// ItemError is a per-entry failure inside a run.
type ItemError struct {
	EntryID  int64  `json:"entry_id"`
	TicketID int64  `json:"ticket_id,omitempty"`
	Class    string `json:"class"`
	Message  string `json:"message"`
}

// ChangeAction is what the plan does for one entry.
type ChangeAction string

const (
	ActionCreate    ChangeAction = "create"
	ActionUpdate    ChangeAction = "update"
	ActionDelete    ChangeAction = "delete"
	ActionUnchanged ChangeAction = "unchanged"
	ActionConflict  ChangeAction = "conflict"
	ActionSkip      ChangeAction = "skip"
)

// PlannedChange is one line of a plan, as shown in a preview.
type PlannedChange struct {
	Action       ChangeAction `json:"action"`
	EntryID      int64        `json:"entry_id"`
	TicketID     int64        `json:"ticket_id"`
	TicketNumber string       `json:"ticket_number,omitempty"` // as Zammad shows it, e.g. "31021"
	TimesheetID  int64        `json:"timesheet_id,omitempty"`
	Conflict     ConflictKind `json:"conflict,omitempty"`
	Reason       string       `json:"reason,omitempty"`
	// Customer, Project and Activity name the Kimai records the timesheet
	// belongs to (to be auto-created ones included).
	Customer string     `json:"customer,omitempty"`
	Project  string     `json:"project,omitempty"`
	Activity string     `json:"activity,omitempty"`
	Before   *Timesheet `json:"before,omitempty"`
	After    *Timesheet `json:"after,omitempty"`
}

// Preview summarises a dry run for a human before any row: what would
// change per Kimai customer, project and activity, which records the run
// would auto-create, and which conflicts it would open.
type Preview struct {
	Groups    []PreviewGroup    `json:"groups"`
	Creates   []PreviewCreate   `json:"creates"`
	Conflicts []PreviewConflict `json:"conflicts"`
}

// PreviewGroup is one Kimai customer's, project's or activity's share of a
// plan. ID 0 means the record would be auto-created.
type PreviewGroup struct {
	By      MappingKind `json:"by"` // customer, project or activity
	ID      int64       `json:"id,omitempty"`
	Name    string      `json:"name"`
	Create  int         `json:"create"`
	Update  int         `json:"update"`
	Delete  int         `json:"delete"`
	Seconds int64       `json:"seconds"` // the change of time in Kimai, signed
}

// PreviewCreate is a record a run would auto-create, and for how many
// entries.
type PreviewCreate struct {
	Kind    MappingKind `json:"kind"`
	Name    string      `json:"name"`
	Entries int         `json:"entries"`
}

// PreviewConflict counts the conflicts of one kind a run would open.
type PreviewConflict struct {
	Kind  ConflictKind `json:"kind"`
	Count int          `json:"count"`
}

// Cursor is where incremental runs continue.
type Cursor struct {
	ProfileID string    `json:"profile_id"`
	UpdatedAt time.Time `json:"updated_at"` // newest entry updated_at fully processed
	RunID     string    `json:"run_id"`
}

// AuditEvent records one state change: who, what, when, where, before/after.
type AuditEvent struct {
	ID        string    `json:"id"` // time-ordered, unique
	Time      time.Time `json:"time"`
	ProfileID string    `json:"profile_id,omitempty"`
	RunID     string    `json:"run_id,omitempty"`
	Actor     string    `json:"actor"` // "engine", "admin", "webhook", …
	Type      string    `json:"type"`  // e.g. "timesheet.created", "conflict.resolved"
	Subject   string    `json:"subject"`
	Message   string    `json:"message,omitempty"`
	Before    any       `json:"before,omitempty"`
	After     any       `json:"after,omitempty"`
}

// AuditQuery filters the audit log. Results are newest first.
type AuditQuery struct {
	ProfileID string
	Type      string
	From, To  time.Time // zero = open
	Limit     int
	Cursor    string // opaque, from the previous page
}

// ConflictID is the id of the (single) conflict of one entry of a profile.
func ConflictID(profileID string, entryID int64) string {
	return profileID + "." + strconv.FormatInt(entryID, 10)
}

// RecordStatus is where an entry stands in the reconciliation report.
type RecordStatus string

// Record statuses.
const (
	RecordSynced   RecordStatus = "synced"   // Kimai holds its timesheet
	RecordConflict RecordStatus = "conflict" // an open conflict waits for a human
	RecordSkipped  RecordStatus = "skipped"  // left out by the profile's rules
	RecordPending  RecordStatus = "pending"  // a create whose outcome is not settled yet
	RecordFailed   RecordStatus = "failed"   // the last attempt failed
)

// EntryRecord is one Zammad entry as the reconciliation report sees it:
// its netted time in Zammad, what Timebridge wrote and what Kimai held
// when last observed, grouped by the names people report by.
type EntryRecord struct {
	ProfileID    string       `json:"profile_id"`
	EntryID      int64        `json:"entry_id"`
	TicketID     int64        `json:"ticket_id"`
	TicketNumber string       `json:"ticket_number,omitempty"`
	TicketTitle  string       `json:"ticket_title,omitempty"`
	Day          string       `json:"day"` // the day worked, YYYY-MM-DD, Kimai user's zone
	AgentID      int64        `json:"agent_id,omitempty"`
	Agent        string       `json:"agent,omitempty"`
	CustomerID   int64        `json:"customer_id,omitempty"`
	Customer     string       `json:"customer,omitempty"`
	ProjectID    int64        `json:"project_id,omitempty"`
	Project      string       `json:"project,omitempty"`
	ActivityID   int64        `json:"activity_id,omitempty"`
	Activity     string       `json:"activity,omitempty"`
	Zammad       int64        `json:"zammad_seconds"`  // netted, as last read
	Written      int64        `json:"written_seconds"` // what Timebridge wrote
	Kimai        int64        `json:"kimai_seconds"`   // what Kimai held when last observed
	Status       RecordStatus `json:"status"`
	Reason       string       `json:"reason,omitempty"` // conflict kind or error class
	TimesheetID  int64        `json:"timesheet_id,omitempty"`
	Exported     bool         `json:"exported,omitempty"`
	// KimaiGone: the timesheet was deleted in Kimai.
	KimaiGone bool `json:"kimai_gone,omitempty"`
}

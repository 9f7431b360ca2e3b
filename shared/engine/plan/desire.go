package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Desired is what Kimai should hold for one Zammad entry.
type Desired struct {
	Entry  Netted
	Ticket Ticket
	// Sheet is the timesheet to hold; nil means "no timesheet" (the entry
	// is a correction, or was netted to zero).
	Sheet *tb.Timesheet
	// Hash identifies Sheet; equal hashes mean nothing to write.
	Hash string
	// Conflict is set when the entry cannot be synced without a human.
	Conflict *ConflictSpec
	// Creates lists entities that would be auto-created (dry run only).
	Creates []CreateSpec
}

// ConflictSpec is a conflict found while computing desired state or a plan.
type ConflictSpec struct {
	Kind      tb.ConflictKind
	Message   string
	SourceKey string
}

// Marker is the colon-free key Timebridge writes into every description,
// unique per Zammad instance and entry. Kimai's term search treats
// "name:value" as a meta-field search, hence no colon.
func Marker(instance string, entryID int64) string {
	return "TB-" + instance + "-" + strconv.FormatInt(entryID, 10)
}

var markerRE = regexp.MustCompile(`\bTB-([0-9a-f]{8})-([0-9]+)\b`)

// ParseMarker extracts the marker of a description. A search by term is a
// substring match, so results must be checked with this exact parse.
func ParseMarker(description string) (instance string, entryID int64, ok bool) {
	m := markerRE.FindStringSubmatch(description)
	if m == nil {
		return "", 0, false
	}
	id, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return m[1], id, true
}

// Description is the timesheet description for an entry of a ticket.
func Description(t Ticket, marker string) string {
	title := strings.Join(strings.Fields(t.Title), " ")
	return fmt.Sprintf("#%s %s [%s]", t.Number, title, marker)
}

// DesireInput is everything the desired state of one ticket depends on.
type DesireInput struct {
	Profile  tb.Profile
	Instance string         // Zammad instance id for markers
	Location *time.Location // the Kimai API user's zone
	Ticket   Ticket
	Entries  []Entry // all entries of the ticket
	Lookup   *Lookup
	// DryRun lets keys not yet in Kimai but creatable through with id 0 so that a
	// preview can show what would be created.
	DryRun bool
}

// Desire computes the desired Kimai state of every entry of one ticket. It
// is pure: the same input always gives the same output.
func Desire(in DesireInput) []Desired {
	p := in.Profile
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	netted := Net(in.Entries)
	out := make([]Desired, 0, len(netted))

	cust := in.Lookup.Customer(in.Ticket.OrgID)
	var proj Match
	if cust.Problem == "" {
		proj = in.Lookup.Project(in.Ticket, cust.ID)
	}
	for _, n := range netted {
		d := Desired{Entry: n, Ticket: in.Ticket}
		if n.Unmatched.Sign() > 0 {
			d.Conflict = &ConflictSpec{Kind: tb.ConflictUnmatchedNegative, SourceKey: strconv.FormatInt(n.ID, 10),
				Message: fmt.Sprintf("Correction of %s units has no earlier positive entry of the same agent and type on ticket #%s to net against (%s units unmatched); fix the entry in Zammad or skip it.",
					n.Units, in.Ticket.Number, n.Unmatched)}
			out = append(out, d)
			continue
		}
		if n.Net.Sign() <= 0 {
			out = append(out, d) // no timesheet
			continue
		}
		secs, err := Seconds(n.Net, p.MinutesPerUnit)
		if err != nil {
			d.Conflict = &ConflictSpec{Kind: tb.ConflictRejectedByKimai, Message: err.Error()}
			out = append(out, d)
			continue
		}
		act := in.Lookup.Activity(n.TypeID)
		usr := in.Lookup.User(n.AgentID)
		if c := firstProblem(in, cust, proj, act, usr, n); c != nil {
			d.Conflict = c
			out = append(out, d)
			continue
		}
		for _, r := range []Match{cust, proj, act} {
			if r.Create != nil {
				d.Creates = append(d.Creates, *r.Create)
			}
		}
		end := n.CreatedAt.In(loc).Truncate(time.Minute)
		sheet := &tb.Timesheet{
			Begin:       end.Add(-time.Duration(secs) * time.Second),
			End:         end,
			Duration:    secs,
			ProjectID:   proj.ID,
			ActivityID:  act.ID,
			UserID:      usr.ID,
			Description: Description(in.Ticket, Marker(in.Instance, n.ID)),
			Tags:        normTags(p.Tags),
		}
		d.Sheet = sheet
		d.Hash = Hash(sheet)
		if msg := TimeTrap(sheet.Begin, sheet.End, loc); msg != "" {
			// The sheet stays for the conflict's view and for keep_kimai,
			// which accepts what Kimai holds for exactly this content.
			d.Conflict = &ConflictSpec{Kind: tb.ConflictTimeMismatch, Message: msg}
		}
		out = append(out, d)
	}
	return out
}

func firstProblem(in DesireInput, cust, proj, act, usr Match, n Netted) *ConflictSpec {
	missing := func(r Match) bool { return r.Problem != "" || (r.ID == 0 && r.Create != nil && !in.DryRun) }
	msg := func(r Match, kind string) string {
		if r.Problem != "" {
			return r.Problem
		}
		return "The " + kind + " could not be created in Kimai; see the run's errors."
	}
	switch {
	case missing(cust):
		return &ConflictSpec{Kind: tb.ConflictUnmappedCustomer, Message: msg(cust, "customer"), SourceKey: strconv.FormatInt(in.Ticket.OrgID, 10)}
	case missing(proj):
		return &ConflictSpec{Kind: tb.ConflictUnmappedProject, Message: msg(proj, "project"), SourceKey: ProjectSource(in.Profile.ProjectStrategy, in.Ticket)}
	case missing(act):
		return &ConflictSpec{Kind: tb.ConflictUnmappedActivity, Message: msg(act, "activity"), SourceKey: strconv.FormatInt(n.TypeID, 10)}
	case usr.Problem != "":
		return &ConflictSpec{Kind: tb.ConflictUnmappedUser, Message: usr.Problem, SourceKey: strconv.FormatInt(n.AgentID, 10)}
	}
	return nil
}

func normTags(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}

// Hash identifies the content of a timesheet Timebridge writes.
func Hash(s *tb.Timesheet) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1|%s|%s|%d|%d|%d|%d|%s|%s",
		s.Begin.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339), s.Duration,
		s.ProjectID, s.ActivityID, s.UserID, s.Description, strings.Join(normTags(s.Tags), ","))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// KimaiReads is the instant Kimai stores for t sent as a wall-clock time in
// loc (Kimai's API takes local times without an offset, in the API user's
// zone). PHP resolves a wall-clock time in the hour that repeats when
// daylight saving time ends to its first occurrence, so a time in the
// second occurrence comes back an hour early.
func KimaiReads(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
	best, found := t, false
	for _, probe := range []time.Duration{-36 * time.Hour, 36 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		c := wall.Add(-time.Duration(off) * time.Second)
		if _, o := c.In(loc).Zone(); o == off && (!found || c.Before(best)) {
			best, found = c, true
		}
	}
	return best
}

// TimeTrap explains why Kimai cannot store begin–end as they are (a time
// in the second occurrence of a repeated hour), or returns "".
func TimeTrap(begin, end time.Time, loc *time.Location) string {
	for _, x := range []struct {
		name string
		t    time.Time
	}{{"begins", begin}, {"ends", end}} {
		if got := KimaiReads(x.t, loc); !got.Equal(x.t) {
			return fmt.Sprintf("The timesheet %s at %s, in the hour that repeats when daylight saving time ends in %s; Kimai reads times without an offset and would store %s instead (%s off). Enter this timesheet in Kimai by hand and choose keep Kimai, or skip the entry.",
				x.name, x.t.In(loc).Format("2006-01-02 15:04 MST (-07:00)"), loc, got.In(loc).Format("15:04 MST (-07:00)"), x.t.Sub(got))
		}
	}
	return ""
}

// StoredShift compares the instants Kimai stored with those sent and
// explains a difference that rounding cannot account for: another UTC
// offset at either end (a DST change, or the API user's zone changed
// between reading it and writing), or an hour or more. Kimai rounds begin
// and end on save, by less than an hour and within one offset.
func StoredShift(want, got tb.Timesheet, loc *time.Location) string {
	for _, x := range []struct {
		name      string
		want, got time.Time
	}{{"begin", want.Begin, got.Begin}, {"end", want.End, got.End}} {
		_, wo := x.want.In(loc).Zone()
		_, gotOff := x.got.In(loc).Zone()
		d := x.got.Sub(x.want)
		if wo != gotOff || d >= time.Hour || d <= -time.Hour {
			return fmt.Sprintf("Kimai stored %s %s where Timebridge sent %s (%s); its zone %s reads times without an offset. Correct the timesheet in Kimai and choose keep Kimai, or skip the entry.",
				x.name, x.got.In(loc).Format("2006-01-02 15:04 -07:00"), x.want.In(loc).Format("2006-01-02 15:04 -07:00"), d, loc)
		}
	}
	return ""
}

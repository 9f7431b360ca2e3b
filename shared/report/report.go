// Package report builds the reconciliation report: per customer, project,
// activity, agent or ticket, the time booked in Zammad, written by
// Timebridge and held by Kimai, the difference and its reasons, and the
// billed (exported) part. It is pure: the records come from the store,
// which the engine keeps current on every run.
package report

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// GroupBy names what a report groups by.
type GroupBy string

// The groupings.
const (
	ByCustomer GroupBy = "customer"
	ByProject  GroupBy = "project"
	ByActivity GroupBy = "activity"
	ByAgent    GroupBy = "agent"
	ByTicket   GroupBy = "ticket"
)

// GroupBys lists every grouping.
var GroupBys = []GroupBy{ByCustomer, ByProject, ByActivity, ByAgent, ByTicket}

// Reason names why Zammad and Kimai differ for some entries.
type Reason string

// The reasons, in the order CSV columns list them.
const (
	ReasonConflict     Reason = "open_conflict"
	ReasonSkipped      Reason = "skipped"
	ReasonPending      Reason = "pending"
	ReasonFailed       Reason = "failed"
	ReasonEditedKimai  Reason = "edited_in_kimai"
	ReasonDeletedKimai Reason = "deleted_in_kimai"
)

// Reasons lists every reason.
var Reasons = []Reason{ReasonConflict, ReasonSkipped, ReasonPending, ReasonFailed, ReasonEditedKimai, ReasonDeletedKimai}

// ReasonPart is the part of a group's difference one reason explains.
type ReasonPart struct {
	Reason  Reason `json:"reason"`
	Entries int    `json:"entries"`
	Seconds int64  `json:"seconds"`
}

// Group is one line of the report (or its totals).
type Group struct {
	Key        string       `json:"key"`
	Name       string       `json:"name"`
	TicketID   int64        `json:"ticket_id,omitempty"`
	Entries    int          `json:"entries"`
	Zammad     int64        `json:"zammad_seconds"`
	Written    int64        `json:"written_seconds"`
	Kimai      int64        `json:"kimai_seconds"`
	Difference int64        `json:"difference_seconds"`
	Billed     int64        `json:"billed_seconds"`
	IsBilled   *bool        `json:"billed,omitempty"`
	Reasons    []ReasonPart `json:"reasons"`

	allExported bool
}

// Day is one day's Zammad and Kimai time.
type Day struct {
	Day    string `json:"day"`
	Zammad int64  `json:"zammad_seconds"`
	Kimai  int64  `json:"kimai_seconds"`
}

// Report is the whole report.
type Report struct {
	ProfileID  string  `json:"profile_id"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	GroupBy    GroupBy `json:"group_by"`
	ObservedAt string  `json:"observed_at"`
	Totals     Group   `json:"totals"`
	Groups     []Group `json:"groups"`
	Days       []Day   `json:"days"`
}

// Input is what Build reads.
type Input struct {
	ProfileID string
	From, To  time.Time // days, inclusive
	GroupBy   GroupBy
	Billing   bool // the profile tags billed tickets: ticket groups say whether they are billed
	Observed  time.Time
	Records   []tb.EntryRecord
}

// Build computes the report of in.Records whose day lies in [From, To].
func Build(in Input) Report {
	from, to := in.From.Format(time.DateOnly), in.To.Format(time.DateOnly)
	rep := Report{ProfileID: in.ProfileID, From: from, To: to, GroupBy: in.GroupBy, Groups: []Group{}, Days: []Day{},
		Totals: Group{Key: "", Name: "Total", Reasons: []ReasonPart{}}}
	if !in.Observed.IsZero() {
		rep.ObservedAt = in.Observed.UTC().Format(time.RFC3339)
	}
	days := map[string]*Day{}
	for d := in.From; !d.After(in.To); d = d.AddDate(0, 0, 1) {
		rep.Days = append(rep.Days, Day{Day: d.Format(time.DateOnly)})
	}
	for i := range rep.Days {
		days[rep.Days[i].Day] = &rep.Days[i]
	}
	groups := map[string]*Group{}
	var order []string
	for _, r := range in.Records {
		d, ok := days[r.Day]
		if !ok {
			continue
		}
		d.Zammad += r.Zammad
		d.Kimai += r.Kimai
		key, name, ticket := groupOf(in.GroupBy, r)
		g := groups[key]
		if g == nil {
			g = &Group{Key: key, Name: name, TicketID: ticket, Reasons: []ReasonPart{}, allExported: true}
			groups[key] = g
			order = append(order, key)
		}
		add(g, r)
		add(&rep.Totals, r)
	}
	for _, k := range order {
		g := groups[k]
		if in.Billing && in.GroupBy == ByTicket {
			billed := g.allExported && g.Entries > 0
			g.IsBilled = &billed
		}
		sortReasons(g)
		rep.Groups = append(rep.Groups, *g)
	}
	sortReasons(&rep.Totals)
	slices.SortStableFunc(rep.Groups, func(a, b Group) int {
		if c := cmp.Compare(b.Zammad, a.Zammad); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return rep
}

func add(g *Group, r tb.EntryRecord) {
	g.Entries++
	g.Zammad += r.Zammad
	g.Written += r.Written
	g.Kimai += r.Kimai
	g.Difference += r.Zammad - r.Kimai
	if r.Exported {
		g.Billed += r.Kimai
	}
	if r.Status != tb.RecordSynced || !r.Exported || r.KimaiGone {
		g.allExported = false
	}
	if why, ok := ReasonOf(r); ok {
		i := slices.IndexFunc(g.Reasons, func(p ReasonPart) bool { return p.Reason == why })
		if i < 0 {
			g.Reasons = append(g.Reasons, ReasonPart{Reason: why})
			i = len(g.Reasons) - 1
		}
		g.Reasons[i].Entries++
		g.Reasons[i].Seconds += r.Zammad - r.Kimai
	}
}

// ReasonOf says why an entry's Zammad and Kimai time differ (ok false when
// they agree).
func ReasonOf(r tb.EntryRecord) (Reason, bool) {
	if r.Zammad == r.Kimai && r.Status != tb.RecordConflict {
		return "", false
	}
	switch r.Status {
	case tb.RecordConflict:
		if r.Zammad == r.Kimai {
			return "", false
		}
		return ReasonConflict, true
	case tb.RecordSkipped:
		return ReasonSkipped, true
	case tb.RecordPending:
		return ReasonPending, true
	case tb.RecordFailed:
		return ReasonFailed, true
	}
	if r.KimaiGone {
		return ReasonDeletedKimai, true
	}
	// Kimai holds other time than Zammad: edited there after the last write,
	// or edited earlier and kept by a human's resolution (keep_kimai), which
	// made Kimai's time the baseline. A Zammad change the last run saw would
	// have been written.
	return ReasonEditedKimai, true
}

func sortReasons(g *Group) {
	slices.SortStableFunc(g.Reasons, func(a, b ReasonPart) int {
		return cmp.Compare(abs(b.Seconds), abs(a.Seconds))
	})
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func groupOf(by GroupBy, r tb.EntryRecord) (key, name string, ticket int64) {
	id := func(v int64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	named := func(n, none string, v int64) string {
		switch {
		case n != "":
			return n
		case v != 0:
			return fmt.Sprintf("#%d", v)
		}
		return none
	}
	switch by {
	case ByProject:
		return id(r.ProjectID), named(r.Project, "(no project: not mapped)", r.ProjectID), 0
	case ByActivity:
		return id(r.ActivityID), named(r.Activity, "(no activity: not mapped)", r.ActivityID), 0
	case ByAgent:
		return id(r.AgentID), named(r.Agent, "(unknown agent)", r.AgentID), 0
	case ByTicket:
		n := "#" + r.TicketNumber
		if r.TicketNumber == "" {
			n = fmt.Sprintf("ticket %d", r.TicketID)
		}
		if r.TicketTitle != "" {
			n += " " + r.TicketTitle
		}
		return id(r.TicketID), n, r.TicketID
	}
	key = id(r.CustomerID)
	if key == "" && r.Customer != "" {
		key = "new:" + r.Customer // to be auto-created
	}
	return key, named(r.Customer, "(no customer: not mapped)", r.CustomerID), 0
}

// WriteCSV writes the report's groups and totals as CSV, times in minutes.
// Cells that a spreadsheet would run as a formula are prefixed with '.
func WriteCSV(w io.Writer, rep Report) error {
	cw := csv.NewWriter(w)
	head := []string{string(rep.GroupBy), "name", "entries", "zammad_minutes", "written_minutes", "kimai_minutes",
		"difference_minutes", "billed_minutes"}
	for _, r := range Reasons {
		head = append(head, string(r)+"_minutes")
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	row := func(g Group) []string {
		out := []string{cell(g.Key), cell(g.Name), strconv.Itoa(g.Entries), minutes(g.Zammad), minutes(g.Written),
			minutes(g.Kimai), minutes(g.Difference), minutes(g.Billed)}
		for _, r := range Reasons {
			var s int64
			for _, p := range g.Reasons {
				if p.Reason == r {
					s = p.Seconds
				}
			}
			out = append(out, minutes(s))
		}
		return out
	}
	for _, g := range rep.Groups {
		if err := cw.Write(row(g)); err != nil {
			return err
		}
	}
	t := rep.Totals
	t.Key = "total"
	if err := cw.Write(row(t)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// minutes formats seconds as minutes with at most two decimals.
func minutes(s int64) string {
	v := strconv.FormatFloat(float64(s)/60, 'f', 2, 64)
	v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	if v == "-0" {
		v = "0"
	}
	return v
}

func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

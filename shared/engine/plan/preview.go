package plan

import (
	"sort"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Where names the Kimai records a change's timesheet belongs to: ids from
// the catalog, names also for records that would be auto-created (id 0).
type Where struct {
	CustomerID, ProjectID, ActivityID int64
	Customer, Project, Activity       string
}

// Locate names the customer, project and activity of a change: the
// desired timesheet's for creates and updates, the one in Kimai for
// deletes; records to be auto-created are named by their create specs.
func Locate(c Change, cat *Catalog) Where {
	x := cat.index()
	var w Where
	s := c.Observed
	if c.Desired != nil && c.Desired.Sheet != nil && c.Action != tb.ActionDelete {
		s = c.Desired.Sheet
	} else if s == nil && c.Link != nil && c.Link.TimesheetID != 0 {
		s = &c.Link.Baseline
	}
	if s != nil {
		w.ProjectID, w.ActivityID = s.ProjectID, s.ActivityID
	}
	if i, ok := x.projects[w.ProjectID]; ok {
		w.Project, w.CustomerID = cat.Projects[i].Name, cat.Projects[i].CustomerID
	}
	if i, ok := x.activities[w.ActivityID]; ok {
		w.Activity = cat.Activities[i].Name
	}
	if c.Desired != nil {
		for _, cs := range c.Desired.Creates {
			switch cs.Kind {
			case tb.MapCustomer:
				w.Customer = cs.Name
			case tb.MapProject:
				w.Project = cs.Name
				if cs.CustomerID != 0 {
					w.CustomerID = cs.CustomerID
				}
			case tb.MapActivity:
				w.Activity = cs.Name
			}
		}
	}
	if i, ok := x.customers[w.CustomerID]; ok && w.Customer == "" {
		w.Customer = cat.Customers[i].Name
	}
	return w
}

// Summarize is a dry run's preview: per customer, project and activity the
// creates, updates and deletes and the change of time in Kimai; the records
// the run would auto-create with the number of entries that need each; the
// conflicts it would open by kind. Groups are ordered by kind, then by the
// size of the change, then by name; everything is deterministic.
func Summarize(p Plan, cat *Catalog) tb.Preview {
	type key struct {
		by   tb.MappingKind
		id   int64
		name string
	}
	groups := map[key]*tb.PreviewGroup{}
	creates := map[key]*tb.PreviewCreate{}
	conflicts := map[tb.ConflictKind]int{}
	for _, c := range p.Changes {
		if c.Action == tb.ActionConflict && c.Conflict != nil {
			conflicts[c.Conflict.Kind]++
			continue
		}
		if c.Action != tb.ActionCreate && c.Action != tb.ActionUpdate && c.Action != tb.ActionDelete {
			continue
		}
		w := Locate(c, cat)
		secs := secondsChange(c)
		for _, g := range []struct {
			by   tb.MappingKind
			id   int64
			name string
		}{{tb.MapCustomer, w.CustomerID, w.Customer}, {tb.MapProject, w.ProjectID, w.Project}, {tb.MapActivity, w.ActivityID, w.Activity}} {
			k := key{g.by, g.id, g.name}
			if g.id != 0 {
				k.name = "" // one group per record, whatever it is called
			}
			pg := groups[k]
			if pg == nil {
				pg = &tb.PreviewGroup{By: g.by, ID: g.id, Name: g.name}
				groups[k] = pg
			}
			switch c.Action {
			case tb.ActionCreate:
				pg.Create++
			case tb.ActionUpdate:
				pg.Update++
			case tb.ActionDelete:
				pg.Delete++
			}
			pg.Seconds += secs
		}
		if c.Desired != nil {
			for _, cs := range c.Desired.Creates {
				k := key{cs.Kind, 0, cs.Name}
				if creates[k] == nil {
					creates[k] = &tb.PreviewCreate{Kind: cs.Kind, Name: cs.Name}
				}
				creates[k].Entries++
			}
		}
	}
	out := tb.Preview{Groups: []tb.PreviewGroup{}, Creates: []tb.PreviewCreate{}, Conflicts: []tb.PreviewConflict{}}
	order := map[tb.MappingKind]int{tb.MapCustomer: 0, tb.MapProject: 1, tb.MapActivity: 2}
	for _, g := range groups {
		out.Groups = append(out.Groups, *g)
	}
	sort.Slice(out.Groups, func(i, j int) bool {
		a, b := out.Groups[i], out.Groups[j]
		if a.By != b.By {
			return order[a.By] < order[b.By]
		}
		if na, nb := a.Create+a.Update+a.Delete, b.Create+b.Update+b.Delete; na != nb {
			return na > nb
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	for _, c := range creates {
		out.Creates = append(out.Creates, *c)
	}
	sort.Slice(out.Creates, func(i, j int) bool {
		a, b := out.Creates[i], out.Creates[j]
		if a.Kind != b.Kind {
			return order[a.Kind] < order[b.Kind]
		}
		return a.Name < b.Name
	})
	for k, n := range conflicts {
		out.Conflicts = append(out.Conflicts, tb.PreviewConflict{Kind: k, Count: n})
	}
	sort.Slice(out.Conflicts, func(i, j int) bool {
		a, b := out.Conflicts[i], out.Conflicts[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Kind < b.Kind
	})
	return out
}

// secondsChange is how much time a change adds to Kimai (negative: removes).
func secondsChange(c Change) int64 {
	var before, after int64
	switch {
	case c.Observed != nil:
		before = c.Observed.Duration
	case c.Link != nil && c.Link.TimesheetID != 0:
		before = c.Link.Baseline.Duration
	}
	if c.Action != tb.ActionDelete && c.Desired != nil && c.Desired.Sheet != nil {
		after = c.Desired.Sheet.Duration
	}
	if c.Action == tb.ActionCreate {
		before = 0
	}
	return after - before
}

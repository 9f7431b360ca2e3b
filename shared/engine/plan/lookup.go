package plan

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Catalog is Kimai's customers, projects, activities and users, loaded once
// per run. Lookups never match by name: only explicit mappings and external
// keys in Kimai's number field.
type Catalog struct {
	Customers  []Customer
	Projects   []Project
	Activities []Activity
	Users      []KimaiUser

	idx *catalogIndex
}

// Customer is a Kimai customer.
type Customer struct {
	ID      int64
	Name    string
	Number  string
	Visible bool
}

// Project is a Kimai project.
type Project struct {
	ID               int64
	CustomerID       int64
	Name             string
	Number           string
	Visible          bool
	GlobalActivities bool
}

// Activity is a Kimai activity; ProjectID 0 means global.
type Activity struct {
	ID        int64
	ProjectID int64
	Name      string
	Number    string
	Visible   bool
}

// KimaiUser is a Kimai user.
type KimaiUser struct {
	ID       int64
	Username string
	Email    string
	Enabled  bool
}

type catalogIndex struct {
	customers, projects, activities map[int64]int
	custNum, projNum, actNum        map[string]int64
	users                           map[int64]KimaiUser
	userEmail                       map[string]int64
}

func (c *Catalog) index() *catalogIndex {
	if c.idx != nil {
		return c.idx
	}
	x := &catalogIndex{
		customers: map[int64]int{}, projects: map[int64]int{}, activities: map[int64]int{},
		custNum: map[string]int64{}, projNum: map[string]int64{}, actNum: map[string]int64{},
		users: map[int64]KimaiUser{}, userEmail: map[string]int64{},
	}
	for i, v := range c.Customers {
		x.customers[v.ID] = i
		if v.Number != "" {
			x.custNum[v.Number] = v.ID
		}
	}
	for i, v := range c.Projects {
		x.projects[v.ID] = i
		if v.Number != "" {
			x.projNum[v.Number] = v.ID
		}
	}
	for i, v := range c.Activities {
		x.activities[v.ID] = i
		if v.Number != "" {
			x.actNum[v.Number] = v.ID
		}
	}
	for _, u := range c.Users {
		x.users[u.ID] = u
		if u.Email != "" && u.Enabled {
			x.userEmail[strings.ToLower(u.Email)] = u.ID
		}
	}
	c.idx = x
	return x
}

// AddCustomer, AddProject and AddActivity record an entity created during
// the run so later resolutions find it.
// Where names the Kimai records of a timesheet's project and activity
// (the project's customer too), "" for ids the catalog lacks.
func (c *Catalog) Where(projectID, activityID int64) (customer, project, activity string) {
	x := c.index()
	if i, ok := x.projects[projectID]; ok {
		project = c.Projects[i].Name
		if j, ok := x.customers[c.Projects[i].CustomerID]; ok {
			customer = c.Customers[j].Name
		}
	}
	if i, ok := x.activities[activityID]; ok {
		activity = c.Activities[i].Name
	}
	return customer, project, activity
}

func (c *Catalog) AddCustomer(v Customer) { c.Customers = append(c.Customers, v); c.idx = nil }

// AddProject records a created project.
func (c *Catalog) AddProject(v Project) { c.Projects = append(c.Projects, v); c.idx = nil }

// AddActivity records a created activity.
func (c *Catalog) AddActivity(v Activity) { c.Activities = append(c.Activities, v); c.idx = nil }

// Names are the Zammad-side names used to name auto-created entities and to
// explain conflicts.
type Names struct {
	Orgs   map[int64]string
	Groups map[int64]string
	Types  map[int64]string
	Agents map[int64]Agent
}

// Agent is a Zammad agent.
type Agent struct {
	ID    int64
	Name  string
	Email string
}

// Mappings indexes a profile's explicit mappings by kind and source id.
type Mappings map[tb.MappingKind]map[string]int64

// NewMappings indexes ms.
func NewMappings(ms []tb.Mapping) Mappings {
	m := Mappings{}
	for _, x := range ms {
		if m[x.Kind] == nil {
			m[x.Kind] = map[string]int64{}
		}
		m[x.Kind][x.SourceID] = x.TargetID
	}
	return m
}

func (m Mappings) get(k tb.MappingKind, src string) (int64, bool) {
	v, ok := m[k][src]
	return v, ok
}

// External keys written into Kimai's number field for auto-created entities.
// Kimai limits project and activity numbers to 10 characters, so ids are
// base-36 encoded behind a two-letter prefix.
func b36(n int64) string { return strings.ToUpper(strconv.FormatInt(n, 36)) }

// CustomerNumber is the external key of the customer for a Zammad organization (0 = none).
func CustomerNumber(orgID int64) string { return "ZO" + b36(orgID) }

// ActivityNumber is the external key of the activity for a Zammad type (0 = none).
func ActivityNumber(typeID int64) string { return "ZA" + b36(typeID) }

// ProjectSource is the mapping source id of a ticket's project under a strategy.
func ProjectSource(s tb.ProjectStrategy, t Ticket) string {
	switch s {
	case tb.ProjectPerTicket:
		return "ticket-" + strconv.FormatInt(t.ID, 10)
	case tb.ProjectPerGroup:
		return "group-" + strconv.FormatInt(t.GroupID, 10) + "-org-" + strconv.FormatInt(t.OrgID, 10)
	}
	return "org-" + strconv.FormatInt(t.OrgID, 10)
}

// ProjectNumber is the external key of a ticket's project, "" when it does
// not fit Kimai's 10 characters.
func ProjectNumber(s tb.ProjectStrategy, t Ticket) string {
	var n string
	switch s {
	case tb.ProjectPerTicket:
		n = "ZT" + b36(t.ID)
	case tb.ProjectPerGroup:
		n = "ZG" + b36(t.GroupID) + "." + b36(t.OrgID)
	default:
		n = "ZP" + b36(t.OrgID)
	}
	if len(n) > 10 {
		return ""
	}
	return n
}

// Sanitize makes a Zammad name acceptable as a Kimai name: no < > " =
// (rejected since Kimai 2.54), no control characters, 2–150 characters.
func Sanitize(name, fallback string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '<' || r == '>' || r == '"' || r == '=':
			continue
		case r < 0x20 || r == 0x7f:
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.Join(strings.Fields(b.String()), " ")
	if utf8.RuneCountInString(s) < 2 {
		s = fallback
	}
	if utf8.RuneCountInString(s) > 150 {
		r := []rune(s)
		s = strings.TrimSpace(string(r[:149])) + "…"
	}
	return s
}

// Match is what a lookup found for one source key.
type Match struct {
	ID      int64       // the Kimai id found, 0 if none (yet)
	Create  *CreateSpec // what to auto-create, if allowed and needed
	Problem string      // why there is none (conflict message)
}

// CreateSpec describes an entity to auto-create.
type CreateSpec struct {
	Kind       tb.MappingKind
	Name       string
	Number     string
	CustomerID int64 // projects
}

// Lookup finds the Kimai ids of source keys in the catalog and mappings. It is
// pure: creating what it proposes is the caller's job.
type Lookup struct {
	Profile  tb.Profile
	Catalog  *Catalog
	Mappings Mappings
	Names    Names
}

// Customer looks up the Kimai customer of a ticket's organization.
func (r *Lookup) Customer(orgID int64) Match {
	x := r.Catalog.index()
	src := strconv.FormatInt(orgID, 10)
	orgName := r.Names.Orgs[orgID]
	if orgID == 0 {
		if id := r.Profile.DefaultCustomerID; id != 0 {
			if _, ok := x.customers[id]; !ok {
				return Match{Problem: fmt.Sprintf("The profile's default customer (Kimai id %d) no longer exists in Kimai; choose another default customer in the profile.", id)}
			}
			return Match{ID: id}
		}
		orgName = "Zammad (no organization)"
	}
	if id, ok := r.Mappings.get(tb.MapCustomer, src); ok {
		if _, exists := x.customers[id]; !exists {
			return Match{Problem: fmt.Sprintf("Organization %q is mapped to Kimai customer %d, which no longer exists; update the customer mapping.", label(orgName, orgID), id)}
		}
		return Match{ID: id}
	}
	num := CustomerNumber(orgID)
	if id, ok := x.custNum[num]; ok {
		return Match{ID: id}
	}
	if r.Profile.AutoCreateCustomers {
		return Match{Create: &CreateSpec{Kind: tb.MapCustomer, Name: Sanitize(orgName, "Zammad organization "+src), Number: num}}
	}
	if orgID == 0 {
		return Match{Problem: "The ticket has no organization and the profile has no default customer; set a default customer or enable auto-create customers."}
	}
	return Match{Problem: fmt.Sprintf("Organization %q has no Kimai customer; map it under Mappings › Customers or enable auto-create customers.", label(orgName, orgID))}
}

// label names a Zammad organization or type in a message: its name, else
// its id.
func label(name string, id int64) string {
	if name == "" {
		return "#" + strconv.FormatInt(id, 10)
	}
	return name
}

// Project looks up a ticket's project, given its customer.
func (r *Lookup) Project(t Ticket, customerID int64) Match {
	x := r.Catalog.index()
	strategy := r.Profile.ProjectStrategy
	src := ProjectSource(strategy, t)
	if id, ok := r.Mappings.get(tb.MapProject, src); ok {
		if _, exists := x.projects[id]; !exists {
			return Match{Problem: fmt.Sprintf("Project key %s is mapped to Kimai project %d, which no longer exists; update the project mapping.", src, id)}
		}
		return Match{ID: id}
	}
	num := ProjectNumber(strategy, t)
	if num != "" {
		if id, ok := x.projNum[num]; ok {
			return Match{ID: id}
		}
	}
	if r.Profile.AutoCreateProjects && num != "" {
		var name string
		switch strategy {
		case tb.ProjectPerTicket:
			name = Sanitize("#"+t.Number+" "+t.Title, "Ticket #"+t.Number)
		case tb.ProjectPerGroup:
			name = Sanitize(r.Names.Groups[t.GroupID], "Zammad group "+strconv.FormatInt(t.GroupID, 10))
		default:
			name = "Zammad support"
		}
		return Match{Create: &CreateSpec{Kind: tb.MapProject, Name: name, Number: num, CustomerID: customerID}}
	}
	return Match{Problem: fmt.Sprintf("No Kimai project for %s; map it under Mappings › Projects or enable auto-create projects.", src)}
}

// Activity looks up the Kimai activity of a Zammad type (0 = no type).
func (r *Lookup) Activity(typeID int64) Match {
	x := r.Catalog.index()
	name := r.Names.Types[typeID]
	if typeID == 0 {
		if id := r.Profile.DefaultActivityID; id != 0 {
			if _, ok := x.activities[id]; !ok {
				return Match{Problem: fmt.Sprintf("The profile's default activity (Kimai id %d) no longer exists; choose another default activity.", id)}
			}
			return Match{ID: id}
		}
		name = "Zammad support"
	}
	src := strconv.FormatInt(typeID, 10)
	if id, ok := r.Mappings.get(tb.MapActivity, src); ok {
		if _, exists := x.activities[id]; !exists {
			return Match{Problem: fmt.Sprintf("Activity type %q is mapped to Kimai activity %d, which no longer exists; update the activity mapping.", label(name, typeID), id)}
		}
		return Match{ID: id}
	}
	num := ActivityNumber(typeID)
	if id, ok := x.actNum[num]; ok {
		return Match{ID: id}
	}
	if r.Profile.AutoCreateActivities {
		return Match{Create: &CreateSpec{Kind: tb.MapActivity, Name: Sanitize(name, "Zammad type "+src), Number: num}}
	}
	if typeID == 0 {
		return Match{Problem: "The entry has no activity type and the profile has no default activity; set a default activity or enable auto-create activities."}
	}
	return Match{Problem: fmt.Sprintf("Activity type %q has no Kimai activity; map it under Mappings › Activities or enable auto-create activities.", label(name, typeID))}
}

// User looks up the Kimai user for a Zammad agent. ID 0 with no problem
// means "book as the token user" (the user field is then not sent).
func (r *Lookup) User(agentID int64) Match {
	if r.Profile.UserMode == tb.UserToken || r.Profile.UserMode == "" {
		return Match{}
	}
	x := r.Catalog.index()
	src := strconv.FormatInt(agentID, 10)
	agent := r.Names.Agents[agentID]
	if id, ok := r.Mappings.get(tb.MapUser, src); ok {
		if _, exists := x.users[id]; !exists && len(r.Catalog.Users) > 0 {
			return Match{Problem: fmt.Sprintf("Agent %s is mapped to Kimai user %d, which no longer exists; update the user mapping.", agentLabel(agent, agentID), id)}
		}
		return Match{ID: id}
	}
	if r.Profile.UserMode == tb.UserEmail && agent.Email != "" {
		if id, ok := x.userEmail[strings.ToLower(agent.Email)]; ok {
			return Match{ID: id}
		}
	}
	if r.Profile.StrictUsers {
		return Match{Problem: fmt.Sprintf("Agent %s has no Kimai user; map the agent under Mappings › Users (or give the Kimai user the same email).", agentLabel(agent, agentID))}
	}
	return Match{}
}

func agentLabel(a Agent, id int64) string {
	switch {
	case a.Name != "" && a.Email != "":
		return fmt.Sprintf("%s <%s>", a.Name, a.Email)
	case a.Email != "":
		return a.Email
	case a.Name != "":
		return a.Name
	}
	return "#" + strconv.FormatInt(id, 10)
}

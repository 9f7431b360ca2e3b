package kimaisim

import (
	"hash/fnv"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---------------------------------------------------------------------
// JSON shapes (field order as Kimai's serializer emits them)

type userJSON struct {
	ID            int64    `json:"id"`
	Username      string   `json:"username"`
	Email         string   `json:"email"`
	Enabled       bool     `json:"enabled"`
	APIToken      bool     `json:"apiToken"`
	SystemAccount bool     `json:"systemAccount"`
	Alias         *string  `json:"alias"`
	Title         *string  `json:"title"`
	AccountNumber *string  `json:"accountNumber"`
	Initials      string   `json:"initials"`
	Avatar        *string  `json:"avatar"`
	Color         *string  `json:"color"`
	ColorSafe     string   `json:"color-safe"`
	Language      string   `json:"language"`
	Locale        string   `json:"locale"`
	Timezone      string   `json:"timezone"`
	Supervisor    *int64   `json:"supervisor"`
	Teams         []any    `json:"teams"`
	Roles         []string `json:"roles"`
	Memberships   []any    `json:"memberships"`
	Preferences   []pref   `json:"preferences"`
}

type pref struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func toUserJSON(u *User) userJSON {
	initials := ""
	if u.Username != "" {
		initials = strings.ToUpper(u.Username[:1])
	}
	return userJSON{
		ID: u.ID, Username: u.Username, Email: u.Email, Enabled: u.Enabled,
		Initials: initials, ColorSafe: colorFor(u.Username), Language: u.Language, Locale: u.Language,
		Timezone: u.Timezone, Teams: []any{}, Roles: append([]string{}, u.Roles...), Memberships: []any{},
		Preferences: []pref{{Name: "timezone", Value: u.Timezone}, {Name: "language", Value: u.Language}},
	}
}

type customerJSON struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Number     string  `json:"number"`
	Comment    *string `json:"comment"`
	Visible    bool    `json:"visible"`
	Billable   bool    `json:"billable"`
	Country    string  `json:"country"`
	Currency   string  `json:"currency"`
	Timezone   string  `json:"timezone"`
	Color      *string `json:"color"`
	ColorSafe  string  `json:"color-safe"`
	MetaFields []any   `json:"metaFields"`
	Teams      []any   `json:"teams"`
}

func toCustomerJSON(c *Customer) customerJSON {
	return customerJSON{
		ID: c.ID, Name: c.Name, Number: c.Number, Comment: nullable(c.Comment),
		Visible: !c.Hidden, Billable: !c.NonBillable, Country: c.Country, Currency: c.Currency,
		Timezone: c.Timezone, Color: nullable(c.Color), ColorSafe: colorOr(c.Color, c.Name),
		MetaFields: []any{}, Teams: []any{},
	}
}

type projectJSON struct {
	ID               int64   `json:"id"`
	Name             string  `json:"name"`
	Customer         int64   `json:"customer"`
	ParentTitle      string  `json:"parentTitle"`
	Number           string  `json:"number"`
	OrderNumber      *string `json:"orderNumber"`
	OrderDate        *string `json:"orderDate"`
	Start            *string `json:"start"`
	End              *string `json:"end"`
	Comment          *string `json:"comment"`
	Visible          bool    `json:"visible"`
	Billable         bool    `json:"billable"`
	GlobalActivities bool    `json:"globalActivities"`
	Color            *string `json:"color"`
	ColorSafe        string  `json:"color-safe"`
	MetaFields       []any   `json:"metaFields"`
	Teams            []any   `json:"teams"`
}

func (s *Server) toProjectJSON(p *Project) projectJSON {
	parent := ""
	if c := s.customers[p.CustomerID]; c != nil {
		parent = c.Name
	}
	return projectJSON{
		ID: p.ID, Name: p.Name, Customer: p.CustomerID, ParentTitle: parent, Number: p.Number,
		OrderNumber: nullable(p.OrderNumber), Start: dateOrNil(p.Start), End: dateOrNil(p.End),
		Comment: nullable(p.Comment), Visible: !p.Hidden, Billable: !p.NonBillable,
		GlobalActivities: !p.NoGlobalActivities, Color: nullable(p.Color), ColorSafe: colorOr(p.Color, p.Name),
		MetaFields: []any{}, Teams: []any{},
	}
}

type activityJSON struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Project     *int64  `json:"project"`
	ParentTitle *string `json:"parentTitle"`
	Number      string  `json:"number"`
	Comment     *string `json:"comment"`
	Visible     bool    `json:"visible"`
	Billable    bool    `json:"billable"`
	Color       *string `json:"color"`
	ColorSafe   string  `json:"color-safe"`
	MetaFields  []any   `json:"metaFields"`
	Teams       []any   `json:"teams"`
}

func (s *Server) toActivityJSON(a *Activity) activityJSON {
	j := activityJSON{
		ID: a.ID, Name: a.Name, Number: a.Number, Comment: nullable(a.Comment),
		Visible: !a.Hidden, Billable: !a.NonBillable, Color: nullable(a.Color), ColorSafe: colorOr(a.Color, a.Name),
		MetaFields: []any{}, Teams: []any{},
	}
	if a.ProjectID != 0 {
		id := a.ProjectID
		j.Project = &id
		if p := s.projects[a.ProjectID]; p != nil {
			j.ParentTitle = &p.Name
		}
	}
	return j
}

type tagJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Visible   bool    `json:"visible"`
	Color     *string `json:"color"`
	ColorSafe string  `json:"color-safe"`
}

func toTagJSON(t *Tag) tagJSON {
	return tagJSON{ID: t.ID, Name: t.Name, Visible: !t.Hidden, Color: nullable(t.Color), ColorSafe: colorOr(t.Color, t.Name)}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func dateOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	d := t.UTC().Format(time.DateOnly)
	return &d
}

var palette = []string{"#5319e7", "#03A9F4", "#4CAF50", "#FF9800", "#E91E63", "#795548", "#607D8B", "#9C27B0"}

// colorFor picks a stable colour for an entity without one, like Kimai's
// Color::getRandom(name).
func colorFor(name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return palette[h.Sum32()%uint32(len(palette))]
}

func colorOr(color, name string) string {
	if color != "" {
		return color
	}
	return colorFor(name)
}

// ---------------------------------------------------------------------
// Visibility rules

func (s *Server) customerVisible(c *Customer) bool { return c != nil && !c.Hidden }

func (s *Server) projectVisible(p *Project) bool {
	return p != nil && !p.Hidden && s.customerVisible(s.customers[p.CustomerID])
}

func (s *Server) activityVisible(a *Activity) bool {
	if a == nil || a.Hidden {
		return false
	}
	return a.ProjectID == 0 || s.projectVisible(s.projects[a.ProjectID])
}

// visibleFilter parses visible=1|2|3 (default 1). ok=false is a 400.
func visibleFilter(q url.Values) (int, bool) {
	v := q.Get("visible")
	switch v {
	case "":
		return 1, true
	case "1", "2", "3":
		return int(v[0] - '0'), true
	}
	return 0, false
}

func visibleMatch(mode int, visible bool) bool {
	switch mode {
	case 1:
		return visible
	case 2:
		return !visible
	}
	return true
}

// strictParam checks a query parameter against FOSRest-style requirements
// (anchored); an absent parameter passes.
func strictParam(q url.Values, name string, re *regexp.Regexp) bool {
	v, ok := q[name]
	if !ok {
		return true
	}
	return len(v) == 1 && re.MatchString(v[0])
}

var (
	reDigits   = regexp.MustCompile(`^\d+$`)
	reBool01   = regexp.MustCompile(`^[01]$`)
	reBoolWord = regexp.MustCompile(`^(0|1|true|false)$`)
	reOrder    = regexp.MustCompile(`^(ASC|DESC)$`)
	reDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	reCountry  = regexp.MustCompile(`^[A-Z]{2}$`)
	reCurr     = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ---------------------------------------------------------------------
// Users

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, me *User) {
	writeJSON(w, http.StatusOK, toUserJSON(me))
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, me *User) {
	if !me.Can(PermViewUser) {
		writeError(w, http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	mode, ok := visibleFilter(q)
	if !ok {
		writeError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	var out []userJSON
	for _, u := range sortedValues(s.users, func(u User) int64 { return u.ID }) {
		if !visibleMatch(mode, u.Enabled) || !termMatch(q.Get("term"), u.Username, u.Email) {
			continue
		}
		out = append(out, toUserJSON(&u))
	}
	s.mu.Unlock()
	if out == nil {
		out = []userJSON{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request, me *User) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	u := s.users[id]
	var j userJSON
	if u != nil {
		j = toUserJSON(u)
	}
	s.mu.Unlock()
	switch {
	case u == nil:
		writeError(w, http.StatusNotFound)
	case id != me.ID && !me.Can(PermViewUser):
		writeError(w, http.StatusForbidden)
	default:
		writeJSON(w, http.StatusOK, j)
	}
}

// ---------------------------------------------------------------------
// Customers

func (s *Server) handleCustomers(w http.ResponseWriter, r *http.Request, me *User) {
	customers.list(s, w, r.URL.Query(), true, func(c *Customer) bool { return true },
		s.customerVisible, func(c *Customer) any { return toCustomerJSON(c) })
}

func (s *Server) handleCustomer(w http.ResponseWriter, r *http.Request, me *User) {
	showEntity(s, w, r, s.customers, func(c *Customer) any { return toCustomerJSON(c) })
}

var customerFields = []string{"name", "number", "comment", "company", "vatId", "contact", "address",
	"country", "currency", "phone", "fax", "mobile", "email", "homepage", "timezone", "color",
	"visible", "billable", "invoiceTemplate", "invoiceText", "budget", "timeBudget", "budgetType"}

// handleCreateCustomer implements POST /api/customers: omitted fields get
// defaults (visible, billable, country, currency, timezone from the system
// settings, a generated number).
func (s *Server) handleCreateCustomer(w http.ResponseWriter, r *http.Request, me *User) {
	c := Customer{Country: s.custDef.Country, Currency: s.custDef.Currency, Timezone: s.custDef.Timezone}
	customers.create(s, w, r, me, PermCreateCustomer, customerFields, &c, func(f *form, c *Customer) {
		textDefault := func(field string, dst *string, re *regexp.Regexp, invalid string) {
			if !f.has(field) {
				return
			}
			v, null, ok := f.text(field)
			switch {
			case !ok:
			case null:
				f.addError(field, msgNotBlank)
			case re != nil && !re.MatchString(v):
				f.addError(field, invalid)
			default:
				*dst = v
			}
		}
		textDefault("country", &c.Country, reCountry, "This value is not a valid country.")
		textDefault("currency", &c.Currency, reCurr, "This value is not a valid currency.")
		textDefault("timezone", &c.Timezone, nil, "")
		if f.has("timezone") && f.fieldOK("timezone") {
			if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "Local" {
				f.addError("timezone", "This value is not a valid timezone.")
			}
		}
	}, func(c *Customer) any { return toCustomerJSON(c) })
}

// checkNumber applies the number constraints: length, special characters,
// uniqueness (allow_duplicate_number is off by default).
func (s *Server) checkNumber(f *form, number string, maxLen int, used bool) {
	if number == "" {
		return
	}
	if charLen(number) > maxLen {
		f.addError("number", msgTooLong(maxLen))
	}
	if strings.ContainsAny(number, `<>"=`) {
		f.addError("number", msgSpecialChars)
	}
	if used {
		f.addError("number", msgNumberUsed(number))
	}
}

// ---------------------------------------------------------------------
// Projects

func (s *Server) handleProjects(w http.ResponseWriter, r *http.Request, me *User) {
	q := r.URL.Query()
	valid := strictParam(q, "customer", reDigits) && strictParam(q, "ignoreDates", reBool01) &&
		strictParam(q, "globalActivities", reBool01)
	customerIDs, ok := idSet(q, "customers", "customer")
	ignoreDates := q.Get("ignoreDates") == "1"
	now := s.nowUTC()
	projects.list(s, w, q, valid && ok, func(p *Project) bool {
		switch {
		case len(customerIDs) > 0 && !customerIDs[p.CustomerID]:
		case !ignoreDates && (!p.Start.IsZero() && p.Start.After(now) || !p.End.IsZero() && p.End.Before(now)):
			// The default list only shows projects whose date range
			// covers "now" — the reason to always send ignoreDates=1.
		case q.Get("globalActivities") != "" && (q.Get("globalActivities") == "1") == p.NoGlobalActivities:
		default:
			return true
		}
		return false
	}, s.projectVisible, func(p *Project) any { return s.toProjectJSON(p) })
}

func (s *Server) handleProject(w http.ResponseWriter, r *http.Request, me *User) {
	showEntity(s, w, r, s.projects, func(p *Project) any { return s.toProjectJSON(p) })
}

var projectFields = []string{"name", "comment", "orderNumber", "orderDate", "start", "end", "customer",
	"color", "globalActivities", "visible", "billable", "number", "invoiceText", "budget", "timeBudget", "budgetType"}

func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request, me *User) {
	projects.create(s, w, r, me, PermCreateProject, projectFields, &Project{}, func(f *form, p *Project) {
		if cid, ok := f.id("customer"); ok {
			switch c := s.customers[cid]; {
			case cid == 0:
				f.addError("customer", "This value should not be null.")
			case c == nil || c.Hidden:
				f.addError("customer", msgInvalidChoice)
			default:
				p.CustomerID = cid
			}
		}
		if v, _, ok := f.text("orderNumber"); ok {
			if charLen(v) > 50 {
				f.addError("orderNumber", msgTooLong(50))
			}
			p.OrderNumber = v
		}
		dateField := func(field string, endOfDay bool) time.Time {
			v, null, ok := f.text(field)
			if !ok || null {
				return time.Time{}
			}
			t, err := time.Parse(time.DateOnly, v)
			if !reDate.MatchString(v) || err != nil {
				f.addError(field, "Please enter a valid date.")
				return time.Time{}
			}
			if endOfDay {
				t = t.Add(24*time.Hour - time.Second)
			}
			return t
		}
		p.Start = dateField("start", false)
		p.End = dateField("end", true)
		if !p.Start.IsZero() && !p.End.IsZero() && p.End.Before(p.Start) {
			f.addError("end", "End date must not be earlier then start date.")
		}
		f.readNegated("globalActivities", &p.NoGlobalActivities)
	}, func(p *Project) any { return s.toProjectJSON(p) })
}

// ---------------------------------------------------------------------
// Activities

func (s *Server) handleActivities(w http.ResponseWriter, r *http.Request, me *User) {
	q := r.URL.Query()
	valid := strictParam(q, "project", reDigits) && strictParam(q, "globals", reBoolWord)
	projectIDs, ok := idSet(q, "projects", "project")
	globalsOnly := q.Get("globals") == "1" || q.Get("globals") == "true"
	activities.list(s, w, q, valid && ok, func(a *Activity) bool {
		switch {
		case globalsOnly:
			return a.ProjectID == 0
		case len(projectIDs) > 0 && a.ProjectID != 0:
			// A project filter returns that project's activities plus
			// the global ones.
			return projectIDs[a.ProjectID]
		}
		return true
	}, s.activityVisible, func(a *Activity) any { return s.toActivityJSON(a) })
}

func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request, me *User) {
	showEntity(s, w, r, s.activities, func(a *Activity) any { return s.toActivityJSON(a) })
}

var activityFields = []string{"name", "comment", "project", "color", "visible", "billable", "number",
	"invoiceText", "budget", "timeBudget", "budgetType"}

func (s *Server) handleCreateActivity(w http.ResponseWriter, r *http.Request, me *User) {
	activities.create(s, w, r, me, PermCreateActivity, activityFields, &Activity{}, func(f *form, a *Activity) {
		if pid, ok := f.id("project"); ok && pid != 0 {
			if !s.projectVisible(s.projects[pid]) {
				f.addError("project", msgInvalidChoice)
			} else {
				a.ProjectID = pid
			}
		}
	}, func(a *Activity) any { return s.toActivityJSON(a) })
}

// ---------------------------------------------------------------------
// Tags

// handleFindTags implements GET /api/tags/find?name=: a case-insensitive
// substring (LIKE) match on the name, sorted by name; no name → [].
// Callers must compare names exactly themselves.
func (s *Server) handleFindTags(w http.ResponseWriter, r *http.Request, me *User) {
	q := r.URL.Query()
	out := []tagJSON{}
	if name, ok := q["name"]; ok && len(name) > 0 {
		s.mu.Lock()
		tags := sortedValues(s.tags, func(t Tag) int64 { return t.ID })
		sort.SliceStable(tags, func(i, j int) bool { return strings.ToLower(tags[i].Name) < strings.ToLower(tags[j].Name) })
		for i := range tags {
			if likeMatch(tags[i].Name, "%"+name[0]+"%") {
				out = append(out, toTagJSON(&tags[i]))
			}
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCreateTag implements POST /api/tags. Names are trimmed and must be
// 2–100 characters without , < > " =; uniqueness is case-insensitive, like
// MySQL's default collation on Kimai's unique index.
func (s *Server) handleCreateTag(w http.ResponseWriter, r *http.Request, me *User) {
	in, ok := readWrite(w, r, me.Can(PermCreateTag) || me.Can(PermManageTag))
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := newForm(in, "name", "color", "visible")
	raw, _, _ := f.text("name")
	t := Tag{Name: strings.TrimSpace(raw)}
	switch n := charLen(t.Name); {
	case n == 0:
		f.addError("name", msgNotBlank)
	case n < 2:
		f.addError("name", msgTooShort(2))
	case n > 100:
		f.addError("name", msgTooLong(100))
	}
	if strings.Contains(t.Name, ",") {
		f.addError("name", msgTagComma)
	}
	if strings.ContainsAny(t.Name, `<>"=`) {
		f.addError("name", msgSpecialChars)
	}
	if t.Name != "" && s.tagByName(t.Name) != nil {
		f.addError("name", msgAlreadyUsed)
	}
	if v, _, ok := f.text("color"); ok {
		t.Color = v
	}
	if f.has("visible") {
		v, _ := f.bool("visible")
		t.Hidden = !v
	}
	if !f.valid() {
		f.writeInvalid(w)
		return
	}
	t.ID = s.nextID("tag")
	s.tags[t.ID] = &t
	writeJSON(w, http.StatusOK, toTagJSON(&t))
}

// tagByName finds a tag case-insensitively (MySQL collation).
func (s *Server) tagByName(name string) *Tag {
	var best *Tag
	for _, t := range s.tags {
		if strings.EqualFold(t.Name, name) && (best == nil || t.ID < best.ID) {
			best = t
		}
	}
	return best
}

// ---------------------------------------------------------------------
// Search terms

// termMatch implements Kimai's SearchTerm over the given fields: the term is
// split on single spaces; every plain part must LIKE-match at least one
// field (%part%, case-insensitive, % and _ are wildcards); "!x" excludes
// records where any field matches; a "name:value" part searches meta fields,
// which the simulator does not have, so it matches nothing — except
// "name:~" (field missing) and name:"" which match everything. Empty fields
// are NULL and never match a LIKE.
func termMatch(term string, fields ...string) bool {
	if term == "" {
		return true
	}
	for _, raw := range strings.Split(term, " ") {
		part, field, excluded := parseTermPart(raw)
		if field != "" {
			if excluded || (part != "~" && part != "") {
				return false
			}
			continue
		}
		matched := false
		for _, f := range fields {
			if f != "" && likeMatch(f, "%"+part+"%") {
				matched = true
				break
			}
		}
		if excluded {
			if matched {
				return false
			}
			continue
		}
		if !matched {
			return false
		}
	}
	return true
}

// parseTermPart mirrors Kimai's SearchTermPart.
func parseTermPart(term string) (part, field string, excluded bool) {
	if strings.Contains(term, ":") {
		tmp := strings.Split(term, ":")
		if len(tmp) == 2 && tmp[1] != "" {
			field = tmp[0]
			term = tmp[1]
			if term == `""` {
				term = ""
			}
		}
	}
	if len(term) > 1 && term[0] == '!' {
		term = term[1:]
		excluded = true
	}
	return term, field, excluded
}

// showEntity answers GET /api/<entities>/{id}: the entity as JSON, or 404.
// The view is rendered under the lock because it may read related entities.
func showEntity[T any](s *Server, w http.ResponseWriter, r *http.Request, m map[int64]*T, view func(*T) any) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	e := m[id]
	var j any
	if e != nil {
		j = view(e)
	}
	s.mu.Unlock()
	if e == nil {
		writeError(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

package kimaisim

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// entity points at the fields that customers, projects and activities share
// and that Kimai's forms and number rules treat alike.
type entity struct {
	id                           *int64
	name, number, comment, color *string
	hidden, nonBillable          *bool
}

func (c *Customer) entity() entity {
	return entity{&c.ID, &c.Name, &c.Number, &c.Comment, &c.Color, &c.Hidden, &c.NonBillable}
}

func (p *Project) entity() entity {
	return entity{&p.ID, &p.Name, &p.Number, &p.Comment, &p.Color, &p.Hidden, &p.NonBillable}
}

func (a *Activity) entity() entity {
	return entity{&a.ID, &a.Name, &a.Number, &a.Comment, &a.Color, &a.Hidden, &a.NonBillable}
}

// catalog is one of the three catalog collections: the id counter's name,
// the number's length limit and how to reach the map and an item's fields.
type catalog[T any] struct {
	kind      string // the id counter and number sequence: "customer", …
	numberMax int    // Length(max) on the number field
	items     func(*Server) map[int64]*T
	fields    func(*T) entity
	// extraTerms lists fields beyond name, number and comment that a
	// search term matches.
	extraTerms func(*T) []string
}

var (
	customers = catalog[Customer]{kind: "customer", numberMax: 50,
		items: func(s *Server) map[int64]*Customer { return s.customers }, fields: (*Customer).entity}
	projects = catalog[Project]{kind: "project", numberMax: 10,
		items: func(s *Server) map[int64]*Project { return s.projects }, fields: (*Project).entity,
		extraTerms: func(p *Project) []string { return []string{p.OrderNumber} }}
	activities = catalog[Activity]{kind: "activity", numberMax: 10,
		items: func(s *Server) map[int64]*Activity { return s.activities }, fields: (*Activity).entity}
)

// numberUsed reports whether another item already has number n
// (allow_duplicate_number is off by default; MySQL compares without case).
func (c catalog[T]) numberUsed(s *Server, n string) bool {
	for _, e := range c.items(s) {
		if strings.EqualFold(*c.fields(e).number, n) {
			return true
		}
	}
	return false
}

// genNumber generates the next free number in Kimai's default format
// ({cc,4}: the item count plus one, zero-padded to four digits).
func (c catalog[T]) genNumber(s *Server) string {
	for n := len(c.items(s)) + 1; ; n++ {
		if num := fmt.Sprintf("%04d", n); !c.numberUsed(s, num) {
			return num
		}
	}
}

// put stores e, giving it the next id when it has none and a generated
// number when it has none. The caller holds s.mu.
func (c catalog[T]) put(s *Server, e *T) {
	f := c.fields(e)
	s.assignID(c.kind, f.id)
	if *f.number == "" {
		*f.number = c.genNumber(s)
	}
	c.items(s)[*f.id] = e
}

// create implements POST /api/<items> with Kimai 2.63+ semantics: the
// shared fields (name, number, comment, color, visible, billable) are read
// here, own reads the item's other fields into e; omitted fields keep e's
// defaults. A valid form stores e and answers it as view renders it.
func (c catalog[T]) create(s *Server, w http.ResponseWriter, r *http.Request, me *User, perm string,
	fields []string, e *T, own func(*form, *T), view func(*T) any) {
	in, ok := readWrite(w, r, me.Can(perm))
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := newForm(in, fields...)
	c.readShared(s, f, e)
	own(f, e)
	if !f.valid() {
		f.writeInvalid(w)
		return
	}
	c.put(s, e)
	writeJSON(w, http.StatusOK, view(e))
}

func (c catalog[T]) readShared(s *Server, f *form, e *T) {
	x := c.fields(e)
	name, _, _ := f.text("name")
	*x.name = strings.TrimSpace(name)
	f.checkName("name", name, 150)
	if f.has("number") {
		if n, _, ok := f.text("number"); ok {
			*x.number = strings.TrimSpace(n)
			s.checkNumber(f, *x.number, c.numberMax, c.numberUsed(s, *x.number))
		}
	}
	f.readText("comment", x.comment)
	f.readText("color", x.color)
	f.readNegated("visible", x.hidden)
	f.readNegated("billable", x.nonBillable)
}

// list answers GET /api/<items>: 400 unless valid (the kind's own parameter
// checks) and visible/order are well-formed; then the items that match the
// kind's filters, the visible filter (1 visible, 2 hidden, 3 both; what
// counts as visible is the kind's rule) and term, ordered by name (orderBy
// anything but id) or id, ascending unless order=DESC.
func (c catalog[T]) list(s *Server, w http.ResponseWriter, q url.Values, valid bool,
	match, visible func(*T) bool, view func(*T) any) {
	mode, ok := visibleFilter(q)
	if !valid || !ok || !strictParam(q, "order", reOrder) {
		writeError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	items := c.sorted(s, q.Get("orderBy") != "id", q.Get("order") == "DESC")
	out := []any{}
	for _, e := range items {
		if match(e) && visibleMatch(mode, visible(e)) && termMatch(q.Get("term"), c.searchable(e)...) {
			out = append(out, view(e))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// sorted returns the items by id, or by name (case-insensitive, then id).
func (c catalog[T]) sorted(s *Server, byName, desc bool) []*T {
	items := make([]*T, 0, len(c.items(s)))
	for _, e := range c.items(s) {
		items = append(items, e)
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := c.fields(items[i]), c.fields(items[j])
		if desc {
			a, b = b, a
		}
		if byName {
			if na, nb := strings.ToLower(*a.name), strings.ToLower(*b.name); na != nb {
				return na < nb
			}
		}
		return *a.id < *b.id
	})
	return items
}

// searchable is what a search term is matched against.
func (c catalog[T]) searchable(e *T) []string {
	x := c.fields(e)
	out := []string{*x.name, *x.number, *x.comment}
	if c.extraTerms != nil {
		out = append(out, c.extraTerms(e)...)
	}
	return out
}

// idSet reads an id filter that Kimai takes both as a list (name[]=1&name[]=2
// or name=1) and as a single value (single=1); ok=false is a 400.
func idSet(q url.Values, list, single string) (ids map[int64]bool, ok bool) {
	ids = map[int64]bool{}
	for _, v := range append(queryList(q, list), q[single]...) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, false
		}
		ids[n] = true
	}
	return ids, true
}

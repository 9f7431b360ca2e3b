package kimaisim

import (
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type sheetJSON struct {
	ID           int64    `json:"id"`
	Begin        string   `json:"begin"`
	End          *string  `json:"end"`
	Duration     int64    `json:"duration"`
	Break        int64    `json:"break"`
	Description  *string  `json:"description"`
	Activity     int64    `json:"activity"`
	Project      int64    `json:"project"`
	User         int64    `json:"user"`
	Tags         []string `json:"tags"`
	MetaFields   []any    `json:"metaFields"`
	Exported     bool     `json:"exported"`
	Billable     bool     `json:"billable"`
	Rate         float64  `json:"rate"`
	InternalRate float64  `json:"internalRate"`
}

// sheetEntityJSON is the single-entity shape: collection items lack the
// fixedRate and hourlyRate keys.
type sheetEntityJSON struct {
	sheetJSON
	FixedRate  *float64 `json:"fixedRate"`
	HourlyRate *float64 `json:"hourlyRate"`
}

// toSheetJSON renders begin/end in the record's timezone, as Kimai's
// Timesheet entity localises its dates to its timezone column.
func toSheetJSON(sh *Sheet) sheetJSON {
	loc := loadLocation(sh.Timezone)
	j := sheetJSON{
		ID: sh.ID, Begin: sh.Begin.In(loc).Format(apiTimeLayout), Duration: sh.Duration,
		Description: nullable(sh.Description), Activity: sh.ActivityID, Project: sh.ProjectID,
		User: sh.UserID, Tags: append([]string{}, sh.Tags...), MetaFields: []any{},
		Exported: sh.Exported, Billable: sh.Billable, Rate: sh.rate(),
	}
	if !sh.End.IsZero() {
		e := sh.End.In(loc).Format(apiTimeLayout)
		j.End = &e
	}
	return j
}

func toSheetEntityJSON(sh *Sheet) sheetEntityJSON {
	return sheetEntityJSON{sheetJSON: toSheetJSON(sh), FixedRate: sh.FixedRate, HourlyRate: sh.HourlyRate}
}

var (
	reUserParam = regexp.MustCompile(`^(\d+|all)$`)
	reOrderBy   = regexp.MustCompile(`^(id|begin|end|rate)$`)
	reFull      = regexp.MustCompile(`^(0|1|true|false)$`)
)

// handleListTimesheets implements GET /api/timesheets with Kimai's filters
// and pagination (see the package documentation for the quirks).
func (s *Server) handleListTimesheets(w http.ResponseWriter, r *http.Request, me *User) {
	if !me.Can(PermViewOwnTimesheet) && !me.Can(PermViewOtherTimesheet) {
		writeError(w, http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	for name, re := range map[string]*regexp.Regexp{
		"user": reUserParam, "page": reDigits, "size": reDigits, "orderBy": reOrderBy, "order": reOrder,
		"exported": reBool01, "active": reBool01, "billable": reBool01, "full": reFull,
		"customer": reDigits, "project": reDigits, "activity": reDigits,
	} {
		if !strictParam(q, name, re) {
			writeError(w, http.StatusBadRequest)
			return
		}
	}
	loc := loadLocation(me.Timezone)
	var begin, end, modifiedAfter time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
		loc  *time.Location
	}{{"begin", &begin, loc}, {"end", &end, loc}, {"modified_after", &modifiedAfter, time.UTC}} {
		if v := q.Get(p.name); v != "" {
			t, ok := parseFilterDateTime(v, p.loc)
			if !ok {
				writeError(w, http.StatusBadRequest)
				return
			}
			*p.dst = t
		}
	}
	idSet := func(name string) (map[int64]bool, bool) {
		out := map[int64]bool{}
		for _, v := range queryList(q, name) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, false
			}
			out[n] = true
		}
		return out, true
	}
	customers, ok1 := idSet("customers")
	projects, ok2 := idSet("projects")
	activities, ok3 := idSet("activities")
	users, ok4 := idSet("users")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		writeError(w, http.StatusBadRequest)
		return
	}
	for name, set := range map[string]map[int64]bool{"customer": customers, "project": projects, "activity": activities} {
		if v := q.Get(name); v != "" {
			n, _ := strconv.ParseInt(v, 10, 64)
			set[n] = true
		}
	}

	size := DefaultPageSize
	if v := q.Get("size"); v != "" {
		size, _ = strconv.Atoi(v)
		if size < 1 {
			writeError(w, http.StatusBadRequest)
			return
		}
		size = min(size, MaxPageSize)
	}
	page := 1
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	// user: needs view_other_timesheet, silently ignored without it.
	userFilter := map[int64]bool{me.ID: true}
	if me.Can(PermViewOtherTimesheet) {
		switch u := q.Get("user"); {
		case u == "all":
			userFilter = nil
		case u != "":
			n, _ := strconv.ParseInt(u, 10, 64)
			userFilter = map[int64]bool{n: true}
		case len(users) > 0:
			userFilter = users
		}
	}

	var tagFilter []string
	if names := queryList(q, "tags"); len(names) > 0 {
		for _, n := range names {
			if t := s.tagByName(n); t != nil && !t.Hidden {
				tagFilter = append(tagFilter, t.Name)
			}
		}
		if len(tagFilter) == 0 {
			// TimesheetController: "Given tags were not found".
			writeError(w, http.StatusBadRequest)
			return
		}
	}

	var rows []*Sheet
	for _, sh := range s.sheets {
		switch {
		case userFilter != nil && !userFilter[sh.UserID]:
		case len(projects) > 0 && !projects[sh.ProjectID]:
		case len(activities) > 0 && !activities[sh.ActivityID]:
		case len(customers) > 0 && (s.projects[sh.ProjectID] == nil || !customers[s.projects[sh.ProjectID].CustomerID]):
		case !begin.IsZero() && sh.Begin.Before(begin):
		case !end.IsZero() && sh.Begin.After(end): // end compares the BEGIN time
		case !modifiedAfter.IsZero() && sh.ModifiedAt.Before(modifiedAfter):
		case q.Get("exported") != "" && sh.Exported != (q.Get("exported") == "1"):
		case q.Get("billable") != "" && sh.Billable != (q.Get("billable") == "1"):
		case q.Get("active") != "" && sh.Running() != (q.Get("active") == "1"):
		case len(tagFilter) > 0 && !hasAnyTag(sh.Tags, tagFilter):
		case !termMatch(q.Get("term"), sh.Description):
		default:
			rows = append(rows, sh)
		}
	}
	sortSheets(rows, q.Get("orderBy"), q.Get("order"))

	total := len(rows)
	pages := max(1, (total+size-1)/size)
	if page < 1 || page > pages {
		writeError(w, http.StatusNotFound)
		return
	}
	lo := (page - 1) * size
	hi := min(lo+size, total)
	out := make([]sheetJSON, 0, hi-lo)
	for _, sh := range rows[lo:hi] {
		out = append(out, toSheetJSON(sh))
	}
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(size))
	h.Set("X-Total-Count", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	writeJSON(w, http.StatusOK, out)
}

func hasAnyTag(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}

// sortSheets orders by begin (default), id, end or rate, DESC by default,
// with the id as tie-breaker; running timesheets (end NULL) sort first in
// ascending end order, as in MySQL.
func sortSheets(rows []*Sheet, orderBy, order string) {
	desc := order != "ASC"
	key := func(sh *Sheet) float64 {
		switch orderBy {
		case "id":
			return float64(sh.ID)
		case "end":
			if sh.End.IsZero() {
				return -1 << 62
			}
			return float64(sh.End.Unix())
		case "rate":
			return sh.rate()
		}
		return float64(sh.Begin.Unix())
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if desc {
			a, b = b, a
		}
		if ka, kb := key(a), key(b); ka != kb {
			return ka < kb
		}
		return a.ID < b.ID
	})
}

func (s *Server) handleGetTimesheet(w http.ResponseWriter, r *http.Request, me *User) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.sheets[id]
	switch {
	case sh == nil:
		writeError(w, http.StatusNotFound)
	case !canSheet(me, sh, PermViewOwnTimesheet, PermViewOtherTimesheet):
		writeError(w, http.StatusForbidden)
	default:
		writeJSON(w, http.StatusOK, toSheetEntityJSON(sh))
	}
}

func canSheet(me *User, sh *Sheet, own, other string) bool {
	if sh.UserID == me.ID {
		return me.Can(own)
	}
	return me.Can(other)
}

// timesheetFields returns the API form's fields for me editing a timesheet
// owned by owner: the permission-dependent ones are only added when granted,
// so sending them without the permission trips the extra-fields check.
func timesheetFields(me *User, owner int64, create bool) []string {
	own := owner == me.ID
	pick := func(ownPerm, otherPerm string) bool {
		if own {
			return me.Can(ownPerm)
		}
		return me.Can(otherPerm)
	}
	fields := []string{"begin", "end", "project", "activity", "description", "tags"}
	if pick(PermEditRateOwn, PermEditRateOther) {
		fields = append(fields, "fixedRate", "hourlyRate")
	}
	if (create && me.Can(PermCreateOtherTimesheet)) || (!create && me.Can(PermEditOtherTimesheet)) {
		fields = append(fields, "user")
	}
	if pick(PermEditExportOwn, PermEditExportOther) {
		fields = append(fields, "exported")
	}
	if pick(PermEditBillableOwn, PermEditBillableOther) {
		fields = append(fields, "billable")
	}
	return fields
}

// handleCreateTimesheet implements POST /api/timesheets (200 on success).
func (s *Server) handleCreateTimesheet(w http.ResponseWriter, r *http.Request, me *User) {
	in, ok := readWrite(w, r, me.Can(PermCreateOwnTimesheet) || me.Can(PermCreateOtherTimesheet))
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowUTC()
	// The tracking mode pre-fills begin with "now" in the API user's zone.
	sh := Sheet{UserID: me.ID, Timezone: me.Timezone, Begin: now}
	f := newForm(in, timesheetFields(me, me.ID, true)...)
	s.applyTimesheetForm(f, &sh, me, nil)
	if !f.valid() {
		f.writeInvalid(w)
		return
	}
	if !f.has("billable") {
		sh.Billable = s.computeBillable(&sh)
	}
	sh.ID = s.nextID("timesheet")
	roundSheet(&sh)
	sh.ModifiedAt = now.Truncate(time.Second)
	s.sheets[sh.ID] = &sh
	if sh.Running() {
		s.stopActiveEntries(&sh, now)
	}
	writeJSON(w, http.StatusOK, toSheetEntityJSON(&sh))
}

// handlePatchTimesheet implements PATCH /api/timesheets/{id}: omitted
// fields keep their values.
func (s *Server) handlePatchTimesheet(w http.ResponseWriter, r *http.Request, me *User) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	in, ok := decodeBody(r)
	if !ok {
		writeError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.modifiable(w, me, id, PermEditOwnTimesheet, PermEditOtherTimesheet)
	if !ok {
		return
	}
	sh := cloneSheet(*cur)
	f := newForm(in, timesheetFields(me, cur.UserID, false)...)
	s.applyTimesheetForm(f, &sh, me, cur)
	if !f.valid() {
		f.writeInvalid(w)
		return
	}
	roundSheet(&sh)
	// Doctrine only writes (and the subscriber only bumps modifiedAt) when
	// something changed.
	if !sameSheet(&sh, cur) {
		sh.ModifiedAt = s.nowUTC().Truncate(time.Second)
	}
	s.sheets[id] = &sh
	writeJSON(w, http.StatusOK, toSheetEntityJSON(&sh))
}

// handleDeleteTimesheet implements DELETE /api/timesheets/{id} (204).
func (s *Server) handleDeleteTimesheet(w http.ResponseWriter, r *http.Request, me *User) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.modifiable(w, me, id, PermDeleteOwnTimesheet, PermDeleteOtherTimesheet); !ok {
		return
	}
	delete(s.sheets, id)
	w.WriteHeader(http.StatusNoContent)
}

// handleExportTimesheet implements PATCH /api/timesheets/{id}/export,
// Kimai's TimesheetController::exportAction (src/API/TimesheetController.php):
// the record is found first (404), then #[IsGranted('edit_export')] asks
// TimesheetVoter for edit_export_own_timesheet (own record) or
// edit_export_other_timesheet (403), then a record that is already
// exported may only be un-exported with edit_exported_timesheet (403).
// The flag is toggled — the body is ignored — and saved without
// validation or a lockdown check (TimesheetService::updateTimesheet), so
// modifiedAt moves (ModifiedSubscriber) and modified_after sees it.
func (s *Server) handleExportTimesheet(w http.ResponseWriter, r *http.Request, me *User) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.sheets[id]
	switch {
	case cur == nil:
		writeError(w, http.StatusNotFound)
		return
	case !canSheet(me, cur, PermEditExportOwn, PermEditExportOther):
		writeError(w, http.StatusForbidden)
		return
	case cur.Exported && !me.Can(PermEditExportedTimesheet):
		writeError(w, http.StatusForbidden)
		return
	}
	sh := cloneSheet(*cur)
	sh.Exported = !sh.Exported
	sh.ModifiedAt = s.nowUTC().Truncate(time.Second)
	s.sheets[id] = &sh
	writeJSON(w, http.StatusOK, toSheetEntityJSON(&sh))
}

// modifiable finds the timesheet an edit or delete is about and checks the
// user may change it (canModify); ok=false means the 404 or 403 has been
// written. The caller holds s.mu.
func (s *Server) modifiable(w http.ResponseWriter, me *User, id int64, own, other string) (cur *Sheet, ok bool) {
	cur = s.sheets[id]
	switch {
	case cur == nil:
		writeError(w, http.StatusNotFound)
	case !s.canModify(me, cur, own, other):
		writeError(w, http.StatusForbidden)
	default:
		return cur, true
	}
	return nil, false
}

// canModify is TimesheetVoter's edit/delete check: exported records need
// edit_exported_timesheet; then the own/other permission.
func (s *Server) canModify(me *User, sh *Sheet, own, other string) bool {
	if sh.Exported && !me.Can(PermEditExportedTimesheet) {
		return false
	}
	return canSheet(me, sh, own, other)
}

func sameSheet(a, b *Sheet) bool {
	eqf := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.UserID == b.UserID && a.ProjectID == b.ProjectID && a.ActivityID == b.ActivityID &&
		a.Begin.Equal(b.Begin) && a.End.Equal(b.End) && a.Description == b.Description &&
		slices.Equal(a.Tags, b.Tags) && a.Exported == b.Exported && a.Billable == b.Billable &&
		eqf(a.FixedRate, b.FixedRate) && eqf(a.HourlyRate, b.HourlyRate) && a.Timezone == b.Timezone
}

// computeBillable is Kimai's "auto" billable mode: billable when customer,
// project and activity are all billable.
func (s *Server) computeBillable(sh *Sheet) bool {
	p := s.projects[sh.ProjectID]
	a := s.activities[sh.ActivityID]
	if p == nil || p.NonBillable || (a != nil && a.NonBillable) {
		return false
	}
	c := s.customers[p.CustomerID]
	return c == nil || !c.NonBillable
}

// stopActiveEntries stops the owner's other running timesheets beyond the
// hard limit, as TimesheetService::stopActiveEntries does on create.
func (s *Server) stopActiveEntries(started *Sheet, now time.Time) {
	var running []*Sheet
	for _, sh := range s.sheets {
		if sh.ID != started.ID && sh.UserID == started.UserID && sh.Running() {
			running = append(running, sh)
		}
	}
	limit := max(1, s.tsConfig.ActiveEntriesHardLimit)
	if len(running) < limit {
		return
	}
	sort.Slice(running, func(i, j int) bool { return running[i].Begin.After(running[j].Begin) })
	for _, sh := range running[limit-1:] {
		sh.End = now
		if sh.End.Before(sh.Begin) {
			sh.End = sh.Begin
		}
		roundSheet(sh)
		sh.ModifiedAt = now.Truncate(time.Second)
	}
}

// applyTimesheetForm submits f onto sh (cur is the stored record for PATCH,
// nil for POST) and runs Kimai's timesheet validators.
func (s *Server) applyTimesheetForm(f *form, sh *Sheet, me *User, cur *Sheet) {
	loc := loadLocation(me.Timezone)
	dateField := func(name string, dst *time.Time) {
		if !f.has(name) {
			return
		}
		v, null, ok := f.text(name)
		switch {
		case !ok:
		case null:
			*dst = time.Time{}
		default:
			if t, ok := parseFormDateTime(v, loc); ok {
				*dst = t
			} else {
				f.addError(name, msgInvalidDateTime)
			}
		}
	}
	dateField("begin", &sh.Begin)
	if cur == nil && !f.has("end") {
		sh.End = time.Time{} // omitted end on create = running timer
	}
	dateField("end", &sh.End)

	var keepProject, keepActivity int64 // a record may keep a choice that is no longer selectable
	if cur != nil {
		keepProject, keepActivity = cur.ProjectID, cur.ActivityID
	}
	readChoice(f, "project", &sh.ProjectID, s.projects, s.projectVisible, keepProject)
	readChoice(f, "activity", &sh.ActivityID, s.activities, s.activityVisible, keepActivity)
	if f.has("description") {
		if v, _, ok := f.text("description"); ok {
			sh.Description = v
		}
	}
	if f.has("tags") {
		// A comma-separated string; names that are not existing tags are
		// dropped silently (Kimai ≥ 2.11).
		if v, _, ok := f.text("tags"); ok {
			sh.Tags = nil
			for _, name := range strings.Split(v, ",") {
				if t := s.tagByName(strings.TrimSpace(name)); t != nil && !slices.Contains(sh.Tags, t.Name) {
					sh.Tags = append(sh.Tags, t.Name)
				}
			}
		}
	}
	if f.has("user") && slices.Contains(f.fields, "user") {
		if uid, ok := f.id("user"); ok {
			u := s.users[uid]
			switch {
			case uid == 0:
				f.addError("user", "This value should not be null.")
			case u == nil || !u.Enabled:
				f.addError("user", msgInvalidChoice)
			default:
				// TimesheetService::fixTimezone relabels the record with the
				// owner's zone; the instant stays as parsed in the API
				// user's zone.
				sh.UserID, sh.Timezone = uid, u.Timezone
			}
		}
	}
	boolField := func(name string, dst *bool) {
		if f.has(name) && slices.Contains(f.fields, name) {
			if v, ok := f.bool(name); ok {
				*dst = v
			}
		}
	}
	boolField("exported", &sh.Exported)
	boolField("billable", &sh.Billable)
	for name, dst := range map[string]**float64{"fixedRate": &sh.FixedRate, "hourlyRate": &sh.HourlyRate} {
		if f.has(name) && slices.Contains(f.fields, name) {
			if v, ok := f.number(name); ok {
				*dst = v
			}
		}
	}
	s.validateTimesheet(f, sh, cur == nil)
}

// validateTimesheet runs the class-level constraints (TimesheetBasic,
// MaxDuration). Violations on paths that are not form fields (begin_date,
// end_date, duration, customer) end up in the global error list.
func (s *Server) validateTimesheet(f *form, sh *Sheet, isNew bool) {
	switch {
	case sh.Begin.IsZero():
		if f.fieldOK("begin") {
			f.addError("", msgMissingBegin)
		}
	case !sh.End.IsZero() && sh.End.Before(sh.Begin):
		f.addError("", msgEndBeforeBegin)
	case !sh.End.IsZero() && sh.End.Sub(sh.Begin) > MaxDuration:
		f.addError("", msgMaxDuration)
	}
	if sh.ActivityID == 0 && f.fieldOK("activity") {
		f.addError("activity", msgMissingActivity)
	}
	if sh.ProjectID == 0 {
		if f.fieldOK("project") {
			f.addError("project", msgMissingProject)
		}
		return
	}
	p := s.projects[sh.ProjectID]
	a := s.activities[sh.ActivityID]
	if p == nil {
		return
	}
	if a != nil {
		if a.ProjectID != 0 && a.ProjectID != p.ID {
			f.addError("project", msgProjectMismatch)
		}
		if a.ProjectID == 0 && p.NoGlobalActivities {
			f.addError("activity", msgNoGlobals)
		}
	}
	if isNew || sh.Running() {
		if a != nil && a.Hidden {
			f.addError("activity", msgDisabledAct)
		}
		if p.Hidden {
			f.addError("project", msgDisabledProj)
		}
		if c := s.customers[p.CustomerID]; c != nil && c.Hidden {
			f.addError("", msgDisabledCust)
		}
	}
	if !sh.Begin.IsZero() {
		if !p.Start.IsZero() && sh.Begin.Before(p.Start) {
			f.addError("", msgProjNotStarted)
		} else if !p.End.IsZero() && sh.Begin.After(p.End) {
			f.addError("", msgProjEnded)
		}
	}
	if !sh.End.IsZero() {
		if !p.End.IsZero() && sh.End.After(p.End) {
			f.addError("", msgProjEnded)
		} else if !p.Start.IsZero() && sh.End.Before(p.Start) {
			f.addError("", msgProjNotStarted)
		}
	}
}

package kimai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
)

// PageSize is the page size used for listing timesheets: Kimai's maximum.
const PageSize = 500

// Datetime layouts. Kimai sends an offset without colon (PHP "O"); RFC 3339
// with a colon is accepted too, for proxies or future versions that
// normalise it. Input is local wall-clock time without offset.
const (
	layoutOut = "2006-01-02T15:04:05-0700"
	layoutIn  = "2006-01-02T15:04:05"
)

// sheetJSON is a timesheet as Kimai sends it. project, activity and user
// are ids, or objects when expanded (full=true), which is tolerated.
type sheetJSON struct {
	ID          int64           `json:"id"`
	Begin       string          `json:"begin"`
	End         *string         `json:"end"`
	Duration    int64           `json:"duration"`
	Description *string         `json:"description"`
	Activity    json.RawMessage `json:"activity"`
	Project     json.RawMessage `json:"project"`
	User        json.RawMessage `json:"user"`
	Tags        []string        `json:"tags"`
	Exported    bool            `json:"exported"`
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(layoutOut, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// refID reads an id that is a number, a numeric string, null, or an object
// with an "id".
func refID(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	switch raw[0] {
	case '{':
		var o struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return 0, err
		}
		return refID(o.ID)
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return strconv.ParseInt(s, 10, 64)
	}
	var n int64
	err := json.Unmarshal(raw, &n)
	return n, err
}

func (j sheetJSON) domain() (timebridge.Timesheet, error) {
	t := timebridge.Timesheet{ID: j.ID, Duration: j.Duration, Exported: j.Exported}
	if len(j.Tags) > 0 {
		// nil for "no tags", so that values compare equal however Kimai
		// spelled the empty list.
		t.Tags = j.Tags
	}
	if j.ID == 0 {
		return t, fmt.Errorf("%w: timesheet without id", errUnexpected)
	}
	var err error
	if t.Begin, err = parseTime(j.Begin); err != nil {
		return t, fmt.Errorf("timesheet %d: begin: %w", j.ID, err)
	}
	if j.End != nil && *j.End != "" {
		if t.End, err = parseTime(*j.End); err != nil {
			return t, fmt.Errorf("timesheet %d: end: %w", j.ID, err)
		}
	}
	if j.Description != nil {
		t.Description = *j.Description
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst *int64
		key string
	}{{j.Project, &t.ProjectID, "project"}, {j.Activity, &t.ActivityID, "activity"}, {j.User, &t.UserID, "user"}} {
		if *f.dst, err = refID(f.raw); err != nil {
			return t, fmt.Errorf("timesheet %d: %s: %w", j.ID, f.key, err)
		}
	}
	return t, nil
}

func (c *Client) decodeSheet(op string, resp *upstream.Response) (timebridge.Timesheet, error) {
	var j sheetJSON
	if err := upstream.DecodeJSON(resp.Body, &j); err != nil {
		return timebridge.Timesheet{}, notAPI(op, resp.Status, err)
	}
	t, err := j.domain()
	if err != nil {
		return timebridge.Timesheet{}, malformed(op, err)
	}
	return t, nil
}

// Timesheet returns one timesheet. Begin and End carry the offset Kimai
// sent (the record's timezone); End is zero while it is running.
func (c *Client) Timesheet(ctx context.Context, id int64) (timebridge.Timesheet, error) {
	op := fmt.Sprintf("kimai: get timesheet %d", id)
	resp, err := c.call(ctx, get(op, "/api/timesheets/"+strconv.FormatInt(id, 10), nil), nil)
	if err != nil {
		return timebridge.Timesheet{}, refine(err, apperr.Permission,
			fmt.Sprintf("The connector's Kimai user may not see timesheet %d, which belongs to another user (permission view_other_timesheet, by default team leads and administrators).", id))
	}
	return c.decodeSheet(op, resp)
}

// TimesheetFilter selects timesheets for ListTimesheets.
type TimesheetFilter struct {
	// Term searches descriptions: Kimai splits it on spaces and matches
	// each part as a case-insensitive substring (% and _ are wildcards; a
	// part containing one colon is a meta-field search). Check matches
	// exactly on the client side.
	Term string
	// Tags keeps timesheets with any of these tags; a name Kimai does not
	// know makes the whole request fail as a validation error.
	Tags []string
	// Begin and End bound the timesheets' begin time (End compares the
	// begin, not the end). They are sent as wall-clock time in their own
	// Location, which must be the Kimai API user's zone (see User.Zone).
	// Zero means unbounded.
	Begin, End time.Time
	// ModifiedAfter keeps timesheets modified at or after this instant
	// (sent in UTC, whole seconds).
	ModifiedAfter time.Time
	// User is "" (the token's user), "all" (everyone the token may see) or
	// a numeric user id. Kimai silently ignores it without
	// view_other_timesheet.
	User string
	// Exported filters on the exported flag when non-nil.
	Exported *bool
}

// UserAll is TimesheetFilter.User for every user's timesheets.
const UserAll = "all"

func (f TimesheetFilter) query() url.Values {
	q := url.Values{}
	if f.Term != "" {
		q.Set("term", f.Term)
	}
	for _, t := range f.Tags {
		q.Add("tags[]", t)
	}
	if !f.Begin.IsZero() {
		q.Set("begin", f.Begin.Format(layoutIn))
	}
	if !f.End.IsZero() {
		q.Set("end", f.End.Format(layoutIn))
	}
	if !f.ModifiedAfter.IsZero() {
		// Kimai compares whole seconds; truncating keeps the bound
		// inclusive.
		q.Set("modified_after", f.ModifiedAfter.UTC().Truncate(time.Second).Format(layoutIn))
	}
	if f.User != "" {
		q.Set("user", f.User)
	}
	if f.Exported != nil {
		q.Set("exported", boolParam(*f.Exported))
	}
	return q
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// maxPages bounds one listing (5 million timesheets at PageSize): a second
// line of defence against a server that pages for ever.
const maxPages = 10_000

// ListTimesheets calls fn with each page of matching timesheets, in
// ascending id order, until all pages are read or fn returns an error
// (which is returned). Pages hold up to 500 timesheets; ids already seen
// on an earlier page are left out (Kimai can repeat rows across pages,
// kimai/kimai#4881). A 404 for a page after the first means the result
// shrank while paging and ends the listing.
//
// Kimai has no keyset paging, so a timesheet deleted during the listing
// can shift a not-yet-read one onto an already-read page; callers that
// must see every record (e.g. a full reconciliation) should treat one
// listing as a best-effort snapshot.
//
// Once the first page has said how many there are (X-Total-Pages), up to
// pageAhead later pages are read ahead concurrently: a listing of 100,000
// timesheets is 200 pages, and one after the other they cost 200 round
// trips. fn is still called once per page, in page order.
func (c *Client) ListTimesheets(ctx context.Context, f TimesheetFilter, fn func([]timebridge.Timesheet) error) error {
	q := f.query()
	q.Set("size", strconv.Itoa(PageSize))
	q.Set("orderBy", "id")
	q.Set("order", "ASC")
	l := &listing{c: c, fn: fn, seen: map[int64]bool{}}
	first, err := c.timesheetPage(ctx, q, 1)
	if err != nil {
		return err
	}
	done, err := l.take(ctx, 1, first)
	if done || err != nil {
		return err
	}
	next := 2
	if first.totalPages > 2 {
		if next, done, err = l.readAhead(ctx, q, first.totalPages); done || err != nil {
			return err
		}
	}
	for page := next; ; page++ {
		res, err := c.timesheetPage(ctx, q, page)
		if err != nil {
			return err
		}
		if done, err := l.take(ctx, page, res); done || err != nil {
			return err
		}
	}
}

// pageAhead is how many pages of a listing are read ahead at once.
const pageAhead = 4

// timesheetPage is one page of a timesheet listing.
type timesheetPage struct {
	gone       bool // 404 after the first page: the result shrank
	items      []sheetJSON
	totalPages int // X-Total-Pages; -1 without the header
}

func (c *Client) timesheetPage(ctx context.Context, query url.Values, page int) (timesheetPage, error) {
	op := fmt.Sprintf("kimai: list timesheets (page %d)", page)
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("page", strconv.Itoa(page))
	req := get(op, "/api/timesheets", q)
	if page > 1 {
		req.OK = []int{http.StatusNotFound}
	}
	resp, err := c.call(ctx, req, nil)
	if err != nil {
		return timesheetPage{}, err
	}
	if resp.Status == http.StatusNotFound {
		return timesheetPage{gone: true}, nil
	}
	var res timesheetPage
	if err := upstream.DecodeJSON(resp.Body, &res.items); err != nil {
		return res, notAPI(op, resp.Status, err)
	}
	res.totalPages = -1
	if n, err := strconv.Atoi(resp.Header.Get("X-Total-Pages")); err == nil {
		res.totalPages = n
	}
	return res, nil
}

// listing is the state of one ListTimesheets.
type listing struct {
	c    *Client
	fn   func([]timebridge.Timesheet) error
	seen map[int64]bool
}

// take hands one page to fn, leaving out timesheets already seen, and
// reports whether it was the last.
func (l *listing) take(ctx context.Context, page int, res timesheetPage) (bool, error) {
	op := fmt.Sprintf("kimai: list timesheets (page %d)", page)
	if res.gone {
		return true, nil
	}
	batch := make([]timebridge.Timesheet, 0, len(res.items))
	dups := 0
	for _, it := range res.items {
		t, err := it.domain()
		if err != nil {
			return true, malformed(op, err)
		}
		if l.seen[t.ID] {
			dups++
			continue
		}
		l.seen[t.ID] = true
		batch = append(batch, t)
	}
	if len(res.items) == PageSize && len(batch) == 0 {
		// A full page of rows already seen: the server (or a cache in
		// front of it) ignores the page parameter, and going on would
		// loop for ever.
		return true, &apperr.Error{Kind: apperr.Upstream, Op: op,
			Message: fmt.Sprintf("Kimai returned page %d with only timesheets it had already sent; a proxy or cache in front of Kimai may ignore the page parameter.", page)}
	}
	if page >= maxPages {
		return true, &apperr.Error{Kind: apperr.Upstream, Op: op,
			Message: fmt.Sprintf("Kimai kept sending pages of timesheets past page %d; a proxy or cache in front of Kimai may ignore the page parameter.", maxPages)}
	}
	if dups > 0 {
		l.c.log.LogAttrs(ctx, slog.LevelWarn, "kimai: duplicate timesheets across pages skipped",
			slog.Int("page", page), slog.Int("duplicates", dups))
	}
	if len(batch) > 0 {
		if err := l.fn(batch); err != nil {
			return true, err
		}
	}
	switch {
	case res.totalPages >= 0 && page >= res.totalPages:
		return true, nil
	case res.totalPages < 0 && len(res.items) < PageSize:
		// Without the header (a proxy stripped it), a short page is
		// the last one.
		return true, nil
	case len(res.items) == 0:
		return true, nil
	}
	return false, nil
}

// readAhead reads pages 2 to total with up to pageAhead requests ahead of
// the page handed to fn, and returns the page to go on with (the listing
// grew meanwhile) unless it is done.
func (l *listing) readAhead(ctx context.Context, q url.Values, total int) (next int, done bool, err error) {
	total = min(total, maxPages)
	type result struct {
		res timesheetPage
		err error
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	results := make([]chan result, total+1)
	for p := 2; p <= total; p++ {
		results[p] = make(chan result, 1)
	}
	slots := make(chan struct{}, pageAhead)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for p := 2; p <= total; p++ {
			select {
			case slots <- struct{}{}:
			case <-rctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := l.c.timesheetPage(rctx, q, p)
				results[p] <- result{res, err}
			}()
		}
	}()
	for p := 2; p <= total; p++ {
		var r result
		select {
		case r = <-results[p]:
		case <-ctx.Done():
			return 0, true, context.Cause(ctx)
		}
		<-slots
		if r.err != nil {
			return 0, true, r.err
		}
		if done, err := l.take(ctx, p, r.res); done || err != nil {
			return 0, true, err
		}
	}
	return total + 1, false, nil
}

// TimesheetInput is the desired state of a timesheet.
//
// Begin and End are sent as wall-clock time in their own Location
// ("2006-01-02T15:04:05", no offset), because Kimai reads them in the API
// user's timezone: convert them with t.In(zone), zone from me.Zone(), first. Kimai
// rounds on every save (by default begin down, end up to the minute) —
// send whole minutes and keep what it returns. End is always sent:
// omitting it would start a running timer.
//
// UserID, Billable and Exported are sent only when non-nil: Kimai rejects
// the whole request ("This form should not contain extra fields.") when
// the API user lacks the permission to set them, even to their current
// value.
type TimesheetInput struct {
	Begin, End  time.Time
	ProjectID   int64
	ActivityID  int64
	Description string
	Tags        []string // must exist (see EnsureTags); unknown ones are dropped by Kimai
	UserID      *int64
	Billable    *bool
	Exported    *bool
}

type sheetBody struct {
	Begin       string `json:"begin"`
	End         string `json:"end"`
	Project     int64  `json:"project"`
	Activity    int64  `json:"activity"`
	Description string `json:"description"`
	Tags        string `json:"tags"`
	User        *int64 `json:"user,omitempty"`
	Billable    *bool  `json:"billable,omitempty"`
	Exported    *bool  `json:"exported,omitempty"`
}

func (in TimesheetInput) body(op string) (sheetBody, error) {
	if in.Begin.IsZero() || in.End.IsZero() {
		return sheetBody{}, apperr.New(apperr.Validation, op,
			"A Kimai timesheet needs a begin and an end; without an end Kimai would start a running timer.")
	}
	for _, t := range in.Tags {
		if strings.Contains(t, ",") {
			return sheetBody{}, apperr.New(apperr.Validation, op,
				fmt.Sprintf("The tag %q contains a comma, which Kimai does not allow in tag names.", t))
		}
	}
	return sheetBody{
		Begin:       in.Begin.Format(layoutIn),
		End:         in.End.Format(layoutIn),
		Project:     in.ProjectID,
		Activity:    in.ActivityID,
		Description: in.Description,
		Tags:        strings.Join(in.Tags, ","),
		User:        in.UserID,
		Billable:    in.Billable,
		Exported:    in.Exported,
	}, nil
}

// CreateTimesheet creates a timesheet and returns what Kimai stored (after
// rounding). It is not retried after an ambiguous failure (5xx, timeout,
// dropped connection): the timesheet may exist, so the error is returned
// for the caller to look for it (by a marker in the description) before
// creating again. It is retried when the request certainly did not reach
// Kimai (connection refused) and on 429.
func (c *Client) CreateTimesheet(ctx context.Context, in TimesheetInput) (timebridge.Timesheet, error) {
	op := "kimai: create timesheet"
	body, err := in.body(op)
	if err != nil {
		return timebridge.Timesheet{}, err
	}
	resp, err := c.call(ctx, upstream.Request{Op: op, Method: http.MethodPost, Path: "/api/timesheets", Body: body}, nil)
	if err != nil {
		return timebridge.Timesheet{}, refine(err, apperr.Permission,
			"The connector's Kimai user may not create this timesheet (permission create_own_timesheet, or create_other_timesheet to book for other users — team leads and administrators).")
	}
	return c.decodeSheet(op, resp)
}

// UpdateTimesheet replaces timesheet id's fields with in (PATCH; Kimai
// keeps fields that are not sent, which here are only the nil pointers —
// an empty Description or Tags clears them). It is idempotent and retried
// on transient failures.
func (c *Client) UpdateTimesheet(ctx context.Context, id int64, in TimesheetInput) (timebridge.Timesheet, error) {
	op := fmt.Sprintf("kimai: update timesheet %d", id)
	body, err := in.body(op)
	if err != nil {
		return timebridge.Timesheet{}, err
	}
	req := upstream.Request{Op: op, Method: http.MethodPatch, Path: "/api/timesheets/" + strconv.FormatInt(id, 10), Body: body, Idempotent: true}
	resp, err := c.call(ctx, req, nil)
	if err != nil {
		return timebridge.Timesheet{}, refine(err, apperr.Permission, lockedMessage("change", id))
	}
	return c.decodeSheet(op, resp)
}

// DeleteTimesheet deletes timesheet id. It is idempotent and retried on
// transient failures; a 404 on a retry means an earlier attempt deleted
// it and counts as success, while a 404 on the first attempt is returned
// as NotFound (someone else deleted it).
func (c *Client) DeleteTimesheet(ctx context.Context, id int64) error {
	op := fmt.Sprintf("kimai: delete timesheet %d", id)
	req := upstream.Request{Op: op, Method: http.MethodDelete, Path: "/api/timesheets/" + strconv.FormatInt(id, 10),
		Idempotent: true, OK: []int{http.StatusNotFound}}
	resp, err := c.call(ctx, req, nil)
	if err != nil {
		return refine(err, apperr.Permission, lockedMessage("delete", id))
	}
	if resp.Status == http.StatusNotFound {
		if !isKimaiError(resp.Body) {
			return notAPI(op, resp.Status, fmt.Errorf("HTTP 404 with a non-API body"))
		}
		if resp.Attempts > 1 {
			return nil
		}
		return &apperr.Error{Kind: apperr.NotFound, Op: op, Status: resp.Status,
			Message: fmt.Sprintf("Kimai timesheet %d no longer exists; it was deleted in Kimai.", id)}
	}
	return nil
}

func lockedMessage(verb string, id int64) string {
	return fmt.Sprintf("Kimai refused to %s timesheet %d: the timesheet is exported or in a locked period (editing those needs edit_exported_timesheet / lockdown override), or it belongs to another user and the connector's Kimai user lacks edit/delete_other_timesheet.", verb, id)
}

package kimaisim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Validation messages, in the English production wording.
const (
	msgExtraFields     = "This form should not contain extra fields."
	msgInvalidChoice   = "The selected choice is invalid."
	msgInvalidValue    = "This value is not valid."
	msgInvalidDateTime = "Please enter a valid date and time."
	msgNotBlank        = "This value should not be blank."
	msgEndBeforeBegin  = "The end date must not be earlier than the start date."
	msgMissingBegin    = "You must submit a begin date."
	msgMissingProject  = "A project needs to be selected."
	msgMissingActivity = "An activity needs to be selected."
	msgProjectMismatch = "Project mismatch, project specific activity and timesheet project are different."
	msgNoGlobals       = "Global activities are forbidden for the selected project."
	msgDisabledAct     = "Cannot start a disabled activity."
	msgDisabledProj    = "Cannot start a disabled project."
	msgDisabledCust    = "Cannot start a disabled customer."
	msgProjNotStarted  = "The project has not started at that time."
	msgProjEnded       = "The project is finished at that time."
	msgMaxDuration     = "A maximum duration of 8760:00 is allowed."
	msgSpecialChars    = "The following characters are not allowed: < \" > ="
	msgTagComma        = "Tag name cannot contain comma"
	msgAlreadyUsed     = "This value is already used."
)

func msgTooShort(n int) string {
	return "This value is too short. It should have " + strconv.Itoa(n) + " characters or more."
}

func msgTooLong(n int) string {
	return "This value is too long. It should have " + strconv.Itoa(n) + " characters or less."
}

func msgNumberUsed(n string) string { return "The number " + n + " is already used." }

// decodeBody reads a JSON request body the way FOSRestBundle's
// JsonToFormDecoder and camel_keys normaliser do: false becomes null, true
// becomes "1", numbers become their literal string, snake_case keys become
// camelCase. An empty body is an empty form; a JSON list becomes a form with
// numeric keys (which then fail as extra fields); anything else that is not
// a JSON object is a 400 Bad Request.
func decodeBody(r *http.Request) (map[string]any, bool) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, false
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return map[string]any{}, true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	switch t := normalize(v).(type) {
	case map[string]any:
		return t, true
	case []any:
		m := make(map[string]any, len(t))
		for i, x := range t {
			m[strconv.Itoa(i)] = x
		}
		return m, true
	}
	return nil, false
}

func normalize(v any) any {
	switch t := v.(type) {
	case bool:
		if t {
			return "1"
		}
		return nil
	case json.Number:
		return t.String()
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[camelKey(k)] = normalize(x)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}

// camelKey mirrors FOSRest's CamelKeysNormalizer: every "_x" (x a letter
// or digit) becomes "X", e.g. fixed_rate → fixedRate.
func camelKey(k string) string {
	if !strings.Contains(k, "_") {
		return k
	}
	return camelRe.ReplaceAllStringFunc(k, func(m string) string { return strings.ToUpper(m[1:]) })
}

var camelRe = regexp.MustCompile(`_[a-zA-Z0-9]`)

// form collects a submitted form's values and errors the way Symfony does:
// every declared field appears under "children" ({} when valid), errors on
// paths that are not fields are global.
type form struct {
	fields []string
	in     map[string]any
	global []string
	child  map[string][]string
}

func newForm(in map[string]any, fields ...string) *form {
	f := &form{fields: fields, in: in, child: map[string][]string{}}
	for k := range in {
		if !slices.Contains(fields, k) {
			f.global = append(f.global, msgExtraFields)
			break
		}
	}
	return f
}

func (f *form) has(name string) bool { _, ok := f.in[name]; return ok }

func (f *form) addError(field, msg string) {
	if field == "" || !slices.Contains(f.fields, field) {
		if !slices.Contains(f.global, msg) {
			f.global = append(f.global, msg)
		}
		return
	}
	f.child[field] = append(f.child[field], msg)
}

func (f *form) fieldOK(field string) bool { return len(f.child[field]) == 0 }

func (f *form) valid() bool { return len(f.global) == 0 && len(f.child) == 0 }

// text returns a scalar field as a string; null gives ("", true). A list or
// object is a transformation failure on a non-compound field.
func (f *form) text(name string) (val string, null bool, ok bool) {
	switch v := f.in[name].(type) {
	case nil:
		return "", true, true
	case string:
		return v, v == "", true
	}
	f.addError(name, msgInvalidValue)
	return "", false, false
}

// id returns an entity-choice field: (0, true) for null; invalid choices are
// recorded and give ok=false.
func (f *form) id(name string) (int64, bool) {
	s, null, ok := f.text(name)
	if !ok {
		return 0, false
	}
	if null {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		f.addError(name, msgInvalidChoice)
		return 0, false
	}
	return n, true
}

// bool reads a checkbox as Kimai's APITrueFalseType does: null, "", "0" are
// false, any other scalar is true.
func (f *form) bool(name string) (bool, bool) {
	s, null, ok := f.text(name)
	if !ok {
		return false, false
	}
	return !null && s != "0", true
}

// number reads a money/number field; null gives nil.
func (f *form) number(name string) (*float64, bool) {
	s, null, ok := f.text(name)
	if !ok {
		return nil, false
	}
	if null {
		return nil, true
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
	if err != nil {
		f.addError(name, msgInvalidValue)
		return nil, false
	}
	return &v, true
}

// writeInvalid answers 400 with FOSRest's form error structure.
func (f *form) writeInvalid(w http.ResponseWriter) {
	var b bytes.Buffer
	b.WriteString(`{"code":400,"message":"Validation Failed","errors":{`)
	if len(f.global) > 0 {
		b.WriteString(`"errors":`)
		writeStrings(&b, f.global)
		b.WriteByte(',')
	}
	b.WriteString(`"children":{`)
	for i, name := range f.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, name)
		b.WriteByte(':')
		if msgs := f.child[name]; len(msgs) > 0 {
			b.WriteString(`{"errors":`)
			writeStrings(&b, msgs)
			b.WriteByte('}')
		} else {
			b.WriteString("{}")
		}
	}
	b.WriteString("}}}")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b.Bytes())
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := marshal(s)
	b.Write(q)
}

func writeStrings(b *bytes.Buffer, ss []string) {
	q, _ := marshal(ss)
	b.Write(q)
}

// checkName applies the name constraints shared by customers, projects and
// activities: NotBlank, Length 2–150 and no special characters.
func (f *form) checkName(field, name string, maxLen int) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		f.addError(field, msgNotBlank)
		return
	case charLen(n) < 2:
		f.addError(field, msgTooShort(2))
	case charLen(n) > maxLen:
		f.addError(field, msgTooLong(maxLen))
	}
	if strings.ContainsAny(n, `<>"=`) {
		f.addError(field, msgSpecialChars)
	}
}

func charLen(s string) int { return len([]rune(s)) }

// ---------------------------------------------------------------------
// Datetimes

// htmlLocalPrefix is Symfony's DateTimeToHtml5LocalDateTimeTransformer
// regex. It is deliberately not anchored at the end ("to maintain backwards
// compatibility"), but Symfony then hands the whole string to PHP's
// DateTime constructor, which honours a trailing timezone and rejects
// anything it cannot parse.
var htmlLocalPrefix = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?`)

var (
	fracRe   = regexp.MustCompile(`^\.(\d{1,9})`)
	offsetRe = regexp.MustCompile(`^([+-])(\d{2})(?::?(\d{2}))?$`)
)

// parseFormDateTime parses a begin/end form value the way Kimai does:
//
//   - "YYYY-MM-DDTHH:MM[:SS]" (or with a space instead of T) is wall-clock
//     time in loc, the API user's timezone; a wall time that falls into a
//     DST gap moves forward by the gap (PHP: 02:30 on a spring-forward day
//     in Europe/Berlin is 03:30 CEST), an ambiguous one takes the first
//     occurrence (CEST);
//   - an optional fraction ".123" is kept (rounding removes it later);
//   - a trailing "Z", "±HH", "±HHMM", "±HH:MM" or IANA zone name is
//     honoured, as PHP's DateTime does — this is why Kimai's docs warn that
//     sending an offset gives "unexpected" records;
//   - any other trailing text, or an impossible date or time, is invalid.
func parseFormDateTime(v string, loc *time.Location) (time.Time, bool) {
	m := htmlLocalPrefix.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	h, _ := strconv.Atoi(m[4])
	mi, _ := strconv.Atoi(m[5])
	sec := 0
	if m[6] != "" {
		sec, _ = strconv.Atoi(m[6])
	}
	if !validDate(y, mo, d) || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := v[len(m[0]):]
	ns := 0
	if fm := fracRe.FindStringSubmatch(rest); fm != nil {
		digits := fm[1] + strings.Repeat("0", 9-len(fm[1]))
		ns, _ = strconv.Atoi(digits)
		rest = rest[len(fm[0]):]
	}
	rest = strings.TrimSpace(rest)
	switch {
	case rest == "":
		return localTime(y, time.Month(mo), d, h, mi, sec, ns, loc), true
	case rest == "Z" || rest == "z" || strings.EqualFold(rest, "UTC") || strings.EqualFold(rest, "GMT"):
		return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
	}
	if om := offsetRe.FindStringSubmatch(rest); om != nil {
		oh, _ := strconv.Atoi(om[2])
		omin := 0
		if om[3] != "" {
			omin, _ = strconv.Atoi(om[3])
		}
		off := oh*3600 + omin*60
		if om[1] == "-" {
			off = -off
		}
		return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.FixedZone("", off)), true
	}
	if strings.Contains(rest, "/") {
		if zl, err := time.LoadLocation(rest); err == nil {
			return localTime(y, time.Month(mo), d, h, mi, sec, ns, zl), true
		}
	}
	return time.Time{}, false
}

var filterDateTimeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

// parseFilterDateTime parses a list filter value (strict Y-m-d\TH:i:s) as
// wall-clock time in loc.
func parseFilterDateTime(v string, loc *time.Location) (time.Time, bool) {
	if !filterDateTimeRe.MatchString(v) {
		return time.Time{}, false
	}
	return parseFormDateTime(v, loc)
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// localTime resolves a wall-clock time in loc with PHP's rules for DST
// transitions (see parseFormDateTime).
func localTime(y int, mo time.Month, d, h, mi, sec, ns int, loc *time.Location) time.Time {
	wall := time.Date(y, mo, d, h, mi, sec, ns, time.UTC)
	_, offBefore := wall.Add(-36 * time.Hour).In(loc).Zone()
	_, offAfter := wall.Add(36 * time.Hour).In(loc).Zone()
	var best time.Time
	found := false
	for _, off := range []int{offBefore, offAfter} {
		t := wall.Add(-time.Duration(off) * time.Second)
		if _, o := t.In(loc).Zone(); o == off && (!found || t.Before(best)) {
			best, found = t, true
		}
	}
	if !found {
		// In a gap: read the wall time with the offset before the
		// transition, which lands after it by the gap's length.
		best = wall.Add(-time.Duration(offBefore) * time.Second)
	}
	return best.In(loc)
}

// apiTimeLayout is how Kimai renders datetimes (PHP Y-m-d\TH:i:sO).
const apiTimeLayout = "2006-01-02T15:04:05-0700"

var (
	locMu    sync.Mutex
	locCache = map[string]*time.Location{}
)

// loadLocation loads an IANA zone, falling back to UTC (as PHP falls back
// to its default zone).
func loadLocation(name string) *time.Location {
	if name == "" || name == "UTC" {
		return time.UTC
	}
	locMu.Lock()
	defer locMu.Unlock()
	if l, ok := locCache[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	locCache[name] = l
	return l
}

// likeMatch implements a case-insensitive SQL LIKE with MySQL's defaults:
// % matches any run, _ any single character, backslash escapes. Kimai does
// not escape search terms, so % and _ in a term are wildcards.
func likeMatch(s, pattern string) bool {
	return likeRunes([]rune(strings.ToLower(s)), []rune(strings.ToLower(pattern)))
}

func likeRunes(s, p []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case '%':
			for len(p) > 0 && p[0] == '%' {
				p = p[1:]
			}
			if len(p) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if likeRunes(s[i:], p) {
					return true
				}
			}
			return false
		case '_':
			if len(s) == 0 {
				return false
			}
			s, p = s[1:], p[1:]
		default:
			c := p[0]
			if c == '\\' && len(p) > 1 {
				p = p[1:]
				c = p[0]
			}
			if len(s) == 0 || s[0] != c {
				return false
			}
			s, p = s[1:], p[1:]
		}
	}
	return len(s) == 0
}

// readText stores a present, well-formed text field in dst (null as "").
func (f *form) readText(name string, dst *string) {
	if v, _, ok := f.text(name); ok && f.has(name) {
		*dst = v
	}
}

// readNegated stores the negation of a present checkbox in dst: the model
// keeps Hidden where the form says visible, NonBillable for billable.
func (f *form) readNegated(name string, dst *bool) {
	if f.has(name) {
		v, _ := f.bool(name)
		*dst = !v
	}
}

// readWrite makes a write request's first two checks in Kimai's order:
// the permission (403 when not allowed), then a JSON object body (400).
// ok=false means the answer has been written.
func readWrite(w http.ResponseWriter, r *http.Request, allowed bool) (in map[string]any, ok bool) {
	if !allowed {
		writeError(w, http.StatusForbidden)
		return nil, false
	}
	if in, ok = decodeBody(r); !ok {
		writeError(w, http.StatusBadRequest)
	}
	return in, ok
}

// readChoice reads a present entity-choice field into dst: null clears it;
// an id that does not exist, or whose entity is not selectable, is an
// invalid choice, except keep (the record's current choice), which an edit
// may send back unchanged.
func readChoice[T any](f *form, name string, dst *int64, items map[int64]*T, selectable func(*T) bool, keep int64) {
	if !f.has(name) {
		return
	}
	id, ok := f.id(name)
	if !ok {
		return
	}
	e := items[id]
	switch {
	case id == 0:
		*dst = 0
	case e == nil || (!selectable(e) && id != keep):
		f.addError(name, msgInvalidChoice)
	default:
		*dst = id
	}
}

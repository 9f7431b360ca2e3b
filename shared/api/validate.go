package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
)

// problems collects field errors; err turns them into one validation error
// whose Fields name every offending field.
type problems map[string]string

func (p problems) add(field, msg string) {
	if _, dup := p[field]; !dup {
		p[field] = msg
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + p[k]
	}
	return &apperr.Error{Kind: apperr.Validation, Op: "api: validate",
		Message: "The request is invalid: " + strings.Join(parts, "; ") + ".", Fields: map[string]string(p)}
}

func fieldError(field, msg string) error {
	p := problems{}
	p.add(field, msg)
	return p.err()
}

// decodeJSON decodes the request body (already limited to MaxBodyBytes)
// into dst, refusing unknown fields, wrong types and trailing data, and
// turning every decoding failure into a validation error naming the field.
func decodeJSON(r *http.Request, dst any) error {
	if r.Body == nil {
		return fieldError("body", "is required (a JSON object)")
	}
	// Only application/json: a browser sends other types (text/plain) from
	// any site without a CORS preflight, which must not reach the API.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return fieldError("Content-Type", "must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fieldError("body", "must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var fe *fieldErr
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.As(err, &fe):
		return fieldError(fe.field, fe.msg)
	case errors.As(err, &syn):
		return fieldError("body", fmt.Sprintf("is not valid JSON (error at byte %d)", syn.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fieldError("body", "must be a JSON object")
		}
		return fieldError(typ.Field, "must be "+describe(typ.Type, typ.Value))
	case errors.Is(err, io.EOF):
		return fieldError("body", "is required (a JSON object)")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldError("body", "is not valid JSON (it ends too early)")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return fieldError(name, "is not a known field")
	}
	return fieldError("body", "is not valid JSON")
}

// describe names what a JSON value of Go type t must look like.
func describe(t reflect.Type, got string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if strings.HasPrefix(got, "number") {
			return "a whole number within range"
		}
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of type " + t.String()
}

// fieldErr is returned by custom unmarshalers to name their field.
type fieldErr struct{ field, msg string }

func (e *fieldErr) Error() string { return e.field + " " + e.msg }

// ---- strings ----

// checkText validates a free-text field: trimmed, 1..max characters, valid
// UTF-8 without control characters. It returns the trimmed value.
func checkText(p problems, field, v string, required bool, maxLen int) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		p.add(field, "is required")
	case !utf8.ValidString(v):
		p.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > maxLen:
		p.add(field, fmt.Sprintf("must have at most %d characters", maxLen))
	case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
		p.add(field, "must not contain control characters")
	}
	return v
}

// pathID returns the path value name, refusing malformed ids with a 400
// that names the parameter (a well-formed unknown id is a 404 later).
func pathID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if !ident.Valid(v) {
		return "", fieldError(name, "is not a valid id")
	}
	return v, nil
}

// ---- query parameters ----

// query checks that r's query has only the allowed parameters, each at
// most once, and returns it.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fieldError("query", "is not a valid query string")
	}
	p := problems{}
	for k, vs := range q {
		switch {
		case !slices.Contains(allowed, k):
			p.add(k, "is not a known query parameter")
		case len(vs) > 1:
			p.add(k, "must be given at most once")
		}
	}
	return q, p.err()
}

func queryInt(p problems, q url.Values, name string, def, lo, hi int) int {
	v := q.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.add(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func queryTime(p problems, q url.Values, name string) time.Time {
	v := q.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.add(name, "must be an RFC 3339 time such as 2025-01-31T00:00:00Z")
		return time.Time{}
	}
	return t
}

func queryID(p problems, q url.Values, name string) string {
	v := q.Get(name)
	if v != "" && !ident.Valid(v) {
		p.add(name, "is not a valid id")
		return ""
	}
	return v
}

// parseTimeField parses an RFC 3339 body field given as a string.
func parseTimeField(p problems, field string, v *string) *time.Time {
	if v == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		p.add(field, "must be an RFC 3339 time such as 2025-01-31T00:00:00Z")
		return nil
	}
	t = t.UTC()
	return &t
}

// ---- optimistic versions ----

// expectedVersion returns the version a mutation expects: from the body's
// "version" or the If-Match header (an ETag as written by setETag). Both
// must agree when both are given. ok is false when neither is given.
func expectedVersion(r *http.Request, body *int64) (v int64, ok bool, err error) {
	if h := strings.TrimSpace(r.Header.Get("If-Match")); h != "" {
		s := strings.TrimPrefix(h, "W/")
		s = strings.Trim(s, `"`)
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || n < 1 {
			return 0, false, fieldError("If-Match", `must be the record's ETag, e.g. "3"`)
		}
		if body != nil && *body != n {
			return 0, false, fieldError("version", "differs from the If-Match header")
		}
		return n, true, nil
	}
	if body != nil {
		if *body < 1 {
			return 0, false, fieldError("version", "must be a whole number ≥ 1")
		}
		return *body, true, nil
	}
	return 0, false, nil
}

func setETag(w http.ResponseWriter, version int64) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
}

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// specLimits is what openapi.json says of one property or parameter.
type specLimits struct {
	Type             any      `json:"type"`
	Minimum          *float64 `json:"minimum"`
	ExclusiveMinimum *float64 `json:"exclusiveMinimum"`
	Maximum          *float64 `json:"maximum"`
	MinLength        *int     `json:"minLength"`
	MaxLength        *int     `json:"maxLength"`
	MaxItems         *int     `json:"maxItems"`
	Items            *struct {
		MinLength *int `json:"minLength"`
		MaxLength *int `json:"maxLength"`
	} `json:"items"`
}

func loadSpecSchema(t *testing.T, name string) map[string]specLimits {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]specLimits `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	s, ok := doc.Components.Schemas[name]
	if !ok {
		t.Fatalf("openapi.json has no schema %s", name)
	}
	return s.Properties
}

// boundary is a value the spec allows at the edge of a limit and the
// nearest one it does not.
type boundary struct {
	what       string
	ok, beyond any
}

// boundaries derives the edge cases of every limit openapi.json states for
// a property. A limit the spec states and the server does not enforce (or
// enforces differently) fails the test: the console reads its limits from
// the spec, so the spec must be what the server does.
func (l specLimits) boundaries() []boundary {
	var out []boundary
	integer := l.Type == "integer"
	step := 1.0
	if !integer {
		step = 0.01
	}
	num := func(v float64) any {
		if integer {
			return int64(v)
		}
		return v
	}
	if l.Minimum != nil {
		out = append(out, boundary{"minimum", num(*l.Minimum), num(*l.Minimum - step)})
	}
	if l.ExclusiveMinimum != nil {
		out = append(out, boundary{"exclusiveMinimum", num(*l.ExclusiveMinimum + step), num(*l.ExclusiveMinimum)})
	}
	if l.Maximum != nil {
		out = append(out, boundary{"maximum", num(*l.Maximum), num(*l.Maximum + step)})
		if !integer {
			// A decimal string's value obeys the same range.
			out = append(out, boundary{"maximum (as a string)", fmt.Sprint(*l.Maximum), fmt.Sprint(*l.Maximum + step)})
		}
	}
	if l.MinLength != nil && *l.MinLength > 0 {
		out = append(out, boundary{"minLength", strings.Repeat("n", *l.MinLength), strings.Repeat("n", *l.MinLength-1)})
	}
	if l.MaxLength != nil {
		out = append(out, boundary{"maxLength", strings.Repeat("n", *l.MaxLength), strings.Repeat("n", *l.MaxLength+1)})
	}
	if l.MaxItems != nil {
		items := func(n int) []string {
			s := make([]string, n)
			for i := range s {
				s[i] = fmt.Sprintf("tag%d", i)
			}
			return s
		}
		out = append(out, boundary{"maxItems", items(*l.MaxItems), items(*l.MaxItems + 1)})
	}
	if it := l.Items; it != nil {
		if it.MinLength != nil && *it.MinLength > 0 {
			out = append(out, boundary{"items.minLength", []string{strings.Repeat("t", *it.MinLength)}, []string{strings.Repeat("t", *it.MinLength-1)}})
		}
		if it.MaxLength != nil {
			out = append(out, boundary{"items.maxLength", []string{strings.Repeat("t", *it.MaxLength)}, []string{strings.Repeat("t", *it.MaxLength+1)}})
		}
	}
	return out
}

// TestProfileLimitsMatchOpenAPI sends every limit ProfileInput states in
// openapi.json to the server, at the edge and just beyond it: the edge must
// be accepted and the value beyond refused with the property named.
func TestProfileLimitsMatchOpenAPI(t *testing.T) {
	h := newHarness(t)
	p := h.createProfile("Limits")
	path := "/api/profiles/" + p["id"].(string)
	version := p["version"].(float64)
	checked := 0
	for field, l := range loadSpecSchema(t, "ProfileInput") {
		if field == "version" {
			continue // the optimistic lock, not a setting
		}
		for _, b := range l.boundaries() {
			checked++
			r := h.do("PATCH", path, map[string]any{field: b.ok, "version": version})
			if r.status != 200 {
				t.Errorf("%s %s: the spec allows %v, the server answers %d: %s", field, b.what, short(b.ok), r.status, r.body)
				continue
			}
			version = r.obj(t)["version"].(float64)
			r = h.do("PATCH", path, map[string]any{field: b.beyond, "version": version})
			if r.status != 400 {
				t.Errorf("%s %s: the spec refuses %v, the server answers %d", field, b.what, short(b.beyond), r.status)
				if r.status == 200 {
					version = r.obj(t)["version"].(float64)
				}
				continue
			}
			if e := r.apiError(t); e.Code != apperr.CodeValidation || !namesField(e.Fields, field) {
				t.Errorf("%s %s: %v refused as %s %v, want a validation error naming it", field, b.what, short(b.beyond), e.Code, e.Fields)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d boundaries derived from ProfileInput; the spec's limits were not read", checked)
	}
}

// TestConnectorLimitsMatchOpenAPI does the same for the connector's name
// and token (base_url's length is checked with its other rules in
// TestConnectorValidation).
func TestConnectorLimitsMatchOpenAPI(t *testing.T) {
	h := newHarness(t)
	spec := loadSpecSchema(t, "ConnectorCreate")
	n := 0
	for _, field := range []string{"name", "token"} {
		for _, b := range spec[field].boundaries() {
			n++
			body := map[string]any{"kind": "kimai", "name": "K", "base_url": "https://kimai.example.com", "token": "kimai-token-0001"}
			body[field] = b.ok
			if r := h.do("POST", "/api/connectors", body); r.status != 201 {
				t.Errorf("%s %s: the spec allows it, the server answers %d: %s", field, b.what, r.status, r.body)
			}
			body[field] = b.beyond
			h.do("POST", "/api/connectors", body).wantError(t, 400, apperr.CodeValidation, field)
		}
	}
	if n < 3 {
		t.Fatalf("only %d boundaries derived from ConnectorCreate", n)
	}
}

// TestListLimitsMatchOpenAPI checks the limit parameter of every list.
func TestListLimitsMatchOpenAPI(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, ops := range doc.Paths {
		var op struct {
			Parameters []struct {
				Name   string     `json:"name"`
				In     string     `json:"in"`
				Schema specLimits `json:"schema"`
			} `json:"parameters"`
		}
		if raw, ok := ops["get"]; !ok || json.Unmarshal(raw, &op) != nil {
			continue
		}
		for _, p := range op.Parameters {
			if p.In != "query" || p.Name != "limit" {
				continue
			}
			at := path
			if strings.Contains(at, "{id}") {
				// Lists under one resource: only a run's entries so far.
				if !strings.HasPrefix(at, "/api/runs/{id}/") {
					t.Fatalf("%s: no resource to list under", path)
				}
				run, err := h.st.PutRun(context.Background(), tb.Run{ProfileID: "p1", Mode: tb.ModeFull, Status: tb.RunSucceeded})
				if err != nil {
					t.Fatal(err)
				}
				at = strings.Replace(at, "{id}", run.ID, 1)
			}
			for _, b := range p.Schema.boundaries() {
				n++
				h.do("GET", fmt.Sprintf("%s?limit=%v", at, b.ok), nil).want(t, 200)
				h.do("GET", fmt.Sprintf("%s?limit=%v", at, b.beyond), nil).wantError(t, 400, apperr.CodeValidation, "limit")
			}
		}
	}
	if n < 6 {
		t.Fatalf("only %d limit boundaries found in openapi.json", n)
	}
}

func namesField(fields map[string]string, field string) bool {
	for f := range fields {
		if f == field || strings.HasPrefix(f, field+".") {
			return true
		}
	}
	return false
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 24 {
		return fmt.Sprintf("%.12s… (%d chars)", s, len(s))
	}
	return s
}

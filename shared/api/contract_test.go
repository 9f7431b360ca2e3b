package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/auth"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// contractCases is how many generated requests TestContractFuzz sends;
// make test uses the default, a longer hunt:
//
//	go test ./shared/api -run TestContractFuzz -contract.cases=100000
var (
	contractCases = flag.Int("contract.cases", 3000, "requests TestContractFuzz generates")
	contractSeed  = flag.Uint64("contract.seed", 7, "seed of TestContractFuzz's generator (a failure names its seed)")
)

// TestContractFuzz generates requests from openapi.json for every route and
// method: valid bodies and bodies with wrong types, missing, unknown and
// duplicate fields, values past their bounds, huge strings, invalid UTF-8,
// no JSON at all; good and bad path ids and query values; with and without
// a token. Every answer must be below 500, every error the documented
// envelope with a documented code, every 2xx body valid against the
// documented schema of its status, and no answer may carry a secret.
func TestContractFuzz(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) {
		// The brake is tested elsewhere; here it would only refuse logins.
		c.brake = auth.BrakeOptions{AddressFailures: 1 << 30, UserFailures: 1 << 30, GlobalFailures: 1 << 30}
	})
	doc := loadContract(t)
	ids := h.seedContract()
	rng := rand.New(rand.NewPCG(*contractSeed, uint64(*contractCases)))
	secrets := []string{adminPassword, "zammad-token-", "kimai-token-"}
	statuses := map[int]int{}
	for i := 0; i < *contractCases; i++ {
		op := doc.ops[i%len(doc.ops)]
		g := &gen{rng: rng, doc: doc}
		path := g.path(op.path, ids)
		query := g.query(op)
		body := g.body(op)
		var opts []reqOpt
		withAuth := rng.IntN(5) != 0
		if !withAuth {
			opts = append(opts, noAuth)
		}
		r := h.do(op.method, path+query, body, opts...)
		statuses[r.status]++
		where := fmt.Sprintf("seed %d case %d: %s %s%s (auth %v) body %.120q", *contractSeed, i, op.method, path, query, withAuth, body)
		switch {
		case r.status >= 500:
			t.Fatalf("%s: %d %s", where, r.status, r.body)
		case r.status >= 400:
			var e any
			if err := json.Unmarshal(r.body, &e); err != nil {
				t.Fatalf("%s: error body is not JSON: %s", where, r.body)
			}
			if err := doc.validate(doc.schemas["Error"], e, "error"); err != nil {
				t.Fatalf("%s: error body %s: %v", where, r.body, err)
			}
		default:
			schema, documented := op.success[r.status]
			if !documented {
				t.Fatalf("%s: status %d is not documented: %s", where, r.status, r.body)
			}
			if strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
				if !op.csv {
					t.Fatalf("%s: CSV is not documented", where)
				}
				if _, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll(); err != nil {
					t.Fatalf("%s: %d body is not CSV (%v): %s", where, r.status, err, r.body)
				}
			} else if schema != nil {
				var v any
				if err := json.Unmarshal(r.body, &v); err != nil {
					t.Fatalf("%s: %d body is not JSON: %s", where, r.status, r.body)
				}
				if err := doc.validate(schema, v, "body"); err != nil {
					t.Fatalf("%s: %d body %.300s: %v", where, r.status, r.body, err)
				}
			}
		}
		for _, s := range secrets {
			if bytes.Contains(r.body, []byte(s)) {
				t.Fatalf("%s: the answer carries a secret (%q…): %s", where, s[:6], r.body)
			}
		}
		// Keep the fixture usable: signing out (everywhere) ends the
		// harness's session, deletions remove the seeded resources.
		if r.status < 300 && withAuth {
			switch {
			case strings.HasPrefix(op.path, "/api/auth/logout"):
				h.token = h.login()
			case op.method == "DELETE" || strings.HasSuffix(op.path, "/webhook-secret"):
				ids = h.seedContract()
			}
		}
	}
	t.Logf("%d generated requests, statuses %v", *contractCases, statuses)
	if statuses[200]+statuses[201]+statuses[202]+statuses[204] < *contractCases/20 {
		t.Errorf("too few successful requests (%v): the generator hardly reaches the handlers", statuses)
	}
}

// seedContract creates one of each resource and returns the path ids.
func (h *harness) seedContract() map[string]string {
	h.t.Helper()
	p := h.createProfile(fmt.Sprint("Fuzz ", time.Now().UnixNano()))
	pid := p["id"].(string)
	run := h.do("POST", "/api/profiles/"+pid+"/runs", map[string]any{"mode": "full"}).want(h.t, 202).obj(h.t)["id"].(string)
	c := h.putConflict(pid, 9, tb.ConflictDeletedInKimai)
	h.do("PUT", "/api/profiles/"+pid+"/mappings", map[string]any{"kind": "activity", "source_id": "3", "target_id": 2}).want(h.t, 200)
	return map[string]string{"profile": pid, "connector": p["zammad_connector_id"].(string), "run": run, "conflict": c.ID,
		"kind": "activity", "source_id": "3"}
}

// ---- the document ----

type contractOp struct {
	method, path string
	body         map[string]any         // request body schema (nil: none)
	query        []map[string]any       // query parameters
	success      map[int]map[string]any // 2xx status → schema (nil: no body)
	csv          bool                   // a 200 may be text/csv
}

type contract struct {
	schemas map[string]map[string]any
	ops     []contractOp
}

func loadContract(t *testing.T) *contract {
	t.Helper()
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas   map[string]map[string]any `json:"schemas"`
			Responses map[string]map[string]any `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &d); err != nil {
		t.Fatal(err)
	}
	c := &contract{schemas: d.Components.Schemas}
	for path, methods := range d.Paths {
		for method, raw := range methods {
			var op struct {
				Parameters  []map[string]any `json:"parameters"`
				RequestBody struct {
					Content map[string]struct {
						Schema map[string]any `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
				Responses map[string]map[string]any `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // "parameters" shared by a path, not an operation
			}
			o := contractOp{method: strings.ToUpper(method), path: path, success: map[int]map[string]any{}}
			if ct, ok := op.RequestBody.Content["application/json"]; ok {
				o.body = ct.Schema
			}
			for _, p := range op.Parameters {
				if p["in"] == "query" {
					o.query = append(o.query, p)
				}
			}
			for code, resp := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil || n >= 300 {
					continue
				}
				if ref, ok := resp["$ref"].(string); ok {
					resp = d.Components.Responses[strings.TrimPrefix(ref, "#/components/responses/")]
				}
				var schema map[string]any
				if content, ok := resp["content"].(map[string]any); ok {
					if js, ok := content["application/json"].(map[string]any); ok {
						schema, _ = js["schema"].(map[string]any)
					}
					if _, ok := content["text/csv"]; ok {
						o.csv = true
					}
				}
				o.success[n] = schema
			}
			c.ops = append(c.ops, o)
		}
	}
	slices.SortFunc(c.ops, func(a, b contractOp) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	if len(c.ops) < 20 {
		t.Fatalf("only %d operations in openapi.json", len(c.ops))
	}
	return c
}

func (c *contract) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = c.schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
	}
}

// validate checks v against the subset of JSON Schema openapi.json uses.
func (c *contract) validate(s map[string]any, v any, at string) error {
	s = c.resolve(s)
	if s == nil {
		return fmt.Errorf("%s: unknown schema", at)
	}
	if types := typesOf(s); len(types) > 0 && !slices.ContainsFunc(types, func(ty string) bool { return isType(ty, v) }) {
		return fmt.Errorf("%s: %v is not %v", at, shorten(v), types)
	}
	if enum, ok := s["enum"].([]any); ok && v != nil && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, shorten(v), enum)
	}
	switch x := v.(type) {
	case string:
		if n, ok := num(s["maxLength"]); ok && float64(utf8.RuneCountInString(x)) > n {
			return fmt.Errorf("%s: longer than %v", at, n)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				return fmt.Errorf("%s: %q is not date-time", at, x)
			}
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			return fmt.Errorf("%s: %q does not match %s", at, x, p)
		}
	case float64:
		if n, ok := num(s["minimum"]); ok && x < n {
			return fmt.Errorf("%s: %v below %v", at, x, n)
		}
		if n, ok := num(s["maximum"]); ok && x > n {
			return fmt.Errorf("%s: %v above %v", at, x, n)
		}
	case []any:
		items, _ := s["items"].(map[string]any)
		for i, e := range x {
			if items != nil {
				if err := c.validate(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: required %q missing", at, r)
			}
		}
		for k, e := range x {
			if ps, ok := props[k].(map[string]any); ok {
				if err := c.validate(ps, e, at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: undocumented property %q", at, k)
				}
			case map[string]any:
				if err := c.validate(ap, e, at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func typesOf(s map[string]any) []string {
	switch ty := s["type"].(type) {
	case string:
		return []string{ty}
	case []any:
		return asStrings(ty)
	}
	return nil
}

func isType(ty string, v any) bool {
	switch ty {
	case "null":
		return v == nil
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func num(v any) (float64, bool) { f, ok := v.(float64); return f, ok }

func shorten(v any) string { s := fmt.Sprint(v); return s[:min(len(s), 80)] }

// ---- the generator ----

type gen struct {
	rng *rand.Rand
	doc *contract
}

func (g *gen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

// path fills the template with real ids, sometimes with a bad one.
func (g *gen) path(tmpl string, ids map[string]string) string {
	return regexp.MustCompile(`\{(\w+)\}`).ReplaceAllStringFunc(tmpl, func(p string) string {
		name := strings.Trim(p, "{}")
		if g.rng.IntN(4) == 0 {
			return g.pick("x", "..", "%2e%2e", "%00", strings.Repeat("A", 300), "01JQ7Z3M2Y8K4T6V9B1C5D7F0H", "%F0%9F%98%80", "-1", "1e9", "%27%20OR%201=1", "a%2Fb")
		}
		key := name
		if name == "id" {
			switch {
			case strings.HasPrefix(tmpl, "/api/connectors"):
				key = "connector"
			case strings.HasPrefix(tmpl, "/api/runs"):
				key = "run"
			case strings.HasPrefix(tmpl, "/api/conflicts"):
				key = "conflict"
			default:
				key = "profile"
			}
		}
		return ids[key]
	})
}

func (g *gen) query(op contractOp) string {
	var parts []string
	for _, p := range op.query {
		if g.rng.IntN(2) == 0 {
			continue
		}
		name := p["name"].(string)
		schema, _ := p["schema"].(map[string]any)
		s := url.QueryEscape(fmt.Sprint(g.value(schema, 0)))
		if g.rng.IntN(3) == 0 {
			s = g.pick("-1", "0", "99999999999999999999", "abc", "", "2025-13-45T99:99:99Z", strings.Repeat("z", 5000), "%FF", "null", "1.5")
		}
		parts = append(parts, name+"="+s)
	}
	if g.rng.IntN(8) == 0 {
		parts = append(parts, "unknown_param=1")
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}

// body is a JSON body for op (valid per the schema, then perhaps mutated),
// or raw bytes that are not valid JSON at all.
func (g *gen) body(op contractOp) any {
	if op.body == nil {
		if g.rng.IntN(6) == 0 {
			return g.pick(`{"unexpected":true}`, "garbage")
		}
		return nil
	}
	switch g.rng.IntN(14) {
	case 0:
		return g.pick("", "{", "null", "[]", "not json", `"a string"`, "123", "{}{}")
	case 1:
		return []byte("{\"name\":\"\xff\xfe\xfd\"}") // invalid UTF-8
	case 2:
		return `{"name":"` + strings.Repeat("x", 2<<20) + `"}` // above the body limit
	}
	v, _ := g.value(op.body, 0).(map[string]any)
	if v == nil {
		v = map[string]any{}
	}
	s := g.doc.resolve(op.body)
	props, _ := s["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 && g.rng.IntN(3) == 0 {
		k := keys[g.rng.IntN(len(keys))]
		switch g.rng.IntN(6) {
		case 0:
			delete(v, k)
		case 1:
			v[k] = g.wrongType(v[k])
		case 2:
			ps, _ := props[k].(map[string]any)
			v[k] = g.beyond(g.doc.resolve(ps))
		case 3:
			v[k] = strings.Repeat("ß", 2000)
		case 4:
			b, _ := json.Marshal(v)
			return `{"` + k + `":null,` + strings.TrimPrefix(string(b), "{") // duplicate key
		default:
			v["zz_unknown"] = 1
		}
	}
	return v
}

// value is a value valid for schema s.
func (g *gen) value(s map[string]any, depth int) any {
	s = g.doc.resolve(s)
	if s == nil {
		return nil
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return enum[g.rng.IntN(len(enum))]
	}
	types := typesOf(s)
	ty := "object"
	if len(types) > 0 {
		ty = types[g.rng.IntN(len(types))]
	}
	switch ty {
	case "string":
		if s["format"] == "date-time" {
			return time.Date(2025, 1, 1+g.rng.IntN(28), 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
		}
		if max, ok := num(s["maxLength"]); ok && max < 8 {
			return strings.Repeat("a", int(max))
		}
		return g.pick("a", "Fuzz name", "https://zammad.example.com", "3", "1.5", "x y z")
	case "integer":
		lo, hi := 0.0, 100.0
		if n, ok := num(s["minimum"]); ok {
			lo = n
		}
		if n, ok := num(s["maximum"]); ok {
			hi = n
		}
		return lo + float64(g.rng.IntN(int(min(hi-lo, 1000))+1))
	case "number":
		return float64(g.rng.IntN(100)) / 4
	case "boolean":
		return g.rng.IntN(2) == 0
	case "null":
		return nil
	case "array":
		if depth > 3 {
			return []any{}
		}
		items, _ := s["items"].(map[string]any)
		out := []any{}
		for i := g.rng.IntN(3); i > 0; i-- {
			out = append(out, g.value(items, depth+1))
		}
		return out
	}
	out := map[string]any{}
	if depth > 3 {
		return out
	}
	props, _ := s["properties"].(map[string]any)
	required := asStrings(s["required"])
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same seed makes the same requests
	for _, k := range keys {
		if slices.Contains(required, k) || g.rng.IntN(2) == 0 {
			m, _ := props[k].(map[string]any)
			out[k] = g.value(m, depth+1)
		}
	}
	return out
}

func (g *gen) wrongType(v any) any {
	switch v.(type) {
	case string:
		if g.rng.IntN(2) == 0 {
			return true
		}
		return 12
	case float64:
		return "12"
	case bool:
		return "true"
	case nil:
		return []any{1}
	}
	return 42
}

// beyond is a value just past the schema's bounds, or of an absurd size.
func (g *gen) beyond(s map[string]any) any {
	if n, ok := num(s["maxLength"]); ok {
		return strings.Repeat("x", int(n)+1)
	}
	if n, ok := num(s["maximum"]); ok {
		return n + 1
	}
	if n, ok := num(s["minimum"]); ok {
		return n - 1
	}
	return g.pick("", " ", "\u202e", "\x00")
}

// TestErrorCodesMatchOpenAPI: the codes apperr.Code gives every kind are
// exactly the Error schema's enum, which the console's client is typed from.
func TestErrorCodesMatchOpenAPI(t *testing.T) {
	doc := loadContract(t)
	errSchema := doc.schemas["Error"]
	props, _ := errSchema["properties"].(map[string]any)
	inner, _ := props["error"].(map[string]any)
	fields, _ := inner["properties"].(map[string]any)
	code, _ := fields["code"].(map[string]any)
	var enum []string
	for _, v := range code["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	var got []string
	for _, k := range apperr.Kinds {
		if c := apperr.Code(k); !slices.Contains(got, c) {
			got = append(got, c)
		}
	}
	slices.Sort(enum)
	slices.Sort(got)
	if !slices.Equal(enum, got) {
		t.Fatalf("apperr codes %v, openapi.json Error.code enum %v", got, enum)
	}
}

// Package samtemplate reads Timebridge's SAM template (template.yaml) and
// SAM CLI configuration (samconfig.toml) for the checks that `sam validate`
// and cfn-lint would otherwise make; neither runs on these machines. The
// test in this package holds the checks themselves; CheckSchema (schema.go)
// validates a template against the published SAM JSON schema.
//
// # Parsing
//
// The template is parsed with github.com/awslabs/goformation/v7 into its
// typed CloudFormation model, which also rejects unknown resource types and
// properties of the wrong type (a number where a string belongs, and so on).
// goformation's own intrinsic-function processing is not usable as it is:
// it resolves Ref only to parameter defaults, turns Fn::GetAtt into null
// and strips unresolvable ${…} from Fn::Sub, which would erase exactly the
// references the checks are about ("is this grant on *this* table?"). Load
// therefore replaces the handlers for Ref, Fn::GetAtt and Fn::Sub with ones
// that keep references as readable tokens, in Fn::Sub's own syntax:
//
//	!Ref Table                 → "${Table}"
//	!GetAtt Table.Arn          → "${Table.Arn}"
//	!Sub ${Table.Arn}/index/x  → "${Table.Arn}/index/x"
//	!Ref AWS::StackName        → "${AWS::StackName}"
//	!Ref LogLevel              → the parameter's value ("info")
//
// Parameters resolve to their values (the defaults, or the values given to
// Load), so that Conditions and Fn::If evaluate as CloudFormation would for
// those values; goformation's YAML reader turns the short tags (!Ref, !Sub,
// …) into the long forms first. What goformation cannot resolve it turns
// into null, which reads as an absent property; Load refuses such a
// template instead, naming the place (checkIntrinsics in intrinsics.go).
//
// goformation decodes resources strictly (an unknown property is an
// error), but its SAM model lags behind SAM: it lacks, for example,
// LoggingConfig (which is why template.yaml names its log groups through
// FunctionName instead). Nested SAM event properties it does not model,
// such as an SQS event's FunctionResponseTypes, are kept, though, and read
// from Raw: the same processed document as plain maps.
package samtemplate

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// Template is a parsed template.
type Template struct {
	// CF is goformation's typed model.
	CF *cloudformation.Template
	// Raw is the same processed document as maps, slices and scalars.
	Raw map[string]any
}

// Ref returns the token a !Ref of a resource or pseudo parameter becomes.
func Ref(name string) string { return "${" + name + "}" }

// GetAtt returns the token a !GetAtt becomes.
func GetAtt(resource, attr string) string { return "${" + resource + "." + attr + "}" }

// Load parses the template at path. params override parameter defaults, as
// --parameter-overrides would.
func Load(path string, params map[string]string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Parameter values are strings, as on the command line; Number
	// parameters become numbers, as CloudFormation passes them to
	// properties.
	plain, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	if err := checkIntrinsics(plain); err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	var decl struct {
		Parameters map[string]struct{ Type string }
	}
	if err := json.Unmarshal(plain, &decl); err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	overrides := map[string]any{}
	for k, v := range params {
		p, ok := decl.Parameters[k]
		if !ok {
			return nil, fmt.Errorf("samtemplate: %s has no parameter %s", path, k)
		}
		overrides[k] = v
		if p.Type == "Number" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("samtemplate: parameter %s=%q is not a number", k, v)
			}
			overrides[k] = n
		}
	}
	opts := func() *intrinsics.ProcessorOptions {
		return &intrinsics.ProcessorOptions{
			IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
				"Ref":        refHandler,
				"Fn::GetAtt": getAttHandler,
				"Fn::Sub":    subHandler,
			},
			ParameterOverrides: overrides,
			EvaluateConditions: true,
		}
	}
	processed, err := intrinsics.ProcessYAML(data, opts())
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(processed, &raw); err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	// goformation reports an unknown type as "json: Unmarshal(nil)".
	known := cloudformation.AllResources()
	resources, _ := raw["Resources"].(map[string]any)
	for id, r := range resources {
		m, _ := r.(map[string]any)
		typ, _ := m["Type"].(string)
		if _, ok := known[typ]; !ok && !strings.HasPrefix(typ, "Custom::") {
			return nil, fmt.Errorf("samtemplate: %s: resource %s has unknown type %q", path, id, typ)
		}
	}
	cf, err := goformation.ParseYAMLWithOptions(data, opts())
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	return &Template{CF: cf, Raw: raw}, nil
}

// parameterValue returns the (overridden) default of a template parameter.
func parameterValue(name string, template any) (any, bool) {
	t, _ := template.(map[string]any)
	params, _ := t["Parameters"].(map[string]any)
	p, ok := params[name].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := p["Default"]
	return v, ok
}

func refHandler(_ string, input any, template any) any {
	name, ok := input.(string)
	if !ok {
		return nil
	}
	if name == "AWS::NoValue" {
		return nil // the property is absent, as in CloudFormation
	}
	if v, ok := parameterValue(name, template); ok {
		return v
	}
	return Ref(name)
}

func getAttHandler(_ string, input any, _ any) any {
	switch v := input.(type) {
	case string: // !GetAtt A.B
		return "${" + v + "}"
	case []any: // [A, B] or [A, B.C]
		parts := make([]string, 0, len(v))
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return nil
			}
			parts = append(parts, s)
		}
		return "${" + strings.Join(parts, ".") + "}"
	}
	return nil
}

var subVar = regexp.MustCompile(`\$\{(!?)([^}]*)\}`)

// subHandler substitutes parameters and the explicit variables of the
// two-argument form; references to resources and pseudo parameters stay
// as ${…} tokens.
func subHandler(_ string, input any, template any) any {
	var src string
	vars := map[string]any{}
	switch v := input.(type) {
	case string:
		src = v
	case []any:
		if len(v) != 2 {
			return nil
		}
		s, ok := v[0].(string)
		m, ok2 := v[1].(map[string]any)
		if !ok || !ok2 {
			return nil
		}
		src, vars = s, m
	default:
		return nil
	}
	return subVar.ReplaceAllStringFunc(src, func(m string) string {
		g := subVar.FindStringSubmatch(m)
		if g[1] == "!" { // ${!Literal} is the literal ${Literal}
			return "${" + g[2] + "}"
		}
		if v, ok := vars[g[2]]; ok {
			return fmt.Sprint(v)
		}
		if v, ok := parameterValue(g[2], template); ok {
			return fmt.Sprint(v)
		}
		return m
	})
}

// Resource returns the raw resource called id (Type, Properties, Metadata, …).
func (t *Template) Resource(id string) map[string]any {
	res, _ := t.Raw["Resources"].(map[string]any)
	r, _ := res[id].(map[string]any)
	return r
}

// Properties returns the raw properties of resource id.
func (t *Template) Properties(id string) map[string]any {
	p, _ := t.Resource(id)["Properties"].(map[string]any)
	return p
}

// ResourcesOfType returns the logical ids of resources of type typ, sorted.
func (t *Template) ResourcesOfType(typ string) []string {
	res, _ := t.Raw["Resources"].(map[string]any)
	var ids []string
	for id, r := range res {
		if m, ok := r.(map[string]any); ok && m["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Function is an AWS::Serverless::Function with the template's Globals
// applied the way SAM applies them.
type Function struct {
	LogicalID     string
	Runtime       string
	Handler       string
	Architectures []string
	Timeout       int
	MemorySize    int
	CodeURI       string
	BuildMethod   string            // Metadata.BuildMethod
	FunctionName  string            // e.g. "${AWS::StackName}-api"
	Role          string            // token, e.g. "${ApiRole.Arn}"
	Env           map[string]string // Globals' variables merged with the function's
	// Events are the raw event sources by name.
	Events map[string]map[string]any
}

// Functions returns the template's functions sorted by logical id.
func (t *Template) Functions() ([]Function, error) {
	var g map[string]any
	if globals, ok := t.Raw["Globals"].(map[string]any); ok {
		g, _ = globals["Function"].(map[string]any)
	}
	var out []Function
	for _, id := range t.ResourcesOfType("AWS::Serverless::Function") {
		p := t.Properties(id)
		// SAM's rule: a function's own value wins over Globals; maps
		// (environment variables) are merged.
		prop := func(k string) any {
			if v, ok := p[k]; ok {
				return v
			}
			return g[k]
		}
		f := Function{LogicalID: id, Env: map[string]string{}, Events: map[string]map[string]any{}}
		f.Runtime, _ = prop("Runtime").(string)
		f.Handler, _ = prop("Handler").(string)
		f.CodeURI, _ = prop("CodeUri").(string)
		f.Role, _ = prop("Role").(string)
		if n, ok := prop("Timeout").(float64); ok {
			f.Timeout = int(n)
		} else {
			f.Timeout = 3 // Lambda's default
		}
		if n, ok := prop("MemorySize").(float64); ok {
			f.MemorySize = int(n)
		} else {
			f.MemorySize = 128
		}
		if archs, ok := prop("Architectures").([]any); ok {
			for _, a := range archs {
				s, _ := a.(string)
				f.Architectures = append(f.Architectures, s)
			}
		} else {
			f.Architectures = []string{"x86_64"}
		}
		f.FunctionName, _ = p["FunctionName"].(string)
		if md, ok := t.Resource(id)["Metadata"].(map[string]any); ok {
			f.BuildMethod, _ = md["BuildMethod"].(string)
		}
		for _, src := range []map[string]any{g, p} {
			env, _ := src["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			for k, v := range vars {
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("samtemplate: %s: environment variable %s is not a string", id, k)
				}
				f.Env[k] = s
			}
		}
		if evs, ok := p["Events"].(map[string]any); ok {
			for name, e := range evs {
				m, _ := e.(map[string]any)
				f.Events[name] = m
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// StringList reads a property that is one string or a list of strings (IAM
// Action and Resource).
func StringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// SamConfig is samconfig.toml: tables by name ("default.deploy.parameters")
// holding their keys' values (string, bool, int64 or []string).
type SamConfig map[string]map[string]any

// ReadSamConfig reads the subset of TOML that samconfig.toml uses: comments,
// [dotted.table] headers and key = value lines whose values are strings,
// booleans, integers, floats (version = 0.1) or arrays of strings on one
// line. Anything else is an error, which keeps the file simple enough for
// the Makefile's awk to read stack_name and parameter_overrides.
func ReadSamConfig(path string) (SamConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := SamConfig{}
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		fail := func(what string) error { return fmt.Errorf("samtemplate: %s:%d: %s: %q", path, i+1, what, line) }
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") || strings.HasPrefix(line, "[[") {
				return nil, fail("unsupported table header")
			}
			table = strings.TrimSpace(line[1 : len(line)-1])
			if _, dup := cfg[table]; dup {
				return nil, fail("duplicate table")
			}
			cfg[table] = map[string]any{}
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fail("expected key = value")
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		v, err := tomlValue(val)
		if err != nil {
			return nil, fail(err.Error())
		}
		if cfg[table] == nil {
			cfg[table] = map[string]any{}
		}
		cfg[table][key] = v
	}
	return cfg, nil
}

func tomlValue(s string) (any, error) {
	switch {
	case s == "true" || s == "false":
		return s == "true", nil
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal([]byte(s), &str); err != nil {
			return nil, fmt.Errorf("bad string")
		}
		return str, nil
	case strings.HasPrefix(s, "["):
		var arr []string
		if err := json.Unmarshal([]byte(s), &arr); err != nil {
			return nil, fmt.Errorf("only one-line arrays of strings are supported")
		}
		return arr, nil
	}
	var n json.Number
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		return nil, fmt.Errorf("unsupported value")
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	return f, err
}

// ParameterOverrides splits a parameter_overrides string ("A=1 B=two")
// into a map. Values cannot contain spaces or quotes, which keeps the
// Makefile's word splitting of the same string correct.
func ParameterOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || strings.ContainsAny(v, `"'`) {
			return nil, fmt.Errorf("samtemplate: parameter override %q is not Key=Value", f)
		}
		out[k] = v
	}
	return out, nil
}

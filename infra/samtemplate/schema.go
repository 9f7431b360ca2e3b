package samtemplate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/awslabs/goformation/v7/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema checks: goformation ships the published SAM (and CloudFormation)
// JSON schemas; CheckSchema validates a processed template against the SAM
// one, where every resource definition's Properties forbid unknown
// properties and type every known one.
//
// A few adjustments keep the check exact and its messages readable:
//   - Resources are validated one by one against the definition of their
//     own Type. The schema's Resources is an anyOf over all ~7,000 resource
//     types, whose failure would list every type a resource is not.
//   - Parameter attributes the schema types as strings (Default, MinValue,
//     …) may be YAML numbers in a template; CloudFormation reads them as
//     strings, so numbers there are compared as their string form.
//   - A function's event Properties are an anyOf over all event types in
//     the schema, whatever the event's Type; each is checked against the
//     definition of its own Type (SQS → AWS::Serverless::Function.SQSEvent),
//     which is both stricter and says what is wrong.
//   - Load evaluates Conditions to booleans; the schema wants their
//     (unevaluated) expressions, objects, so evaluated ones pass as such.
//   - goformation's schema lags SAM in a few places the template uses; the
//     missing properties are added with the types SAM documents
//     (samSchemaAdditions), never by letting unknown properties through.
//   - Every resource and property-type definition in goformation's schema
//     forbids unknown properties (additionalProperties: false), but the
//     Globals sections (Function, Api, …) list their properties without
//     doing so, and an output may be any object. Wherever an object's
//     properties are listed without saying whether others may appear,
//     closeObjects forbids them (today: Globals; a later schema's open
//     definition too), and outputs get CloudFormation's Output syntax.
//   - The SAM schema's definitions of CloudFormation's own types are those
//     of goformation's CloudFormation schema (a test compares them), so
//     this one validation covers both published schemas.
//
// Intrinsic functions must already be resolved (Load does: references
// become "${…}" strings, conditions are evaluated, AWS::NoValue drops the
// property), so that a property that takes a string holds a string; Load
// rejects what it cannot resolve (checkIntrinsics) rather than let it
// vanish.

// SchemaProblem is one place where a template breaks the schema.
type SchemaProblem struct {
	Resource string // logical id; "" outside Resources
	Type     string // the resource's type
	Path     string // JSON pointer inside the resource (or the template)
	Message  string
}

func (p SchemaProblem) String() string {
	if p.Resource == "" {
		return fmt.Sprintf("template %s: %s", p.Path, p.Message)
	}
	return fmt.Sprintf("resource %s (%s) at %s: %s", p.Resource, p.Type, p.Path, p.Message)
}

// samSchema is the SAM schema, decoded and compiled piecemeal: the whole
// of it is 7.7 MB and 7,000 definitions, and compiling it at once costs
// about a second, while a template needs a few dozen definitions. Each is
// decoded (with the adjustments above) when first needed, and each
// resource type compiled once with the definitions it reaches.
var samSchema struct {
	once    sync.Once
	err     error
	raw     map[string]json.RawMessage // definitions as in the schema
	mu      sync.Mutex                 // guards the rest
	decoded map[string]any             // definitions as decoded and adjusted
	top     *jsonschema.Schema
	byType  map[string]*jsonschema.Schema
}

const samSchemaURL = "https://goformation.local/sam.schema.json"

// samSchemaAdditions are SAM properties goformation's schema (v7.14) lacks,
// with the types of the SAM specification. Loading fails once the schema
// gains one of them, so the list cannot outlive its reason.
var samSchemaAdditions = map[string]map[string]any{
	// https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-sqs.html
	"AWS::Serverless::Function.SQSEvent": {
		"MaximumBatchingWindowInSeconds": map[string]any{"type": "integer", "minimum": 0, "maximum": 300},
		"FunctionResponseTypes":          map[string]any{"type": "array", "items": map[string]any{"enum": []any{"ReportBatchItemFailures"}}},
		"ScalingConfig": map[string]any{"type": "object", "additionalProperties": false,
			"properties": map[string]any{"MaximumConcurrency": map[string]any{"type": "integer", "minimum": 2, "maximum": 1000}}},
	},
}

// cfnOutput is an entry of Outputs as CloudFormation documents it
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/outputs-section-structure.html);
// a stack output's value is a string.
var cfnOutput = map[string]any{
	"type": "object", "additionalProperties": false, "required": []any{"Value"},
	"properties": map[string]any{
		"Description": map[string]any{"type": "string", "maxLength": 1024},
		"Value":       map[string]any{"type": "string"},
		"Condition":   map[string]any{"type": "string"},
		"Export": map[string]any{"type": "object", "additionalProperties": false, "required": []any{"Name"},
			"properties": map[string]any{"Name": map[string]any{"type": "string"}}},
	},
}

func loadSAMSchema() error {
	samSchema.once.Do(func() { samSchema.err = compileSAMSchema() })
	return samSchema.err
}

func compileSAMSchema() error {
	var parts map[string]json.RawMessage
	if err := json.Unmarshal([]byte(schema.SamSchema), &parts); err != nil {
		return err
	}
	if err := json.Unmarshal(parts["definitions"], &samSchema.raw); err != nil {
		return err
	}
	samSchema.decoded = map[string]any{}
	samSchema.byType = map[string]*jsonschema.Schema{}
	// The additions fail here, not when a template first uses them.
	for typ, add := range samSchemaAdditions {
		d, err := definition(typ)
		dp, _ := d["properties"].(map[string]any)
		if err != nil || dp == nil {
			return fmt.Errorf("samtemplate: the SAM schema has no %s to extend", typ)
		}
		for k, v := range add {
			if _, exists := dp[k]; exists {
				return fmt.Errorf("samtemplate: the SAM schema now has %s.%s; drop it from samSchemaAdditions", typ, k)
			}
			dp[k] = v
		}
	}
	top := map[string]any{}
	for k, v := range parts {
		if k == "definitions" || k == "$id" { // $id: goformation puts draft-04's URL there
			continue
		}
		d, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
		if err != nil {
			return err
		}
		top[k] = d
	}
	props, _ := top["properties"].(map[string]any)
	outputs, _ := props["Outputs"].(map[string]any)
	pp, _ := outputs["patternProperties"].(map[string]any)
	if props["Globals"] == nil || len(pp) != 1 {
		return errors.New("samtemplate: unexpected shape of the SAM schema's Globals or Outputs")
	}
	closeObjects(props["Globals"])
	for k := range pp {
		pp[k] = cfnOutput
	}
	// Resources are checked per type (see above).
	props["Resources"] = map[string]any{"type": "object",
		"additionalProperties": map[string]any{"type": "object", "required": []any{"Type"}}}
	var err error
	samSchema.top, err = compileWithDefinitions(top, "")
	return err
}

// definition returns the decoded definition called name; the caller holds
// samSchema.mu or is compileSAMSchema.
func definition(name string) (map[string]any, error) {
	if d, ok := samSchema.decoded[name].(map[string]any); ok {
		return d, nil
	}
	raw, ok := samSchema.raw[name]
	if !ok {
		return nil, fmt.Errorf("the SAM schema has no definition %s", name)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	d, _ := v.(map[string]any)
	if err != nil || d == nil {
		return nil, fmt.Errorf("the SAM schema's definition %s: %v", name, err)
	}
	closeObjects(d)
	samSchema.decoded[name] = d
	return d, nil
}

// closeObjects makes every object schema in s that lists its properties
// without saying whether others may appear forbid them (goformation's
// Globals sections; a definition should a later version leave one open),
// so that an unknown property is an error everywhere.
func closeObjects(s any) {
	m, ok := s.(map[string]any)
	if !ok {
		return
	}
	if _, lists := m["properties"]; lists {
		if _, says := m["additionalProperties"]; !says {
			m["additionalProperties"] = false
		}
	}
	for _, k := range []string{"properties", "patternProperties"} {
		sub, _ := m[k].(map[string]any)
		for _, v := range sub {
			closeObjects(v)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		sub, _ := m[k].([]any)
		for _, v := range sub {
			closeObjects(v)
		}
	}
	closeObjects(m["items"])
	closeObjects(m["additionalProperties"])
}

// compileWithDefinitions compiles doc, or with name set the definition of
// that name, together with the definitions it reaches through $ref. The
// caller holds samSchema.mu or is compileSAMSchema.
func compileWithDefinitions(doc map[string]any, name string) (*jsonschema.Schema, error) {
	defs := map[string]any{}
	var reach func(v any) error
	reach = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				n, ok := strings.CutPrefix(ref, "#/definitions/")
				if !ok {
					return fmt.Errorf("samtemplate: unexpected $ref %s in the SAM schema", ref)
				}
				n = strings.NewReplacer("~1", "/", "~0", "~").Replace(n)
				if _, done := defs[n]; !done {
					d, err := definition(n)
					if err != nil {
						return err
					}
					defs[n] = d
					if err := reach(d); err != nil {
						return err
					}
				}
			}
			for _, e := range x {
				if err := reach(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := reach(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// The definition is compiled at its place in the document, not
	// through a root {"$ref": …}, whose errors would read "validation
	// failed" without what failed.
	var at string
	if name != "" {
		at = "#/definitions/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
		doc = map[string]any{}
		if err := reach(map[string]any{"$ref": at}); err != nil {
			return nil, err
		}
	}
	if err := reach(doc); err != nil {
		return nil, err
	}
	whole := map[string]any{"definitions": defs}
	for k, v := range doc {
		whole[k] = v
	}
	c := jsonschema.NewCompiler()
	// goformation's schemas are draft-04 (their $id is draft-04's URL).
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(samSchemaURL, whole); err != nil {
		return nil, err
	}
	return c.Compile(samSchemaURL + at)
}

func schemaForType(typ string) (*jsonschema.Schema, error) {
	samSchema.mu.Lock()
	defer samSchema.mu.Unlock()
	if s, ok := samSchema.byType[typ]; ok {
		return s, nil
	}
	if _, err := definition(typ); err != nil {
		return nil, fmt.Errorf("samtemplate: the SAM schema has no resource type %s", typ)
	}
	s, err := compileWithDefinitions(nil, typ)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", typ, err)
	}
	samSchema.byType[typ] = s
	return s, nil
}

// CheckSchema validates raw, a template processed as Load does (Raw),
// against the SAM JSON schema and returns every problem, sorted.
func CheckSchema(raw map[string]any) ([]SchemaProblem, error) {
	if err := loadSAMSchema(); err != nil {
		return nil, err
	}
	doc, err := normalize(raw)
	if err != nil {
		return nil, err
	}
	top := doc.(map[string]any)
	if conds, ok := top["Conditions"].(map[string]any); ok {
		for k, v := range conds {
			if _, evaluated := v.(bool); evaluated {
				conds[k] = map[string]any{}
			}
		}
	}
	if params, ok := top["Parameters"].(map[string]any); ok {
		for _, p := range params {
			if pm, ok := p.(map[string]any); ok {
				for k, v := range pm {
					if n, ok := v.(json.Number); ok && k != "NoEcho" {
						pm[k] = n.String()
					}
				}
			}
		}
	}
	var out []SchemaProblem
	out = append(out, problems(samSchema.top.Validate(top), "", "")...)
	resources, _ := top["Resources"].(map[string]any)
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r, _ := resources[id].(map[string]any)
		typ, _ := r["Type"].(string)
		s, err := schemaForType(typ)
		if err != nil {
			out = append(out, SchemaProblem{Resource: id, Type: typ, Path: "/Type", Message: err.Error()})
			continue
		}
		out = append(out, problems(s.Validate(r), id, typ)...)
		if typ == "AWS::Serverless::Function" {
			out = append(out, eventProblems(r, id, typ)...)
		}
	}
	return specific(out), nil
}

// eventProblems checks each event of a SAM function against the schema
// definition of its Type.
func eventProblems(r map[string]any, id, typ string) []SchemaProblem {
	props, _ := r["Properties"].(map[string]any)
	events, _ := props["Events"].(map[string]any)
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []SchemaProblem
	for _, n := range names {
		ev, _ := events[n].(map[string]any)
		evType, _ := ev["Type"].(string)
		at := "/Properties/Events/" + n
		s, err := schemaForType("AWS::Serverless::Function." + evType + "Event")
		if err != nil {
			out = append(out, SchemaProblem{Resource: id, Type: typ, Path: at + "/Type", Message: fmt.Sprintf("event type %q is unknown to the SAM schema", evType)})
			continue
		}
		for _, p := range problems(s.Validate(ev["Properties"]), id, typ) {
			p.Path = at + "/Properties" + strings.TrimSuffix(p.Path, "/")
			out = append(out, p)
		}
	}
	return out
}

// specific drops a generic "validation failed" where a problem below the
// same place says what failed.
func specific(ps []SchemaProblem) []SchemaProblem {
	var out []SchemaProblem // not ps[:0]: the loop below reads all of ps
	for _, p := range ps {
		generic := p.Message == "validation failed" || strings.HasPrefix(p.Message, "'anyOf' failed")
		shadowed := false
		for _, q := range ps {
			if generic && q.Resource == p.Resource && q != p && strings.HasPrefix(q.Path, p.Path) && q.Message != p.Message {
				shadowed = true
				break
			}
		}
		if !shadowed {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

// normalize turns raw into what the validator expects (numbers as
// json.Number), through a JSON round trip, and drops null members: a
// property set to AWS::NoValue is absent in CloudFormation.
func normalize(raw map[string]any) (any, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	var drop func(any)
	drop = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if e == nil {
					delete(x, k)
					continue
				}
				drop(e)
			}
		case []any:
			for _, e := range x {
				drop(e)
			}
		}
	}
	drop(v)
	return v, nil
}

// problems flattens a validation error into its leaf messages: where in
// the instance, and what is wrong.
func problems(err error, id, typ string) []SchemaProblem {
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []SchemaProblem{{Resource: id, Type: typ, Path: "/", Message: err.Error()}}
	}
	var out []SchemaProblem
	seen := map[string]bool{}
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			p := SchemaProblem{Resource: id, Type: typ, Path: u.InstanceLocation, Message: u.Error.String()}
			if p.Path == "" {
				p.Path = "/"
			}
			if k := p.Path + "\x00" + p.Message; !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
		}
		for _, e := range u.Errors {
			walk(e)
		}
	}
	walk(*ve.BasicOutput())
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Message < out[j].Message
	})
	return out
}

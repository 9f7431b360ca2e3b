package samtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// checkIntrinsics checks the template as written (intrinsics not yet
// processed, in their long form) for what processing would hide.
// goformation's intrinsic handlers turn what they cannot resolve into
// null, and a null property is dropped like AWS::NoValue; the schema check
// would then see a well-formed template. CloudFormation rejects each of
// these:
//   - a literal null value;
//   - Fn::If naming no condition, or not of three arguments;
//   - Ref, Fn::GetAtt or a Fn::Sub variable naming no parameter, resource
//     or pseudo parameter (the tokens they become are valid strings), a
//     resource's or output's Condition naming no condition;
//   - an intrinsic object with other keys beside the function (goformation
//     drops them), or a function samtemplate does not resolve
//     (Fn::ImportValue, Fn::Cidr, …).
func checkIntrinsics(plain []byte) error {
	var doc map[string]any
	if err := json.Unmarshal(plain, &doc); err != nil {
		return err
	}
	c := intrinsicCheck{names: map[string]string{}, conditions: map[string]bool{}}
	for _, p := range pseudoParameters {
		c.names[p] = "pseudo"
	}
	params, _ := doc["Parameters"].(map[string]any)
	for k := range params {
		c.names[k] = "parameter"
	}
	resources, _ := doc["Resources"].(map[string]any)
	for k := range resources {
		c.names[k] = "resource"
	}
	conds, _ := doc["Conditions"].(map[string]any)
	for k := range conds {
		c.conditions[k] = true
	}
	for _, section := range []string{"Resources", "Outputs"} {
		entries, _ := doc[section].(map[string]any)
		for id, e := range entries {
			m, _ := e.(map[string]any)
			if cond, ok := m["Condition"]; ok {
				if name, _ := cond.(string); !c.conditions[name] {
					c.fail("/"+section+"/"+id+"/Condition", "no such condition %v", cond)
				}
			}
		}
	}
	c.walk(doc, "")
	if len(c.problems) == 0 {
		return nil
	}
	sort.Strings(c.problems)
	return errors.New(strings.Join(c.problems, "; "))
}

var pseudoParameters = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue",
	"AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

// resolved are the functions goformation resolves to a value; the others
// (Fn::ImportValue, Fn::Cidr, Fn::Transform, …) become null.
var resolved = map[string]bool{"Ref": true, "Fn::GetAtt": true, "Fn::Sub": true, "Fn::If": true,
	"Fn::Equals": true, "Fn::Not": true, "Fn::And": true, "Fn::Or": true, "Fn::Join": true,
	"Fn::Select": true, "Fn::Split": true, "Fn::Base64": true, "Fn::FindInMap": true, "Fn::GetAZs": true}

type intrinsicCheck struct {
	names      map[string]string // name → "parameter", "resource" or "pseudo"
	conditions map[string]bool
	problems   []string
}

func (c *intrinsicCheck) fail(path, format string, args ...any) {
	if path == "" {
		path = "/"
	}
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

// walk visits every value; path is its JSON pointer.
func (c *intrinsicCheck) walk(v any, path string) {
	switch x := v.(type) {
	case nil:
		c.fail(path, "null value (CloudFormation rejects nulls; leave the key out or use !Ref AWS::NoValue)")
	case []any:
		for i, e := range x {
			c.walk(e, fmt.Sprintf("%s/%d", path, i))
		}
	case map[string]any:
		for k, e := range x {
			if k == "Ref" || strings.HasPrefix(k, "Fn::") {
				if len(x) != 1 {
					c.fail(path, "%s beside other keys", k)
				}
				c.intrinsic(k, e, path)
			}
			c.walk(e, path+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
		}
	}
}

func (c *intrinsicCheck) intrinsic(fn string, arg any, path string) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			c.fail(path, "Ref of a %T, want a name", arg)
		} else if c.names[name] == "" {
			c.fail(path, "Ref to %s: no such parameter, resource or pseudo parameter", name)
		}
	case "Fn::GetAtt":
		var resource string
		switch a := arg.(type) {
		case string:
			resource, _, _ = strings.Cut(a, ".")
		case []any:
			if len(a) == 2 {
				if _, ok := a[1].(string); ok {
					resource, _ = a[0].(string)
				}
			}
		}
		if resource == "" {
			c.fail(path, "Fn::GetAtt wants Resource.Attribute or [Resource, Attribute]")
		} else if c.names[resource] != "resource" {
			c.fail(path, "Fn::GetAtt of %s: no such resource", resource)
		}
	case "Fn::Sub":
		var src string
		var vars map[string]any
		switch a := arg.(type) {
		case string:
			src = a
		case []any:
			if len(a) == 2 {
				src, _ = a[0].(string)
				vars, _ = a[1].(map[string]any)
			}
			if src == "" || vars == nil {
				c.fail(path, "Fn::Sub wants a string or [string, {variables}]")
				return
			}
		default:
			c.fail(path, "Fn::Sub wants a string or [string, {variables}]")
			return
		}
		for _, g := range subVar.FindAllStringSubmatch(src, -1) {
			name := g[2]
			if _, isVar := vars[name]; g[1] == "!" || isVar {
				continue
			}
			resource, _, attr := strings.Cut(name, ".")
			switch {
			case attr && c.names[resource] != "resource":
				c.fail(path, "Fn::Sub ${%s}: no such resource", name)
			case !attr && c.names[name] == "":
				c.fail(path, "Fn::Sub ${%s}: no such variable, parameter, resource or pseudo parameter", name)
			}
		}
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			c.fail(path, "Fn::If wants [condition, value if true, value if false]")
			return
		}
		if name, _ := a[0].(string); !c.conditions[name] {
			c.fail(path, "Fn::If on %v: no such condition", a[0])
		}
	default:
		if !resolved[fn] {
			c.fail(path, "%s: samtemplate does not resolve it (it would vanish from the checked template)", fn)
		}
	}
}

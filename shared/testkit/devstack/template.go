package devstack

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/timebridge/timebridge/infra/samtemplate"
)

// Template is the part of template.yaml the local stack is built from, so
// that local and cloud resources cannot drift: the table's keys and
// indexes, the queues and their redrive, the secrets, the functions with
// their environment, timeouts, HTTP routes, SQS sources and schedules.
type Template struct {
	StackName  string
	Parameters map[string]string // defaults
	Tables     []Table
	Queues     []Queue
	Secrets    []Secret
	Functions  []Function
}

// Table is an AWS::DynamoDB::Table.
type Table struct {
	LogicalID  string
	Name       string
	Attributes map[string]string // name → S/N/B
	HashKey    string
	RangeKey   string
	Indexes    []Index
	TTLAttr    string
}

// Index is a global secondary index.
type Index struct{ Name, HashKey, RangeKey string }

// Queue is an AWS::SQS::Queue.
type Queue struct {
	LogicalID         string
	Name              string
	VisibilityTimeout int
	DeadLetter        string // logical id of the DLQ
	MaxReceiveCount   int
}

// Secret is an AWS::SecretsManager::Secret.
type Secret struct {
	LogicalID string
	Name      string
}

// Function is an AWS::Serverless::Function.
type Function struct {
	LogicalID string
	Dir       string // functions/<dir>
	Timeout   int
	Env       map[string]string
	Routes    []Route // HttpApi events
	SQSQueue  string  // logical id of the queue of an SQS event
	BatchSize int     // of the SQS event
	// MaxConcurrency is the SQS event's ScalingConfig.MaximumConcurrency:
	// how many batches Lambda works on at once (0 = not set).
	MaxConcurrency int
	Schedules      []string // schedule expressions
}

// Route is one HTTP API route of a function.
type Route struct{ Method, Path string }

// ParseTemplate reads template.yaml with the template test's parser
// (infra/samtemplate, goformation), which keeps references as ${…} tokens,
// and resolves those tokens to local values: physical names, queue URLs
// (as "queue:<name>" until the queue exists), ARNs and pseudo parameters.
func ParseTemplate(path, stackName, region, account string) (*Template, error) {
	st, err := samtemplate.Load(path, nil)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	t := &Template{StackName: stackName, Parameters: map[string]string{}}
	for name, p := range st.CF.Parameters {
		if p.Default != nil {
			t.Parameters[name] = fmt.Sprint(p.Default)
		}
	}
	resources, _ := st.Raw["Resources"].(map[string]any)
	if len(resources) == 0 {
		return nil, fmt.Errorf("devstack: template has no Resources")
	}
	r := &resolver{t: t, region: region, account: account, types: map[string]string{}, names: map[string]string{}}
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Pass 1: physical names, so references resolve in any order.
	for _, id := range ids {
		typ, _ := st.Resource(id)["Type"].(string)
		r.types[id] = typ
		r.names[id] = stackName + "-" + id
	}
	for _, id := range ids {
		if r.types[id] == "AWS::Serverless::Function" {
			r.names[id] = id // local function names are the logical ids
			continue
		}
		p := st.Properties(id)
		for _, k := range []string{"TableName", "QueueName", "Name", "FunctionName"} {
			if n, ok := p[k].(string); ok {
				if v, err := r.resolve(n); err == nil && v != "" {
					r.names[id] = v
				}
			}
		}
	}
	integrations := map[string]string{} // integration id → function id
	var routes []struct{ key, integration string }
	for _, id := range ids {
		p := st.Properties(id)
		switch r.types[id] {
		case "AWS::ApiGatewayV2::Integration":
			integrations[id] = tokenTarget(str(p["IntegrationUri"]))
		case "AWS::ApiGatewayV2::Route":
			target := strings.TrimSuffix(strings.TrimPrefix(str(p["Target"]), "integrations/${"), "}")
			routes = append(routes, struct{ key, integration string }{str(p["RouteKey"]), target})
		case "AWS::DynamoDB::Table":
			tb := Table{LogicalID: id, Name: r.names[id], Attributes: map[string]string{}}
			for _, a := range list(p["AttributeDefinitions"]) {
				tb.Attributes[str(a["AttributeName"])] = str(a["AttributeType"])
			}
			tb.HashKey, tb.RangeKey = keys(p["KeySchema"])
			for _, g := range list(p["GlobalSecondaryIndexes"]) {
				h, rk := keys(g["KeySchema"])
				tb.Indexes = append(tb.Indexes, Index{Name: str(g["IndexName"]), HashKey: h, RangeKey: rk})
			}
			if ttl, ok := p["TimeToLiveSpecification"].(map[string]any); ok {
				tb.TTLAttr = str(ttl["AttributeName"])
			}
			t.Tables = append(t.Tables, tb)
		case "AWS::SQS::Queue":
			q := Queue{LogicalID: id, Name: r.names[id], VisibilityTimeout: num(p["VisibilityTimeout"])}
			if rp, ok := p["RedrivePolicy"].(map[string]any); ok {
				q.DeadLetter = tokenTarget(str(rp["deadLetterTargetArn"]))
				q.MaxReceiveCount = num(rp["maxReceiveCount"])
			}
			t.Queues = append(t.Queues, q)
		case "AWS::SecretsManager::Secret":
			t.Secrets = append(t.Secrets, Secret{LogicalID: id, Name: r.names[id]})
		}
	}
	fns, err := st.Functions()
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	for _, sf := range fns {
		f := Function{LogicalID: sf.LogicalID, Timeout: sf.Timeout, Env: map[string]string{},
			Dir: strings.ToLower(strings.TrimSuffix(sf.LogicalID, "Function"))}
		for k, v := range sf.Env {
			if f.Env[k], err = r.env(v); err != nil {
				return nil, fmt.Errorf("devstack: %s env %s: %w", sf.LogicalID, k, err)
			}
		}
		names := make([]string, 0, len(sf.Events))
		for name := range sf.Events {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			ev := sf.Events[name]
			ep, _ := ev["Properties"].(map[string]any)
			switch str(ev["Type"]) {
			case "HttpApi":
				f.Routes = append(f.Routes, Route{Method: strings.ToUpper(str(ep["Method"])), Path: str(ep["Path"])})
			case "SQS":
				f.SQSQueue = tokenTarget(str(ep["Queue"]))
				f.BatchSize = 10
				if b := num(ep["BatchSize"]); b > 0 {
					f.BatchSize = b
				}
				if sc, ok := ep["ScalingConfig"].(map[string]any); ok {
					f.MaxConcurrency = num(sc["MaximumConcurrency"])
				}
			case "Schedule", "ScheduleV2":
				expr := str(ep["Schedule"])
				if expr == "" {
					expr = str(ep["ScheduleExpression"])
				}
				f.Schedules = append(f.Schedules, expr)
			}
		}
		t.Functions = append(t.Functions, f)
	}
	// Routes declared as AWS::ApiGatewayV2::Route resources.
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.key, " ")
		fn := integrations[rt.integration]
		for i := range t.Functions {
			if t.Functions[i].LogicalID == fn {
				t.Functions[i].Routes = append(t.Functions[i].Routes, Route{Method: strings.ToUpper(method), Path: path})
			}
		}
	}
	sort.Slice(t.Functions, func(i, j int) bool { return t.Functions[i].LogicalID < t.Functions[j].LogicalID })
	return t, nil
}

// resolver turns samtemplate's ${…} tokens into local values.
type resolver struct {
	t       *Template
	region  string
	account string
	types   map[string]string
	names   map[string]string
}

var token = regexp.MustCompile(`\$\{([^}]*)\}`)

// env resolves an environment variable. A value that is one !Ref of a queue
// is its URL, written "queue:<name>" until the queue exists (Stack.env).
func (r *resolver) env(v string) (string, error) {
	if m := token.FindStringSubmatch(v); m != nil && m[0] == v && r.types[m[1]] == "AWS::SQS::Queue" {
		return "queue:" + r.names[m[1]], nil
	}
	return r.resolve(v)
}

// resolve replaces every token in s.
func (r *resolver) resolve(s string) (string, error) {
	var err error
	out := token.ReplaceAllStringFunc(s, func(m string) string {
		expr := token.FindStringSubmatch(m)[1]
		var v string
		var e error
		if id, attr, ok := strings.Cut(expr, "."); ok && !strings.HasPrefix(expr, "AWS::") {
			v, e = r.getAtt(id, attr)
		} else {
			v, e = r.ref(expr)
		}
		if e != nil && err == nil {
			err = e
		}
		return v
	})
	return out, err
}

func (r *resolver) ref(name string) (string, error) {
	switch name {
	case "AWS::StackName":
		return r.t.StackName, nil
	case "AWS::Region":
		return r.region, nil
	case "AWS::AccountId":
		return r.account, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	if _, ok := r.types[name]; !ok {
		return "", fmt.Errorf("unknown reference %s", name)
	}
	return r.names[name], nil
}

func (r *resolver) getAtt(id, attr string) (string, error) {
	name, ok := r.names[id]
	if !ok {
		return "", fmt.Errorf("unknown GetAtt target %s.%s", id, attr)
	}
	switch r.types[id] {
	case "AWS::SQS::Queue":
		if attr == "QueueUrl" || attr == "QueueName" {
			return name, nil
		}
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", r.region, r.account, name), nil
	case "AWS::DynamoDB::Table":
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", r.region, r.account, name), nil
	}
	return name, nil
}

// tokenTarget is the logical id a single ${X} or ${X.Attr} token names.
func tokenTarget(s string) string {
	m := token.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	id, _, _ := strings.Cut(m[1], ".")
	return id
}

func str(v any) string { s, _ := v.(string); return s }

// num reads a number property (JSON numbers are float64; CloudFormation
// also accepts numeric strings).
func num(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func list(v any) []map[string]any {
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func keys(v any) (hash, rng string) {
	for _, k := range list(v) {
		switch str(k["KeyType"]) {
		case "HASH":
			hash = str(k["AttributeName"])
		case "RANGE":
			rng = str(k["AttributeName"])
		}
	}
	return
}

package devstack

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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

// ParseTemplate reads template.yaml, resolving the intrinsic functions it
// uses (!Ref, !Sub, !GetAtt, !If/!Equals on parameters) to local values.
func ParseTemplate(path, stackName, region, account string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devstack: read template: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("devstack: parse template: %w", err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("devstack: empty template")
	}
	doc := root.Content[0]
	t := &Template{StackName: stackName, Parameters: map[string]string{}}
	r := &resolver{t: t, region: region, account: account, types: map[string]string{}, names: map[string]string{}}
	if params := get(doc, "Parameters"); params != nil {
		for i := 0; i+1 < len(params.Content); i += 2 {
			if d := get(params.Content[i+1], "Default"); d != nil {
				t.Parameters[params.Content[i].Value] = d.Value
			}
		}
	}
	resources := get(doc, "Resources")
	if resources == nil {
		return nil, fmt.Errorf("devstack: template has no Resources")
	}
	// Pass 1: physical names, so references resolve in any order.
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		typ := scalar(get(res, "Type"))
		r.types[id] = typ
		name := stackName + "-" + id
		if p := get(res, "Properties"); p != nil {
			for _, k := range []string{"TableName", "QueueName", "Name", "FunctionName"} {
				if n := get(p, k); n != nil {
					if v, err := r.value(n); err == nil && v != "" {
						name = v
					}
				}
			}
		}
		if typ == "AWS::Serverless::Function" {
			name = id // local function names are the logical ids
		}
		r.names[id] = name
	}
	globalEnv := map[string]*yaml.Node{}
	if g := get(doc, "Globals", "Function", "Environment", "Variables"); g != nil {
		for i := 0; i+1 < len(g.Content); i += 2 {
			globalEnv[g.Content[i].Value] = g.Content[i+1]
		}
	}
	globalTimeout := 3
	if n := get(doc, "Globals", "Function", "Timeout"); n != nil {
		globalTimeout, _ = strconv.Atoi(n.Value)
	}
	integrations := map[string]string{} // integration id → function id
	var routes []struct{ key, integration string }
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		p := get(res, "Properties")
		switch r.types[id] {
		case "AWS::ApiGatewayV2::Integration":
			integrations[id] = refTarget(get(p, "IntegrationUri"))
		case "AWS::ApiGatewayV2::Route":
			target := scalar(get(p, "Target")) // integrations/${X}
			target = strings.TrimSuffix(strings.TrimPrefix(target, "integrations/${"), "}")
			routes = append(routes, struct{ key, integration string }{scalar(get(p, "RouteKey")), target})
		case "AWS::DynamoDB::Table":
			tb := Table{LogicalID: id, Name: r.names[id], Attributes: map[string]string{}}
			for _, a := range seq(get(p, "AttributeDefinitions")) {
				tb.Attributes[scalar(get(a, "AttributeName"))] = scalar(get(a, "AttributeType"))
			}
			tb.HashKey, tb.RangeKey = keys(get(p, "KeySchema"))
			for _, g := range seq(get(p, "GlobalSecondaryIndexes")) {
				h, rk := keys(get(g, "KeySchema"))
				tb.Indexes = append(tb.Indexes, Index{Name: scalar(get(g, "IndexName")), HashKey: h, RangeKey: rk})
			}
			if ttl := get(p, "TimeToLiveSpecification"); ttl != nil {
				tb.TTLAttr = scalar(get(ttl, "AttributeName"))
			}
			t.Tables = append(t.Tables, tb)
		case "AWS::SQS::Queue":
			q := Queue{LogicalID: id, Name: r.names[id]}
			if v := get(p, "VisibilityTimeout"); v != nil {
				q.VisibilityTimeout, _ = strconv.Atoi(v.Value)
			}
			if rp := get(p, "RedrivePolicy"); rp != nil {
				if dl := get(rp, "deadLetterTargetArn"); dl != nil {
					q.DeadLetter = refTarget(dl)
				}
				if m := get(rp, "maxReceiveCount"); m != nil {
					q.MaxReceiveCount, _ = strconv.Atoi(m.Value)
				}
			}
			t.Queues = append(t.Queues, q)
		case "AWS::SecretsManager::Secret":
			t.Secrets = append(t.Secrets, Secret{LogicalID: id, Name: r.names[id]})
		case "AWS::Serverless::Function":
			f := Function{LogicalID: id, Timeout: globalTimeout, Env: map[string]string{}}
			f.Dir = strings.ToLower(strings.TrimSuffix(id, "Function"))
			if v := get(p, "Timeout"); v != nil {
				f.Timeout, _ = strconv.Atoi(v.Value)
			}
			env := map[string]*yaml.Node{}
			for k, v := range globalEnv {
				env[k] = v
			}
			if fe := get(p, "Environment", "Variables"); fe != nil {
				for i := 0; i+1 < len(fe.Content); i += 2 {
					env[fe.Content[i].Value] = fe.Content[i+1]
				}
			}
			for k, n := range env {
				v, err := r.value(n)
				if err != nil {
					return nil, fmt.Errorf("devstack: %s env %s: %w", id, k, err)
				}
				f.Env[k] = v
			}
			if events := get(p, "Events"); events != nil {
				for j := 0; j+1 < len(events.Content); j += 2 {
					ev := events.Content[j+1]
					ep := get(ev, "Properties")
					switch scalar(get(ev, "Type")) {
					case "HttpApi":
						f.Routes = append(f.Routes, Route{Method: strings.ToUpper(scalar(get(ep, "Method"))), Path: scalar(get(ep, "Path"))})
					case "SQS":
						f.SQSQueue = refTarget(get(ep, "Queue"))
						f.BatchSize = 10
						if b := get(ep, "BatchSize"); b != nil {
							f.BatchSize, _ = strconv.Atoi(b.Value)
						}
						if c := get(ep, "ScalingConfig", "MaximumConcurrency"); c != nil {
							f.MaxConcurrency, _ = strconv.Atoi(c.Value)
						}
					case "Schedule", "ScheduleV2":
						expr := get(ep, "Schedule")
						if expr == nil {
							expr = get(ep, "ScheduleExpression")
						}
						f.Schedules = append(f.Schedules, scalar(expr))
					}
				}
			}
			t.Functions = append(t.Functions, f)
		}
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

type resolver struct {
	t       *Template
	region  string
	account string
	types   map[string]string
	names   map[string]string
}

// value resolves a property to a string for the local stack.
func (r *resolver) value(n *yaml.Node) (string, error) {
	switch {
	case n == nil:
		return "", nil
	case n.Tag == "!Ref" || (n.Kind == yaml.MappingNode && get(n, "Ref") != nil):
		name := n.Value
		if n.Kind == yaml.MappingNode {
			name = get(n, "Ref").Value
		}
		return r.ref(name)
	case n.Tag == "!Sub" || (n.Kind == yaml.MappingNode && get(n, "Fn::Sub") != nil):
		s := n.Value
		if n.Kind == yaml.MappingNode {
			s = get(n, "Fn::Sub").Value
		}
		return r.sub(s)
	case n.Tag == "!GetAtt" || (n.Kind == yaml.MappingNode && get(n, "Fn::GetAtt") != nil):
		target := n.Value
		if n.Kind == yaml.MappingNode {
			target = scalar(get(n, "Fn::GetAtt"))
		}
		if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
			target = n.Content[0].Value + "." + n.Content[1].Value
		}
		return r.getAtt(target)
	case n.Kind == yaml.ScalarNode:
		return n.Value, nil
	}
	return "", fmt.Errorf("unsupported value at line %d", n.Line)
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
	if v, ok := r.t.Parameters[name]; ok {
		return v, nil
	}
	typ, ok := r.types[name]
	if !ok {
		return "", fmt.Errorf("unknown reference %s", name)
	}
	if typ == "AWS::SQS::Queue" {
		// Ref of a queue is its URL.
		return "queue:" + r.names[name], nil
	}
	return r.names[name], nil
}

func (r *resolver) getAtt(target string) (string, error) {
	id, attr, _ := strings.Cut(target, ".")
	name, ok := r.names[id]
	if !ok {
		return "", fmt.Errorf("unknown GetAtt target %s", target)
	}
	switch r.types[id] {
	case "AWS::SQS::Queue":
		if attr == "QueueUrl" {
			return "queue:" + name, nil
		}
		if attr == "QueueName" {
			return name, nil
		}
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", r.region, r.account, name), nil
	case "AWS::DynamoDB::Table":
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", r.region, r.account, name), nil
	}
	return name, nil
}

func (r *resolver) sub(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		b.WriteString(s[:i])
		expr := s[i+2 : i+j]
		var v string
		var err error
		if strings.Contains(expr, ".") {
			v, err = r.getAtt(expr)
		} else {
			v, err = r.ref(expr)
		}
		if err != nil {
			return "", err
		}
		b.WriteString(strings.TrimPrefix(v, "queue:"))
		s = s[i+j+1:]
	}
}

// get walks mapping keys.
func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func scalar(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

func keys(ks *yaml.Node) (hash, rng string) {
	for _, k := range seq(ks) {
		switch scalar(get(k, "KeyType")) {
		case "HASH":
			hash = scalar(get(k, "AttributeName"))
		case "RANGE":
			rng = scalar(get(k, "AttributeName"))
		}
	}
	return
}

// refTarget returns the logical id a !GetAtt X.Arn / !Ref X points to.
func refTarget(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
		return n.Content[0].Value
	}
	if n.Kind == yaml.MappingNode {
		for _, k := range []string{"Fn::GetAtt", "Ref"} {
			if v := get(n, k); v != nil {
				return refTarget(v)
			}
		}
	}
	id, _, _ := strings.Cut(n.Value, ".")
	return id
}

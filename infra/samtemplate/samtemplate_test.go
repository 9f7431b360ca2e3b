package samtemplate_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/infra/samtemplate"
	"github.com/timebridge/timebridge/shared/api"
	"github.com/timebridge/timebridge/shared/connect"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/webhook"
)

// root is the repository root (go test runs in the package directory).
var root = filepath.Join("..", "..")

const module = "github.com/timebridge/timebridge/"

// needs is what a function touches, stated here once and checked twice:
// against the function's wiring in functions/<dir> (what it constructs) and
// against the template (what its role grants). The IAM actions are derived
// from the consumer-side interfaces through which the code reaches AWS, so
// a new method on one of them is a new action to grant.
type needs struct {
	// store.New: store.DynamoDBAPI on the table, Query on its indexes.
	store bool
	// tableKeys, when set, narrows store: only these DynamoDB actions, each
	// on items whose partition key matches one of the patterns
	// (dynamodb:LeadingKeys), and nothing on the indexes. The functions'
	// actual calls are checked against it (TestRestrictedRolesCoverTheCode).
	tableKeys map[string][]string
	// queue.NewSender: queue.SQSAPI on the runs queue.
	send bool
	// The runs queue's SQS event, plus this interface of the handler's own
	// calls (nil: no SQS event).
	consume reflect.Type
	// Vault secret family → the vault interface of the code that uses it.
	vault map[string]reflect.Type
	// config.NeedAdmin: reads the admin secret (auth.SecretsManagerAPI).
	admin bool
}

var want = map[string]needs{
	"ApiFunction": {store: true, send: true, admin: true, vault: map[string]reflect.Type{
		"connectors/": reflect.TypeFor[api.Vault](), // tokens: written on create/update, read for tests and catalogs
		"profiles/":   reflect.TypeFor[api.Vault](), // webhook secrets: written on create and rotation
	}},
	"WebhookFunction": {store: true, send: true, vault: map[string]reflect.Type{
		"profiles/": reflect.TypeFor[webhook.Secrets](),
	}, tableKeys: map[string][]string{
		"GetItem":    {"PROFILE"},
		"PutItem":    {"DELIVERY#*", "SLOT#*", "RUN#*"},
		"DeleteItem": {"DELIVERY#*"},
		"UpdateItem": {"SLOT#*"},
	}},
	"SchedulerFunction": {store: true, send: true, tableKeys: map[string][]string{
		"Query":        {"PROFILE"},
		"BatchGetItem": {"HEALTH#*"},
		"PutItem":      {"LEASE#sched-*", "RUN#*"},
		"DeleteItem":   {"LEASE#sched-*"},
	}},
	// send: a range run that outlasts its invocation queues its continuation.
	"ReconcileFunction": {store: true, send: true, consume: reflect.TypeFor[reconcile.SQSAPI](), vault: map[string]reflect.Type{
		"connectors/": reflect.TypeFor[connect.Secrets](),
	}},
}

// vaultActions maps the vault's methods to the Secrets Manager calls they
// make (shared/vault: Put creates, or stores a new version when the secret
// exists).
var vaultActions = map[string][]string{
	"Get":       {"GetSecretValue"},
	"GetSecret": {"GetSecretValue"},
	"GetFresh":  {"GetSecretValue"},
	"Put":       {"CreateSecret", "PutSecretValue"},
	"Delete":    {"DeleteSecret"},
}

// eventSourceMappingActions are what Lambda's SQS poller calls with the
// function's role.
var eventSourceMappingActions = []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}

func loadTemplate(t *testing.T, params map[string]string) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"), params)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func functions(t *testing.T, tmpl *samtemplate.Template) []samtemplate.Function {
	t.Helper()
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("the template has no AWS::Serverless::Function")
	}
	return fns
}

// only returns the single resource of type typ.
// The stack's two secrets: the admin's, and the one CloudFront sends to the
// API (shared/edge).
const (
	adminSecretID  = "AdminSecret"
	originSecretID = "OriginSecret"
)

func secrets(t *testing.T, tmpl *samtemplate.Template) (admin, origin string) {
	t.Helper()
	ids := tmpl.ResourcesOfType("AWS::SecretsManager::Secret")
	slices.Sort(ids)
	if !slices.Equal(ids, []string{adminSecretID, originSecretID}) {
		t.Fatalf("secrets %v, want %s and %s", ids, adminSecretID, originSecretID)
	}
	return adminSecretID, originSecretID
}

func only(t *testing.T, tmpl *samtemplate.Template, typ string) string {
	t.Helper()
	ids := tmpl.ResourcesOfType(typ)
	if len(ids) != 1 {
		t.Fatalf("want exactly one %s, have %v", typ, ids)
	}
	return ids[0]
}

// tokenTarget returns X for "${X}" or "${X.Attr}".
func tokenTarget(tok string) (id, attr string, ok bool) {
	if !strings.HasPrefix(tok, "${") || !strings.HasSuffix(tok, "}") || strings.Count(tok, "${") != 1 {
		return "", "", false
	}
	id, attr, _ = strings.Cut(tok[2:len(tok)-1], ".")
	return id, attr, true
}

// functionDir is the functions/<dir> of a logical id; shared/testkit/devstack
// derives it the same way, so the convention is load-bearing.
func functionDir(logicalID string) string {
	return strings.ToLower(strings.TrimSuffix(logicalID, "Function"))
}

func methods(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumMethod() {
		out = append(out, typ.Method(i).Name)
	}
	return out
}

// TestTemplate stands in for sam validate / cfn-lint and for reviewing IAM
// by hand. It parses template.yaml (goformation, see the package comment)
// and checks, each in its own subtest:
//
//   - build targets: every function has a build-<LogicalId> target whose
//     make -n output is the arm64, CGO_ENABLED=0, lambda.norpc build of an
//     existing functions/<dir>, and every functions/<dir> is in the template;
//   - runtime: provided.al2023, arm64, bootstrap, BuildMethod makefile;
//   - environment: every variable config.Load (called with a recording
//     getenv and the function's own config.Need flags, read from its main)
//     reads is set, nothing else is, TIMEBRIDGE_LOCAL_MODE never is, and
//     the values name the resources the grants are checked against;
//   - grants: the needs table agrees with what each main constructs, and
//     each function's role grants exactly the actions of the interfaces it
//     uses on exactly its table, indexes, queue and secret families;
//   - no wildcard actions or resources, no managed policies;
//   - the queue: visibility timeout, DLQ redrive and retention, partial
//     batch responses, batch size;
//   - the table: exactly what store.CreateTable creates (recorded through a
//     fake DynamoDB client), on-demand, TTL, point-in-time recovery;
//   - the HTTP API routes, integrations, permissions and the CloudFront
//     behaviours in front of them;
//   - the admin secret: what CloudFormation would generate parses with
//     shared/auth and lets the admin log in, in both parameter modes;
//   - alarms, outputs, and (without -short) real linux/arm64 builds.
func TestTemplate(t *testing.T) {
	tmpl := loadTemplate(t, nil)
	fns := functions(t, tmpl)
	byID := map[string]samtemplate.Function{}
	for _, f := range fns {
		byID[f.LogicalID] = f
	}
	for id := range want {
		if _, ok := byID[id]; !ok {
			t.Errorf("the template lacks %s", id)
		}
	}
	wirings := map[string]wiring{}
	for _, f := range fns {
		if _, ok := want[f.LogicalID]; !ok {
			t.Errorf("%s is not in this test's table of what each function needs; add it", f.LogicalID)
			continue
		}
		wirings[f.LogicalID] = readWiring(t, functionDir(f.LogicalID))
	}
	table := only(t, tmpl, "AWS::DynamoDB::Table")
	adminSecret, originSecret := secrets(t, tmpl)
	_ = originSecret
	distribution := only(t, tmpl, "AWS::CloudFront::Distribution")
	runQueue, dlq := runQueues(t, tmpl, fns)

	t.Run("build targets", func(t *testing.T) { testBuildTargets(t, fns) })
	t.Run("runtime", func(t *testing.T) {
		for _, f := range fns {
			if f.Runtime != "provided.al2023" || f.Handler != "bootstrap" || !slices.Equal(f.Architectures, []string{"arm64"}) {
				t.Errorf("%s: runtime %q handler %q architectures %v, want provided.al2023, bootstrap, [arm64]", f.LogicalID, f.Runtime, f.Handler, f.Architectures)
			}
			if f.BuildMethod != "makefile" || f.CodeURI != "." {
				t.Errorf("%s: BuildMethod %q CodeUri %q, want makefile and . (the root Makefile builds every function)", f.LogicalID, f.BuildMethod, f.CodeURI)
			}
			if tr, _ := tmpl.Properties(f.LogicalID)["Tracing"].(string); tr == "Active" {
				t.Errorf("%s: active X-Ray tracing needs xray:* grants on Resource \"*\"", f.LogicalID)
			}
		}
		if tr := globalFunction(tmpl)["Tracing"]; tr == "Active" {
			t.Error("Globals: active X-Ray tracing needs xray:* grants on Resource \"*\"")
		}
	})
	t.Run("environment", func(t *testing.T) {
		for _, f := range fns {
			w, ok := wirings[f.LogicalID]
			if !ok {
				continue
			}
			t.Run(f.LogicalID, func(t *testing.T) {
				testEnvironment(t, tmpl, f, w, table, runQueue, adminSecret, distribution)
			})
		}
	})
	t.Run("grants", func(t *testing.T) {
		testNeedsMatchCode(t, fns, wirings)
		for _, f := range fns {
			if _, ok := want[f.LogicalID]; !ok {
				continue
			}
			t.Run(f.LogicalID, func(t *testing.T) {
				testGrants(t, tmpl, f, table, runQueue, adminSecret)
			})
		}
	})
	t.Run("iam has no wildcards", func(t *testing.T) { testNoWildcards(t, tmpl) })
	t.Run("queue", func(t *testing.T) { testQueue(t, tmpl, fns, runQueue, dlq) })
	t.Run("table matches store.CreateTable", func(t *testing.T) { testTable(t, tmpl, table) })
	t.Run("http routes", func(t *testing.T) { testHTTP(t, tmpl, byID, distribution) })
	t.Run("admin secret", func(t *testing.T) { testAdminSecret(t, adminSecret) })
	t.Run("alarms", func(t *testing.T) { testAlarms(t, tmpl, fns, dlq) })
	t.Run("outputs", func(t *testing.T) { testOutputs(t, tmpl, distribution) })
	t.Run("bootstrap binaries", func(t *testing.T) { testBinaries(t, fns) })
}

func globalFunction(tmpl *samtemplate.Template) map[string]any {
	g, _ := tmpl.Raw["Globals"].(map[string]any)
	f, _ := g["Function"].(map[string]any)
	return f
}

// runQueues finds the queue the reconcile function consumes and its DLQ.
func runQueues(t *testing.T, tmpl *samtemplate.Template, fns []samtemplate.Function) (queueID, dlqID string) {
	t.Helper()
	for _, f := range fns {
		for name, ev := range f.Events {
			if ev["Type"] != "SQS" {
				continue
			}
			if queueID != "" {
				t.Fatalf("%s.%s: a second SQS event; this test expects one runs queue", f.LogicalID, name)
			}
			p, _ := ev["Properties"].(map[string]any)
			q, _ := p["Queue"].(string)
			id, attr, ok := tokenTarget(q)
			if !ok || attr != "Arn" {
				t.Fatalf("%s.%s: Queue %q, want !GetAtt <queue>.Arn", f.LogicalID, name, q)
			}
			queueID = id
		}
	}
	if queueID == "" {
		t.Fatal("no function has an SQS event")
	}
	rp, _ := tmpl.Properties(queueID)["RedrivePolicy"].(map[string]any)
	target, _ := rp["deadLetterTargetArn"].(string)
	dlqID, attr, ok := tokenTarget(target)
	if !ok || attr != "Arn" || tmpl.Resource(dlqID)["Type"] != "AWS::SQS::Queue" {
		t.Fatalf("%s: RedrivePolicy.deadLetterTargetArn %q, want !GetAtt <dead-letter queue>.Arn", queueID, target)
	}
	return queueID, dlqID
}

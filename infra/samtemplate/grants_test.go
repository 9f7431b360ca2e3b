package samtemplate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/timebridge/timebridge/infra/samtemplate"
	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/vault"
)

// testNeedsMatchCode checks the needs table against what each main wires.
func testNeedsMatchCode(t *testing.T, fns []samtemplate.Function, wirings map[string]wiring) {
	built, granted := map[string]bool{}, map[string]bool{}
	for _, f := range fns {
		n, ok := want[f.LogicalID]
		w, ok2 := wirings[f.LogicalID]
		if !ok || !ok2 {
			continue
		}
		hasSQSEvent := false
		for _, ev := range f.Events {
			hasSQSEvent = hasSQSEvent || ev["Type"] == "SQS"
		}
		check := func(what string, table, code bool) {
			if table != code {
				t.Errorf("%s: this test's needs table says %s=%v, functions/%s says %v", f.LogicalID, what, table, functionDir(f.LogicalID), code)
			}
		}
		c := w.calls
		check("store (store.New)", n.store, c[module+"shared/store.New"])
		check("send (queue.NewSender)", n.send, c[module+"shared/queue.NewSender"])
		check("consume (an SQS event)", n.consume != nil, hasSQSEvent)
		check("vault (vault.New)", len(n.vault) > 0, c[module+"shared/vault.New"])
		check("admin (config.NeedAdmin)", n.admin, w.needAdmin)
		check("an SQS client (awsconfig.SQS)", n.send || n.consume != nil, c[module+"shared/awsconfig.SQS"])
		check("a Secrets Manager client (awsconfig.SecretsManager)", len(n.vault) > 0 || n.admin, c[module+"shared/awsconfig.SecretsManager"])
		check("a DynamoDB client (awsconfig.DynamoDB)", n.store, c[module+"shared/awsconfig.DynamoDB"])
		// Vault names are built by the vault's name functions
		// (vault.ConnectorToken: connectors/<id>/token, vault.WebhookSecret:
		// profiles/<id>/webhook-secret) or as "<family>/" + id + "/…"; a
		// function whose packages build names under a family, directly or
		// by calling one of those functions, must be granted it. The
		// reverse holds across all functions: every granted family is
		// built somewhere.
		for pkg := range w.imports {
			for _, fam := range vaultFamilies(t, pkg) {
				built[fam] = true
				if n.vault[fam] == nil {
					t.Errorf("%s: %s builds vault names under %q, the needs table grants no access to them", f.LogicalID, pkg, fam)
				}
			}
		}
		for fam := range n.vault {
			granted[fam] = true
		}
	}
	for fam := range granted {
		if !built[fam] {
			t.Errorf("vault family %q is granted, but no function's code builds names under it", fam)
		}
	}
	if got := vault.WebhookSecret("P"); !strings.HasPrefix(got, "profiles/") {
		t.Errorf("webhook secrets are named %q, the grants assume profiles/<id>/…", got)
	}
	// The vault method → action map covers exactly what the vault calls.
	var mapped []string
	for _, acts := range vaultActions {
		mapped = append(mapped, acts...)
	}
	for _, m := range methods(reflect.TypeFor[vault.SecretsAPI]()) {
		if !slices.Contains(mapped, m) {
			t.Errorf("vault.SecretsAPI has %s, which vaultActions does not map any vault method to", m)
		}
	}
	for _, a := range mapped {
		if !slices.Contains(methods(reflect.TypeFor[vault.SecretsAPI]()), a) {
			t.Errorf("vaultActions names %s, which vault.SecretsAPI does not call", a)
		}
	}
}

// grant is one action on one resource, for DynamoDB optionally only on
// items whose partition key matches keys (dynamodb:LeadingKeys).
type grant struct{ action, resource, keys string }

func (g grant) String() string {
	if g.keys != "" {
		return g.action + " on " + g.resource + " for keys " + g.keys
	}
	return g.action + " on " + g.resource
}

// iamActions are the IAM actions an SDK call needs: its own name, except
// for a write transaction, which IAM authorizes by the writes inside it
// (DynamoDB has no TransactWriteItems action; the store's transactions put,
// update and delete).
func iamActions(service, method string) []string {
	if service == "dynamodb" && method == "TransactWriteItems" {
		return []string{"PutItem", "UpdateItem", "DeleteItem"}
	}
	return []string{method}
}

func expectedGrants(t *testing.T, f samtemplate.Function, table, runQueue, adminSecret string) map[grant]bool {
	n := want[f.LogicalID]
	out := map[grant]bool{}
	add := func(service string, typ reflect.Type, resource string) {
		for _, m := range methods(typ) {
			for _, a := range iamActions(service, m) {
				out[grant{service + ":" + a, resource, ""}] = true
			}
		}
	}
	switch {
	case n.store && n.tableKeys != nil:
		for action, patterns := range n.tableKeys {
			if !slices.Contains(methods(reflect.TypeFor[store.DynamoDBAPI]()), action) {
				t.Errorf("tableKeys names %s, which store.DynamoDBAPI does not call", action)
			}
			for _, p := range patterns {
				out[grant{"dynamodb:" + action, samtemplate.GetAtt(table, "Arn"), p}] = true
			}
		}
	case n.store:
		add("dynamodb", reflect.TypeFor[store.DynamoDBAPI](), samtemplate.GetAtt(table, "Arn"))
		for _, index := range storeIndexes() {
			out[grant{"dynamodb:Query", samtemplate.GetAtt(table, "Arn") + "/index/" + index, ""}] = true
		}
	}
	if n.send {
		add("sqs", reflect.TypeFor[queue.SQSAPI](), samtemplate.GetAtt(runQueue, "Arn"))
	}
	if n.consume != nil {
		add("sqs", n.consume, samtemplate.GetAtt(runQueue, "Arn"))
		for _, a := range eventSourceMappingActions {
			out[grant{a, samtemplate.GetAtt(runQueue, "Arn"), ""}] = true
		}
	}
	// Vault names are <TIMEBRIDGE_SECRET_PREFIX>/<family><id>/…, and the ARN
	// of a secret ends in its name plus "-" and six random characters.
	prefix := f.Env["TIMEBRIDGE_SECRET_PREFIX"]
	for fam, typ := range n.vault {
		arn := "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:" + prefix + "/" + fam + "*"
		for _, m := range methods(typ) {
			acts, ok := vaultActions[m]
			if !ok {
				t.Errorf("%v has method %s, which vaultActions does not map to Secrets Manager calls", typ, m)
			}
			for _, a := range acts {
				out[grant{"secretsmanager:" + a, arn, ""}] = true
			}
		}
	}
	if n.admin {
		// The admin secret for logins, the origin secret for edge.Guard
		// (both read through auth.FromSecretsManager).
		add("secretsmanager", reflect.TypeFor[auth.SecretsManagerAPI](), samtemplate.Ref(adminSecret))
		add("secretsmanager", reflect.TypeFor[auth.SecretsManagerAPI](), samtemplate.Ref(originSecretID))
	}
	return out
}

var storeIndexOnce = sync.OnceValues(func() (*dynamodb.CreateTableInput, *dynamodb.UpdateTimeToLiveInput) {
	fake := &recordingDynamoDB{}
	if err := store.CreateTable(context.Background(), fake, "t"); err != nil {
		panic(err)
	}
	return fake.create, fake.ttl
})

// storeIndexes are the names of the indexes store.CreateTable creates. A
// function with the whole store may query each of them: the store's
// methods decide which, and every index projects items of the table the
// role already reads.
func storeIndexes() []string {
	in, _ := storeIndexOnce()
	var out []string
	for _, g := range in.GlobalSecondaryIndexes {
		out = append(out, aws.ToString(g.IndexName))
	}
	return out
}

// roleStatements returns the Allow statements of a function's role.
func roleStatements(t *testing.T, tmpl *samtemplate.Template, f samtemplate.Function) []map[string]any {
	t.Helper()
	roleID, attr, ok := tokenTarget(f.Role)
	if !ok || attr != "Arn" || tmpl.Resource(roleID)["Type"] != "AWS::IAM::Role" {
		t.Fatalf("Role %q, want !GetAtt <its own AWS::IAM::Role>.Arn (SAM's generated roles add AWS managed policies on Resource \"*\")", f.Role)
	}
	p := tmpl.Properties(roleID)
	if arns := samtemplate.StringList(p["ManagedPolicyArns"]); len(arns) > 0 {
		t.Errorf("%s attaches managed policies %v; state the grants inline", roleID, arns)
	}
	trust, _ := json.Marshal(p["AssumeRolePolicyDocument"])
	if !bytes.Contains(trust, []byte(`"lambda.amazonaws.com"`)) {
		t.Errorf("%s is not assumable by Lambda: %s", roleID, trust)
	}
	var out []map[string]any
	pols, _ := p["Policies"].([]any)
	for _, pol := range pols {
		pm, _ := pol.(map[string]any)
		doc, _ := pm["PolicyDocument"].(map[string]any)
		sts, _ := doc["Statement"].([]any)
		for _, s := range sts {
			st, _ := s.(map[string]any)
			out = append(out, st)
		}
	}
	return out
}

func testGrants(t *testing.T, tmpl *samtemplate.Template, f samtemplate.Function, table, runQueue, adminSecret string) {
	// Roles are not shared: one function's needs must not widen another's.
	for _, other := range functionsUsingRole(tmpl, f.Role) {
		if other != f.LogicalID {
			t.Errorf("shares its role with %s", other)
		}
	}
	wantG := expectedGrants(t, f, table, runQueue, adminSecret)
	got := map[grant]bool{}
	for _, st := range roleStatements(t, tmpl, f) {
		if st["Effect"] != "Allow" {
			continue
		}
		acts := samtemplate.StringList(st["Action"])
		res := samtemplate.StringList(st["Resource"])
		if strings.HasPrefix(acts[0], "logs:") {
			testLogsStatement(t, tmpl, f, acts, res)
			continue
		}
		keys := []string{""}
		if c, ok := st["Condition"]; ok {
			keys = leadingKeys(t, c)
		}
		for _, a := range acts {
			for _, r := range res {
				for _, k := range keys {
					got[grant{a, r, k}] = true
				}
			}
		}
	}
	var missing, extra []string
	for g := range wantG {
		if !got[g] {
			missing = append(missing, g.String())
		}
	}
	for g := range got {
		if !wantG[g] {
			extra = append(extra, g.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, g := range missing {
		t.Errorf("not granted (the code needs it): %s", g)
	}
	for _, g := range extra {
		t.Errorf("granted but not needed: %s", g)
	}
}

func functionsUsingRole(tmpl *samtemplate.Template, role string) []string {
	var out []string
	fns, _ := tmpl.Functions()
	for _, f := range fns {
		if f.Role == role {
			out = append(out, f.LogicalID)
		}
	}
	return out
}

// testLogsStatement: writing to the function's own log group only. The log
// group is named after FunctionName, which is how Lambda finds it.
func testLogsStatement(t *testing.T, tmpl *samtemplate.Template, f samtemplate.Function, acts, res []string) {
	sort.Strings(acts)
	if !slices.Equal(acts, []string{"logs:CreateLogStream", "logs:PutLogEvents"}) {
		t.Errorf("logs actions %v, want CreateLogStream and PutLogEvents", acts)
	}
	if f.FunctionName == "" {
		t.Error("no FunctionName: its log group name (/aws/lambda/<name>) is unknown to the template")
		return
	}
	var group string
	for _, id := range tmpl.ResourcesOfType("AWS::Logs::LogGroup") {
		if tmpl.Properties(id)["LogGroupName"] == "/aws/lambda/"+f.FunctionName {
			group = id
		}
	}
	if group == "" {
		t.Errorf("no AWS::Logs::LogGroup named /aws/lambda/%s", f.FunctionName)
		return
	}
	if !slices.Equal(res, []string{samtemplate.GetAtt(group, "Arn")}) {
		t.Errorf("logs grants on %v, want only %s", res, samtemplate.GetAtt(group, "Arn"))
	}
	if _, ok := tmpl.Properties(group)["RetentionInDays"]; !ok {
		t.Errorf("%s keeps logs forever (no RetentionInDays)", group)
	}
}

func testNoWildcards(t *testing.T, tmpl *samtemplate.Template) {
	roles := tmpl.ResourcesOfType("AWS::IAM::Role")
	if len(roles) == 0 {
		t.Fatal("no IAM roles")
	}
	for _, id := range roles {
		pols, _ := tmpl.Properties(id)["Policies"].([]any)
		for _, pol := range pols {
			pm, _ := pol.(map[string]any)
			doc, _ := pm["PolicyDocument"].(map[string]any)
			sts, _ := doc["Statement"].([]any)
			for _, s := range sts {
				st, _ := s.(map[string]any)
				if _, ok := st["NotAction"]; ok {
					t.Errorf("%s: NotAction grants everything else", id)
				}
				if _, ok := st["NotResource"]; ok {
					t.Errorf("%s: NotResource grants everything else", id)
				}
				for _, a := range samtemplate.StringList(st["Action"]) {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %q", id, a)
					}
				}
				for _, r := range samtemplate.StringList(st["Resource"]) {
					if r == "*" || strings.HasPrefix(r, "*") || r == "" {
						t.Errorf("%s: resource %q", id, r)
					}
				}
			}
		}
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		if ids := tmpl.ResourcesOfType(typ); len(ids) > 0 {
			t.Errorf("%s resources %v escape this test; put the statements on the function roles", typ, ids)
		}
	}
	for _, f := range functionsOf(tmpl) {
		if _, ok := tmpl.Properties(f)["Policies"]; ok {
			t.Errorf("%s: SAM Policies create a second role; grant on its own role", f)
		}
	}
}

func functionsOf(tmpl *samtemplate.Template) []string {
	return tmpl.ResourcesOfType("AWS::Serverless::Function")
}

// leadingKeys reads a statement's only allowed condition, a
// ForAllValues:StringLike on dynamodb:LeadingKeys ("ForAllValues": every
// key the request touches must match).
func leadingKeys(t *testing.T, c any) []string {
	t.Helper()
	m, _ := c.(map[string]any)
	like, _ := m["ForAllValues:StringLike"].(map[string]any)
	keys := samtemplate.StringList(like["dynamodb:LeadingKeys"])
	if len(m) != 1 || len(like) != 1 || len(keys) == 0 {
		t.Errorf("condition %v: only ForAllValues:StringLike on dynamodb:LeadingKeys is expected", c)
		return []string{"?"}
	}
	return keys
}

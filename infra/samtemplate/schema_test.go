package samtemplate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/schema"

	"github.com/timebridge/timebridge/infra/samtemplate"
)

// TestTemplateMatchesTheSAMSchema validates template.yaml, with the
// parameters of every samconfig.toml environment, against the published
// SAM JSON schema: every property name and type of every resource.
func TestTemplateMatchesTheSAMSchema(t *testing.T) {
	cfg, err := samtemplate.ReadSamConfig(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"default", "prod"} {
		t.Run(env, func(t *testing.T) {
			s, _ := cfg[env+".deploy.parameters"]["parameter_overrides"].(string)
			params, err := samtemplate.ParameterOverrides(s)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := samtemplate.CheckSchema(loadTemplate(t, params).Raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				t.Error(p)
			}
		})
	}
}

// TestSchemaCheckFindsMistakes: the check is not a formality; each mistake
// below, made in a copy of the real template, is reported with its
// resource and where inside it.
func TestSchemaCheckFindsMistakes(t *testing.T) {
	base := loadTemplate(t, nil).Raw
	props := func(raw map[string]any, id string) map[string]any {
		return raw["Resources"].(map[string]any)[id].(map[string]any)["Properties"].(map[string]any)
	}
	tests := []struct {
		name     string
		mutate   func(raw map[string]any)
		resource string
		path     string
		message  string
	}{
		{"misspelt function property", func(r map[string]any) { props(r, "ReconcileFunction")["Timout"] = 60 },
			"ReconcileFunction", "/Properties", "'Timout' not allowed"},
		{"misspelt table property", func(r map[string]any) {
			p := props(r, "Table")
			p["BilingMode"] = p["BillingMode"]
			delete(p, "BillingMode")
		}, "Table", "/Properties", "'BilingMode' not allowed"},
		{"misspelt alarm property", func(r map[string]any) { props(r, "DeadLetterQueueAlarm")["Treshold"] = 1 },
			"DeadLetterQueueAlarm", "/Properties", "'Treshold' not allowed"},
		{"a string where a number belongs", func(r map[string]any) { props(r, "ApiFunction")["MemorySize"] = "a lot" },
			"ApiFunction", "/Properties/MemorySize", "want number"},
		{"a string where a list belongs", func(r map[string]any) { props(r, "Table")["AttributeDefinitions"] = "pk" },
			"Table", "/Properties/AttributeDefinitions", "want array"},
		{"a misspelt nested property", func(r map[string]any) {
			ev := props(r, "ReconcileFunction")["Events"].(map[string]any)["Runs"].(map[string]any)["Properties"].(map[string]any)
			ev["BatchSise"] = 5
		}, "ReconcileFunction", "/Properties/Events/Runs/Properties", "'BatchSise' not allowed"},
		{"an addition of the wrong type", func(r map[string]any) {
			ev := props(r, "ReconcileFunction")["Events"].(map[string]any)["Runs"].(map[string]any)["Properties"].(map[string]any)
			ev["FunctionResponseTypes"] = []any{"ReportEverything"}
		}, "ReconcileFunction", "/Properties/Events/Runs/Properties/FunctionResponseTypes/0", "value must be"},
		{"another event type's property", func(r map[string]any) {
			ev := props(r, "SchedulerFunction")["Events"].(map[string]any)
			for _, e := range ev {
				e.(map[string]any)["Properties"].(map[string]any)["BatchSize"] = 5 // an SQS property on a schedule
			}
		}, "SchedulerFunction", "/Properties/Events/", "'BatchSize' not allowed"},
		{"a string where a number belongs in an alarm", func(r map[string]any) { props(r, "DeadLetterQueueAlarm")["Threshold"] = "one" },
			"DeadLetterQueueAlarm", "/Properties/Threshold", "want number"},
		// An intrinsic left unresolved is an object, not the string the
		// property wants (what resolution must avoid, and must not hide).
		{"an object where a string belongs", func(r map[string]any) {
			props(r, "Table")["TableName"] = map[string]any{"Fn::ImportValue": "shared-table"}
		}, "Table", "/Properties/TableName", "want string"},
		{"a misspelt resource attribute", func(r map[string]any) {
			r["Resources"].(map[string]any)["Table"].(map[string]any)["DeletionPolicyy"] = "Retain"
		}, "Table", "/", "'DeletionPolicyy' not allowed"},
		{"an unknown resource type", func(r map[string]any) {
			r["Resources"].(map[string]any)["Table"].(map[string]any)["Type"] = "AWS::DynamoDB::Tabel"
		}, "Table", "/Type", "no resource type AWS::DynamoDB::Tabel"},
		// goformation's schema leaves Globals sections and outputs open;
		// CheckSchema closes them.
		{"a misspelt Globals property", func(r map[string]any) {
			r["Globals"].(map[string]any)["Function"].(map[string]any)["Timout"] = 30
		}, "", "/Globals/Function", "'Timout' not allowed"},
		{"a wrong type in Globals", func(r map[string]any) {
			r["Globals"].(map[string]any)["Function"].(map[string]any)["Architectures"] = "arm64"
		}, "", "/Globals/Function/Architectures", "want array"},
		{"a misspelt output attribute", func(r map[string]any) {
			o := r["Outputs"].(map[string]any)["AppUrl"].(map[string]any)
			o["Valeu"] = o["Value"]
			delete(o, "Value")
		}, "", "/Outputs/AppUrl", "'Valeu' not allowed"},
		{"an output that is not a string", func(r map[string]any) {
			r["Outputs"].(map[string]any)["AppUrl"].(map[string]any)["Value"] = []any{"a", "b"}
		}, "", "/Outputs/AppUrl/Value", "want string"},
		{"an unknown top-level section", func(r map[string]any) { r["Output"] = map[string]any{} }, "", "/", "'Output' not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := deepCopy(t, base)
			tc.mutate(raw)
			ps, err := samtemplate.CheckSchema(raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.Resource == tc.resource && strings.HasPrefix(p.Path, tc.path) && strings.Contains(p.Message, tc.message) {
					t.Logf("reported: %s", p)
					return
				}
			}
			t.Fatalf("not reported (want resource %q at %s, %q); got %v", tc.resource, tc.path, tc.message, ps)
		})
	}
}

func deepCopy(t *testing.T, raw map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoadRejectsWhatResolutionWouldHide: goformation resolves what it
// cannot resolve to null, which the schema check would take for an absent
// property; Load reports each such place instead. Each case edits one line
// of a copy of template.yaml.
func TestLoadRejectsWhatResolutionWouldHide(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new string
		want           string // in the error: path and problem
	}{
		{"Fn::If on a misspelt condition", "DeletionProtectionEnabled: !If [ProtectTable, true, false]",
			"DeletionProtectionEnabled: !If [ProtectTabel, true, false]",
			"/Resources/Table/Properties/DeletionProtectionEnabled: Fn::If on ProtectTabel: no such condition"},
		{"Fn::If without a branch", "DeletionProtectionEnabled: !If [ProtectTable, true, false]",
			"DeletionProtectionEnabled: !If [ProtectTable, true]",
			"/Resources/Table/Properties/DeletionProtectionEnabled: Fn::If wants [condition, value if true, value if false]"},
		{"a null value", "\n    Timeout: 30\n", "\n    Timeout:\n", "/Globals/Function/Timeout: null value"},
		{"Ref to no resource", "TIMEBRIDGE_TABLE: !Ref Table", "TIMEBRIDGE_TABLE: !Ref Tabel",
			"/Globals/Function/Environment/Variables/TIMEBRIDGE_TABLE: Ref to Tabel: no such"},
		{"GetAtt of no resource", "Resource: !GetAtt Table.Arn", "Resource: !GetAtt Tabel.Arn", "Fn::GetAtt of Tabel: no such resource"},
		{"Sub of no resource", "Value: !Sub https://${Distribution.DomainName}\n", "Value: !Sub https://${Distributon.DomainName}\n",
			"/Outputs/AppUrl/Value: Fn::Sub ${Distributon.DomainName}: no such resource"},
		{"Sub of no variable", "Value: !Sub https://${Distribution.DomainName}\n", "Value: !Sub https://${AWS::Regoin}\n",
			"/Outputs/AppUrl/Value: Fn::Sub ${AWS::Regoin}: no such variable"},
		{"a function that is not resolved", "Value: !Ref AlarmTopic", "Value: !ImportValue shared-topic",
			"/Outputs/AlarmTopicArn/Value: Fn::ImportValue: samtemplate does not resolve it"},
		{"an intrinsic beside other keys", "Value: !Ref AlarmTopic", `Value: {"Ref": "AlarmTopic", "Export": "x"}`,
			"/Outputs/AlarmTopicArn/Value: Ref beside other keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(src), tc.old) {
				t.Fatalf("template.yaml no longer has %q; pick another line to edit", tc.old)
			}
			path := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(src), tc.old, tc.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := samtemplate.Load(path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error with %q", err, tc.want)
			}
			t.Logf("reported: %v", err)
		})
	}
}

// TestSAMSchemaCoversTheCloudFormationSchema: goformation ships both
// schemas; CheckSchema uses the SAM one only, which is enough while its
// definitions of CloudFormation's types and its top-level sections are
// exactly the CloudFormation schema's (SAM adds its own types and Globals,
// and requires its Transform).
func TestSAMSchemaCoversTheCloudFormationSchema(t *testing.T) {
	type doc struct {
		Definitions map[string]json.RawMessage
		Properties  map[string]json.RawMessage
	}
	var sam, cfn doc
	if err := json.Unmarshal([]byte(schema.SamSchema), &sam); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(schema.CloudformationSchema), &cfn); err != nil {
		t.Fatal(err)
	}
	same := func(a, b json.RawMessage) bool {
		var ca, cb bytes.Buffer
		return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
	}
	if len(cfn.Definitions) < 1000 {
		t.Fatalf("the CloudFormation schema has %d definitions", len(cfn.Definitions))
	}
	for name, def := range cfn.Definitions {
		if !same(def, sam.Definitions[name]) {
			t.Errorf("definition %s differs between the CloudFormation and the SAM schema", name)
		}
	}
	for name, p := range cfn.Properties {
		// SAM's Resources adds its types; its Transform must be SAM's.
		if name != "Resources" && name != "Transform" && !same(p, sam.Properties[name]) {
			t.Errorf("top-level %s differs between the CloudFormation and the SAM schema", name)
		}
	}
}

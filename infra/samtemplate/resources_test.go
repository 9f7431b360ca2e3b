package samtemplate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"

	"github.com/timebridge/timebridge/infra/samtemplate"
	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/edge"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit/devstack"
	"github.com/timebridge/timebridge/shared/webhook"
)

func num(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

func testQueue(t *testing.T, tmpl *samtemplate.Template, fns []samtemplate.Function, runQueue, dlq string) {
	var consumer samtemplate.Function
	var event map[string]any
	for _, f := range fns {
		for _, ev := range f.Events {
			if ev["Type"] == "SQS" {
				consumer = f
				event, _ = ev["Properties"].(map[string]any)
			}
		}
	}
	types, _ := event["FunctionResponseTypes"].([]any)
	if !slices.Contains(types, any("ReportBatchItemFailures")) {
		t.Errorf("%s's SQS event lacks FunctionResponseTypes: [ReportBatchItemFailures]; a partial failure would redeliver the whole batch", consumer.LogicalID)
	}
	batch, ok := num(event["BatchSize"])
	if !ok || batch < 1 || batch > 10 {
		t.Errorf("%s: BatchSize %v, want 1–10 (small batches: each message is a whole sync run)", consumer.LogicalID, event["BatchSize"])
	}
	window, _ := num(event["MaximumBatchingWindowInSeconds"])

	q := tmpl.Properties(runQueue)
	vis, ok := num(q["VisibilityTimeout"])
	if !ok {
		t.Fatalf("%s has no VisibilityTimeout (default 30 s)", runQueue)
	}
	timeout := float64(consumer.Timeout)
	if vis <= timeout {
		t.Errorf("%s: VisibilityTimeout %v s is not above %s's timeout %v s: a message would be redelivered while its run is still going", runQueue, vis, consumer.LogicalID, timeout)
	}
	if vis < 6*timeout+window {
		t.Errorf("%s: VisibilityTimeout %v s, AWS recommends ≥ 6 × the function timeout + the batching window = %v s", runQueue, vis, 6*timeout+window)
	}
	rp, _ := q["RedrivePolicy"].(map[string]any)
	if n, ok := num(rp["maxReceiveCount"]); !ok || n < 1 || n > 10 {
		t.Errorf("%s: maxReceiveCount %v, want a bounded number of receives (1–10)", runQueue, rp["maxReceiveCount"])
	}
	// For standard queues a message keeps its original enqueue time in the
	// DLQ, so the DLQ must retain messages longer than the source queue.
	srcRet, ok1 := num(q["MessageRetentionPeriod"])
	dlqRet, ok2 := num(tmpl.Properties(dlq)["MessageRetentionPeriod"])
	if !ok1 {
		srcRet = 345600 // SQS default, 4 days
	}
	if !ok2 {
		dlqRet = 345600
	}
	if dlqRet <= srcRet {
		t.Errorf("%s retains messages %v s, not longer than %s (%v s): dead letters would expire early", dlq, dlqRet, runQueue, srcRet)
	}
	for _, id := range []string{runQueue, dlq} {
		if fifo, _ := tmpl.Properties(id)["FifoQueue"].(bool); fifo {
			t.Errorf("%s is FIFO; runs are serialised by the per-profile lease, and a FIFO queue would also need a .fifo URL in TIMEBRIDGE_QUEUE_URL", id)
		}
	}
	if _, ok := tmpl.Properties(dlq)["RedrivePolicy"]; ok {
		t.Errorf("the dead-letter queue %s has its own redrive policy", dlq)
	}
}

// ---- table ------------------------------------------------------------------------

// recordingDynamoDB is a store.TableAPI that records what CreateTable asks
// for and answers like a freshly created table.
type recordingDynamoDB struct {
	create *dynamodb.CreateTableInput
	ttl    *dynamodb.UpdateTimeToLiveInput
}

func (r *recordingDynamoDB) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	r.create = in
	return &dynamodb.CreateTableOutput{}, nil
}

func (r *recordingDynamoDB) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	var gsis []ddbtypes.GlobalSecondaryIndexDescription
	for _, g := range r.create.GlobalSecondaryIndexes {
		gsis = append(gsis, ddbtypes.GlobalSecondaryIndexDescription{IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection})
	}
	return &dynamodb.DescribeTableOutput{Table: &ddbtypes.TableDescription{
		TableName: in.TableName, TableStatus: ddbtypes.TableStatusActive, GlobalSecondaryIndexes: gsis,
	}}, nil
}

func (r *recordingDynamoDB) DescribeTimeToLive(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error) {
	return &dynamodb.DescribeTimeToLiveOutput{TimeToLiveDescription: &ddbtypes.TimeToLiveDescription{TimeToLiveStatus: ddbtypes.TimeToLiveStatusDisabled}}, nil
}

func (r *recordingDynamoDB) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	r.ttl = in
	return &dynamodb.UpdateTimeToLiveOutput{}, nil
}

var _ store.TableAPI = (*recordingDynamoDB)(nil)

func testTable(t *testing.T, tmpl *samtemplate.Template, table string) {
	in, ttl := storeIndexOnce()
	tb, err := tmpl.CF.GetDynamoDBTableWithName(table)
	if err != nil {
		t.Fatal(err)
	}
	attrs := func(defs map[string]string) string {
		var out []string
		for k, v := range defs {
			out = append(out, k+":"+v)
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	wantAttrs, gotAttrs := map[string]string{}, map[string]string{}
	for _, a := range in.AttributeDefinitions {
		wantAttrs[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	for _, a := range tb.AttributeDefinitions {
		gotAttrs[a.AttributeName] = a.AttributeType
	}
	if attrs(gotAttrs) != attrs(wantAttrs) {
		t.Errorf("attribute definitions %s, store.CreateTable: %s", attrs(gotAttrs), attrs(wantAttrs))
	}
	keys := func(ks []ddbtypes.KeySchemaElement) string {
		var out []string
		for _, k := range ks {
			out = append(out, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		return strings.Join(out, " ")
	}
	var gotKeys []string
	for _, k := range tb.KeySchema {
		gotKeys = append(gotKeys, k.AttributeName+":"+k.KeyType)
	}
	if strings.Join(gotKeys, " ") != keys(in.KeySchema) {
		t.Errorf("key schema %v, store.CreateTable: %s", gotKeys, keys(in.KeySchema))
	}
	if len(tb.GlobalSecondaryIndexes) != len(in.GlobalSecondaryIndexes) {
		t.Errorf("%d global secondary indexes, store.CreateTable creates %d", len(tb.GlobalSecondaryIndexes), len(in.GlobalSecondaryIndexes))
	}
	for _, w := range in.GlobalSecondaryIndexes {
		found := false
		for _, g := range tb.GlobalSecondaryIndexes {
			if g.IndexName != aws.ToString(w.IndexName) {
				continue
			}
			found = true
			var gk []string
			for _, k := range g.KeySchema {
				gk = append(gk, k.AttributeName+":"+k.KeyType)
			}
			if strings.Join(gk, " ") != keys(w.KeySchema) {
				t.Errorf("index %s keys %v, store.CreateTable: %s", g.IndexName, gk, keys(w.KeySchema))
			}
			if aws.ToString(g.Projection.ProjectionType) != string(w.Projection.ProjectionType) {
				t.Errorf("index %s projection %s, store.CreateTable: %s", g.IndexName, aws.ToString(g.Projection.ProjectionType), w.Projection.ProjectionType)
			}
		}
		if !found {
			t.Errorf("no index %s (store queries it)", aws.ToString(w.IndexName))
		}
	}
	if aws.ToString(tb.BillingMode) != string(in.BillingMode) {
		t.Errorf("billing mode %q, store.CreateTable: %s (on-demand)", aws.ToString(tb.BillingMode), in.BillingMode)
	}
	if tb.TimeToLiveSpecification == nil || !tb.TimeToLiveSpecification.Enabled ||
		aws.ToString(tb.TimeToLiveSpecification.AttributeName) != aws.ToString(ttl.TimeToLiveSpecification.AttributeName) {
		var got string
		if tb.TimeToLiveSpecification != nil {
			got = fmt.Sprintf("on %s (enabled %v)", aws.ToString(tb.TimeToLiveSpecification.AttributeName), tb.TimeToLiveSpecification.Enabled)
		}
		t.Errorf("TTL %s, store enables it on %s", got, aws.ToString(ttl.TimeToLiveSpecification.AttributeName))
	}
	if tb.PointInTimeRecoverySpecification == nil || !aws.ToBool(tb.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled) {
		t.Error("point-in-time recovery is off")
	}
	if tb.AWSCloudFormationDeletionPolicy != "Retain" || tb.AWSCloudFormationUpdateReplacePolicy != "Retain" {
		t.Errorf("DeletionPolicy %q UpdateReplacePolicy %q, want Retain: the table holds the exactly-once ledger", tb.AWSCloudFormationDeletionPolicy, tb.AWSCloudFormationUpdateReplacePolicy)
	}
	if tb.TableName != nil {
		t.Errorf("TableName %q fixes the name, so a replacement could not be created next to the retained table", *tb.TableName)
	}
}

// ---- HTTP -----------------------------------------------------------------------

// The routes the handlers serve: shared/api everything under /api/,
// shared/webhook its Route.
var wantRoutes = map[string]string{
	"ANY /api/{proxy+}":     "ApiFunction",
	loginRoute:              "ApiFunction",
	"POST " + webhook.Route: "WebhookFunction",
}

// loginRoute has its own route for its own, lower throttle.
const loginRoute = "POST /api/auth/login"

const (
	cachingDisabled           = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	allViewerExceptHostHeader = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
)

func testHTTP(t *testing.T, tmpl *samtemplate.Template, byID map[string]samtemplate.Function, distribution string) {
	httpAPI := only(t, tmpl, "AWS::ApiGatewayV2::Api")
	if pt := tmpl.Properties(httpAPI)["ProtocolType"]; pt != "HTTP" {
		t.Errorf("%s: ProtocolType %v, want HTTP", httpAPI, pt)
	}
	for _, f := range byID {
		for name, ev := range f.Events {
			if ev["Type"] == "HttpApi" || ev["Type"] == "Api" {
				t.Errorf("%s.%s: SAM API events put the function's ARN into the Api body; with TIMEBRIDGE_PUBLIC_URL referencing CloudFront that is a circular dependency. Use AWS::ApiGatewayV2::Route resources", f.LogicalID, name)
			}
		}
	}
	got := map[string]string{}
	for _, id := range tmpl.ResourcesOfType("AWS::ApiGatewayV2::Route") {
		p := tmpl.Properties(id)
		key, _ := p["RouteKey"].(string)
		target, _ := p["Target"].(string)
		if p["ApiId"] != samtemplate.Ref(httpAPI) {
			t.Errorf("%s: ApiId %v, want %s", id, p["ApiId"], samtemplate.Ref(httpAPI))
		}
		integ, ok := strings.CutPrefix(target, "integrations/")
		iid, _, ok2 := tokenTarget(integ)
		if !ok || !ok2 || tmpl.Resource(iid)["Type"] != "AWS::ApiGatewayV2::Integration" {
			t.Errorf("%s: Target %q, want integrations/${<integration>}", id, target)
			continue
		}
		ip := tmpl.Properties(iid)
		fn, attr, ok := tokenTarget(fmt.Sprint(ip["IntegrationUri"]))
		if !ok || attr != "Arn" {
			t.Errorf("%s: IntegrationUri %v, want !GetAtt <function>.Arn", iid, ip["IntegrationUri"])
			continue
		}
		if ip["IntegrationType"] != "AWS_PROXY" || ip["PayloadFormatVersion"] != "2.0" {
			t.Errorf("%s: %v payload %v, want AWS_PROXY with payload 2.0 (httpadapter.NewV2)", iid, ip["IntegrationType"], ip["PayloadFormatVersion"])
		}
		if ms, ok := num(ip["TimeoutInMillis"]); ok && float64(byID[fn].Timeout) >= ms/1000 {
			t.Errorf("%s: %s's timeout %d s is not below the integration's %v ms: API Gateway would answer 503 before the function's own deadline", iid, fn, byID[fn].Timeout, ms)
		}
		got[key] = fn
		testInvokePermission(t, tmpl, fn, httpAPI)
	}
	if !reflect.DeepEqual(got, wantRoutes) {
		t.Errorf("routes %v, want %v", got, wantRoutes)
	}
	stageOK := false
	for _, id := range tmpl.ResourcesOfType("AWS::ApiGatewayV2::Stage") {
		p := tmpl.Properties(id)
		if p["ApiId"] == samtemplate.Ref(httpAPI) && p["StageName"] == "$default" && p["AutoDeploy"] == true {
			stageOK = true
			testLoginThrottle(t, tmpl, id)
		}
	}
	if !stageOK {
		t.Error("no $default stage with AutoDeploy: the routes would never be deployed")
	}

	// CloudFront: the SPA from S3 by default, /api/* and /webhooks/* to the
	// HTTP API uncached, so the browser sees one origin.
	d, err := tmpl.CF.GetCloudFrontDistributionWithName(distribution)
	if err != nil {
		t.Fatal(err)
	}
	dc := d.DistributionConfig
	// The console's CSP at CloudFront is the one make dev serves, under
	// which the browser tests run.
	if dc.DefaultCacheBehavior == nil || dc.DefaultCacheBehavior.ResponseHeadersPolicyId == nil {
		t.Error("the console has no response headers policy")
	} else if id, _, ok := tokenTarget(*dc.DefaultCacheBehavior.ResponseHeadersPolicyId); !ok {
		t.Errorf("response headers policy %q is not the template's own", *dc.DefaultCacheBehavior.ResponseHeadersPolicyId)
	} else {
		cfg, _ := tmpl.Properties(id)["ResponseHeadersPolicyConfig"].(map[string]any)
		sec, _ := cfg["SecurityHeadersConfig"].(map[string]any)
		csp, _ := sec["ContentSecurityPolicy"].(map[string]any)
		if got, _ := csp["ContentSecurityPolicy"].(string); got != devstack.ContentSecurityPolicy {
			t.Errorf("CloudFront CSP %q differs from make dev's %q", got, devstack.ContentSecurityPolicy)
		}
	}
	origins := map[string]string{} // id → "s3" or "api"
	for _, o := range dc.Origins {
		switch {
		case o.S3OriginConfig != nil:
			bucket, attr, _ := tokenTarget(o.DomainName)
			if attr != "RegionalDomainName" || tmpl.Resource(bucket)["Type"] != "AWS::S3::Bucket" {
				t.Errorf("origin %s: domain %q, want the SPA bucket's RegionalDomainName", o.Id, o.DomainName)
			}
			if o.OriginAccessControlId == nil {
				t.Errorf("origin %s reads S3 without origin access control", o.Id)
			}
			testBucketPrivate(t, tmpl, bucket, distribution)
			origins[o.Id] = "s3"
		case o.CustomOriginConfig != nil:
			if o.DomainName != samtemplate.Ref(httpAPI)+".execute-api.${AWS::Region}.${AWS::URLSuffix}" {
				t.Errorf("origin %s: domain %q is not the HTTP API", o.Id, o.DomainName)
			}
			if o.CustomOriginConfig.OriginProtocolPolicy != "https-only" {
				t.Errorf("origin %s: %s, want https-only", o.Id, o.CustomOriginConfig.OriginProtocolPolicy)
			}
			// The API refuses requests without the origin secret (edge.Guard).
			var sent bool
			for _, h := range o.OriginCustomHeaders {
				sent = sent || (h.HeaderName == edge.OriginHeader &&
					h.HeaderValue == "{{resolve:secretsmanager:"+samtemplate.Ref(originSecretID)+":SecretString}}")
			}
			if !sent {
				t.Errorf("origin %s does not send %s from %s", o.Id, edge.OriginHeader, originSecretID)
			}
			origins[o.Id] = "api"
		}
	}
	if origins[dc.DefaultCacheBehavior.TargetOriginId] != "s3" {
		t.Errorf("the default behaviour goes to %q, want the SPA bucket", dc.DefaultCacheBehavior.TargetOriginId)
	}
	for route := range wantRoutes {
		_, path, _ := strings.Cut(route, " ")
		var match string
		for _, b := range dc.CacheBehaviors {
			if prefix, ok := strings.CutSuffix(b.PathPattern, "*"); ok && strings.HasPrefix(path, prefix) {
				match = b.PathPattern
				if origins[b.TargetOriginId] != "api" {
					t.Errorf("CloudFront %s goes to %q, not the HTTP API", b.PathPattern, b.TargetOriginId)
				}
				if aws.ToString(b.CachePolicyId) != cachingDisabled {
					t.Errorf("CloudFront %s: cache policy %v, want CachingDisabled (and it lets AllViewer* forward Authorization)", b.PathPattern, aws.ToString(b.CachePolicyId))
				}
				if aws.ToString(b.OriginRequestPolicyId) != allViewerExceptHostHeader {
					t.Errorf("CloudFront %s: origin request policy %v, want AllViewerExceptHostHeader (API Gateway needs its own Host)", b.PathPattern, aws.ToString(b.OriginRequestPolicyId))
				}
				if !slices.Contains(b.AllowedMethods, "POST") || (strings.HasPrefix(path, "/api/") && len(b.AllowedMethods) != 7) {
					t.Errorf("CloudFront %s allows %v", b.PathPattern, b.AllowedMethods)
				}
				if b.ViewerProtocolPolicy == "redirect-to-https" {
					t.Errorf("CloudFront %s redirects http: a redirected POST loses its body; use https-only", b.PathPattern)
				}
				if strings.HasPrefix(path, "/api/") {
					testViewerFunction(t, tmpl, b.FunctionAssociations, b.PathPattern)
				}
				break
			}
		}
		if match == "" {
			t.Errorf("no CloudFront behaviour routes %s to the HTTP API", path)
		}
	}
}

func testInvokePermission(t *testing.T, tmpl *samtemplate.Template, fn, httpAPI string) {
	for _, id := range tmpl.ResourcesOfType("AWS::Lambda::Permission") {
		p := tmpl.Properties(id)
		target, _, _ := tokenTarget(fmt.Sprint(p["FunctionName"]))
		if target == fn && p["Principal"] == "apigateway.amazonaws.com" && p["Action"] == "lambda:InvokeFunction" &&
			strings.Contains(fmt.Sprint(p["SourceArn"]), ":"+samtemplate.Ref(httpAPI)+"/") {
			return
		}
	}
	t.Errorf("no AWS::Lambda::Permission lets %s invoke %s", httpAPI, fn)
}

func testBucketPrivate(t *testing.T, tmpl *samtemplate.Template, bucket, distribution string) {
	b, err := tmpl.CF.GetS3BucketWithName(bucket)
	if err != nil {
		t.Fatal(err)
	}
	pab := b.PublicAccessBlockConfiguration
	if pab == nil || !aws.ToBool(pab.BlockPublicAcls) || !aws.ToBool(pab.BlockPublicPolicy) || !aws.ToBool(pab.IgnorePublicAcls) || !aws.ToBool(pab.RestrictPublicBuckets) {
		t.Errorf("bucket %s does not block all public access", bucket)
	}
	found := false
	for _, id := range tmpl.ResourcesOfType("AWS::S3::BucketPolicy") {
		p := tmpl.Properties(id)
		if p["Bucket"] != samtemplate.Ref(bucket) {
			continue
		}
		doc, _ := json.Marshal(p["PolicyDocument"])
		found = bytes.Contains(doc, []byte(`"cloudfront.amazonaws.com"`)) &&
			bytes.Contains(doc, []byte(`distribution/`+samtemplate.Ref(distribution)))
	}
	if !found {
		t.Errorf("no bucket policy lets only %s read %s", distribution, bucket)
	}
}

// ---- admin secret ----------------------------------------------------------------

// generate does what CloudFormation's GenerateSecretString does: add
// GenerateStringKey with a random string to the JSON of SecretStringTemplate.
func generate(t *testing.T, g map[string]any) string {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprint(g["SecretStringTemplate"])), &obj); err != nil {
		t.Fatalf("SecretStringTemplate is not a JSON object: %v", err)
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	if g["ExcludePunctuation"] != true {
		alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	}
	length := 32 // CloudFormation's default
	if n, ok := num(g["PasswordLength"]); ok {
		length = int(n)
	}
	var b strings.Builder
	for range length {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	key, _ := g["GenerateStringKey"].(string)
	obj[key] = b.String()
	out, _ := json.Marshal(obj)
	return string(out)
}

func testAdminSecret(t *testing.T, adminSecret string) {
	const password = "correct horse battery staple"
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"generated password", nil},
		{"AdminPasswordHash", map[string]string{"AdminPasswordHash": hash}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := loadTemplate(t, tc.params)
			p := tmpl.Properties(adminSecret)
			prefix := "timebridge/${AWS::StackName}"
			if p["Name"] != prefix+"/admin" {
				t.Errorf("Name %v, want %s/admin: outside the vault families, so only the api's grant covers it", p["Name"], prefix)
			}
			for fam := range want["ApiFunction"].vault {
				if strings.HasPrefix(fmt.Sprint(p["Name"]), prefix+"/"+fam) {
					t.Errorf("the admin secret is inside vault family %s", fam)
				}
			}
			if pat := tmpl.CF.Parameters["AdminPasswordHash"].AllowedPattern; pat != nil {
				re := regexp.MustCompile(*pat)
				if !re.MatchString(tc.params["AdminPasswordHash"]) {
					t.Errorf("AdminPasswordHash %q does not match the parameter's AllowedPattern", tc.params["AdminPasswordHash"])
				}
			}
			g, _ := p["GenerateSecretString"].(map[string]any)
			if g == nil {
				t.Fatal("no GenerateSecretString")
			}
			user := fmt.Sprint(tmpl.CF.Parameters["AdminUsername"].Default)
			// Several draws: a random string that parses once could fail on
			// another. Passwords are checked on the first only (bcrypt is
			// slow, the more so under -race).
			for i := range 20 {
				secret := generate(t, g)
				admin, err := auth.ParseAdminSecret(secret)
				if err != nil {
					t.Fatalf("auth.ParseAdminSecret refuses what CloudFormation would generate: %v", err)
				}
				if !admin.CheckUsername(user) {
					t.Errorf("admin user is %v, want %s", admin, user)
				}
				if i > 0 {
					continue
				}
				var fields map[string]string
				_ = json.Unmarshal([]byte(secret), &fields)
				pw := password
				if tc.params == nil {
					pw = fields["password"]
				}
				if !admin.CheckPassword(pw) {
					t.Error("the admin cannot log in with the password")
				}
				if admin.CheckPassword(pw + "x") {
					t.Error("a wrong password is accepted")
				}
			}
		})
	}
}

// ---- alarms, outputs ------------------------------------------------------------

func testAlarms(t *testing.T, tmpl *samtemplate.Template, fns []samtemplate.Function, dlq string) {
	alarms := tmpl.CF.GetAllCloudWatchAlarmResources()
	has := func(namespace, metric, dimName, dimValue string) bool {
		for id, a := range alarms {
			if aws.ToString(a.Namespace) != namespace || aws.ToString(a.MetricName) != metric {
				continue
			}
			for _, d := range a.Dimensions {
				if d.Name == dimName && d.Value == dimValue {
					if a.ComparisonOperator != "GreaterThanThreshold" || a.Threshold == nil || *a.Threshold != 0 {
						t.Errorf("%s: %s %v, want > 0", id, a.ComparisonOperator, a.Threshold)
					}
					if len(a.AlarmActions) == 0 {
						t.Errorf("%s notifies nobody (no AlarmActions)", id)
					}
					return true
				}
			}
		}
		return false
	}
	if !has("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", samtemplate.GetAtt(dlq, "QueueName")) {
		t.Errorf("no alarm on messages in the dead-letter queue %s", dlq)
	}
	for _, f := range fns {
		if !has("AWS/Lambda", "Errors", "FunctionName", samtemplate.Ref(f.LogicalID)) {
			t.Errorf("no alarm on %s errors", f.LogicalID)
		}
	}
}

func testOutputs(t *testing.T, tmpl *samtemplate.Template, distribution string) {
	outputs, _ := tmpl.Raw["Outputs"].(map[string]any)
	value := func(k string) string {
		o, _ := outputs[k].(map[string]any)
		return fmt.Sprint(o["Value"])
	}
	if got, want := value("AppUrl"), "https://"+samtemplate.GetAtt(distribution, "DomainName"); got != want {
		t.Errorf("AppUrl %q, want %q", got, want)
	}
	if got := value("WebhookUrlPattern"); !strings.HasPrefix(got, value("AppUrl")+"/webhooks/zammad/") {
		t.Errorf("WebhookUrlPattern %q is not under AppUrl", got)
	}
	// Every output make deploy reads exists.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`call stack_output,(\w+)`).FindAllStringSubmatch(string(mk), -1)
	if len(used) == 0 {
		t.Error("the Makefile reads no stack outputs (make deploy)")
	}
	for _, m := range used {
		if _, ok := outputs[m[1]]; !ok {
			t.Errorf("make deploy reads output %s, the template has none", m[1])
		}
	}
	for _, k := range []string{"HttpApiUrl", "SpaBucketName", "AdminSecretArn"} {
		if _, ok := outputs[k]; !ok {
			t.Errorf("no output %s", k)
		}
	}
}

// testLoginThrottle: the login route is throttled far below the rest.
func testLoginThrottle(t *testing.T, tmpl *samtemplate.Template, stage string) {
	p := tmpl.Properties(stage)
	def, _ := p["DefaultRouteSettings"].(map[string]any)
	rs, _ := p["RouteSettings"].(map[string]any)
	login, _ := rs[loginRoute].(map[string]any)
	rate, ok1 := num(login["ThrottlingRateLimit"])
	burst, ok2 := num(login["ThrottlingBurstLimit"])
	defRate, _ := num(def["ThrottlingRateLimit"])
	if !ok1 || !ok2 || rate > 5 || burst > 20 || rate >= defRate {
		t.Errorf("%s: login route settings %v, want its own throttle of at most 5/s, burst 20, below the default %v", stage, login, def)
	}
	deps := samtemplate.StringList(tmpl.Resource(stage)["DependsOn"])
	for _, id := range tmpl.ResourcesOfType("AWS::ApiGatewayV2::Route") {
		if tmpl.Properties(id)["RouteKey"] == loginRoute && !slices.Contains(deps, id) {
			t.Errorf("%s: route settings for %s need DependsOn %s", stage, loginRoute, id)
		}
	}
}

// testViewerFunction: /api/* gets the viewer's address from a CloudFront
// Function that overwrites the header (edge.ViewerHeader).
func testViewerFunction(t *testing.T, tmpl *samtemplate.Template, fa []cloudfront.Distribution_FunctionAssociation, pattern string) {
	var ok bool
	for _, a := range fa {
		id, attr, isRef := tokenTarget(aws.ToString(a.FunctionARN))
		if !isRef || aws.ToString(a.EventType) != "viewer-request" || attr != "FunctionMetadata.FunctionARN" {
			continue
		}
		code, _ := tmpl.Properties(id)["FunctionCode"].(string)
		ok = strings.Contains(code, "request.headers['"+strings.ToLower(edge.ViewerHeader)+"'] = { value: event.viewer.ip }")
	}
	if !ok {
		t.Errorf("CloudFront %s has no viewer-request function setting %s to the viewer's address", pattern, edge.ViewerHeader)
	}
}

package samtemplate_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/timebridge/timebridge/infra/samtemplate"
)

func TestSamConfig(t *testing.T) {
	cfg, err := samtemplate.ReadSamConfig(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := loadTemplate(t, nil)
	stacks := map[string]bool{}
	for _, env := range []string{"default", "prod"} {
		t.Run(env, func(t *testing.T) {
			stack, _ := cfg[env+".global.parameters"]["stack_name"].(string)
			if stack == "" {
				t.Fatalf("no [%s.global.parameters] stack_name (make deploy reads it there)", env)
			}
			if stacks[stack] {
				t.Errorf("stack %s is used by two environments", stack)
			}
			stacks[stack] = true
			deploy := cfg[env+".deploy.parameters"]
			if deploy == nil {
				t.Fatalf("no [%s.deploy.parameters]", env)
			}
			if deploy["capabilities"] != "CAPABILITY_IAM" {
				t.Errorf("capabilities %v, want CAPABILITY_IAM (the template creates roles)", deploy["capabilities"])
			}
			if deploy["resolve_s3"] != true {
				t.Error("resolve_s3 is not true: sam deploy would need an artifact bucket")
			}
			if env == "prod" && deploy["confirm_changeset"] != true {
				t.Error("prod deploys without confirming the change set")
			}
			build := cfg[env+".build.parameters"]
			if build == nil || build["build_in_source"] != true {
				t.Error("build_in_source is not true: with CodeUri . sam build would copy the whole repository first")
			}
			overridesStr, _ := deploy["parameter_overrides"].(string)
			overrides, err := samtemplate.ParameterOverrides(overridesStr)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range overrides {
				p, ok := tmpl.CF.Parameters[k]
				if !ok {
					t.Errorf("parameter_overrides sets %s, the template has no such parameter", k)
					continue
				}
				if len(p.AllowedValues) > 0 && !slices.ContainsFunc(p.AllowedValues, func(a any) bool { return fmt.Sprint(a) == v }) {
					t.Errorf("%s=%s is not one of %v", k, v, p.AllowedValues)
				}
				if p.AllowedPattern != nil && !regexp.MustCompile(*p.AllowedPattern).MatchString(v) {
					t.Errorf("%s=%s does not match %s", k, v, *p.AllowedPattern)
				}
			}
			if _, ok := overrides["AdminPasswordHash"]; ok {
				t.Error("AdminPasswordHash belongs to make deploy ADMIN_PASSWORD=…, not to a committed file")
			}
			// The template evaluates with these values, and make deploy reads
			// the same stack name and overrides.
			envTmpl := loadTemplate(t, overrides)
			if env == "prod" {
				tbl, _ := envTmpl.CF.GetDynamoDBTableWithName(only(t, envTmpl, "AWS::DynamoDB::Table"))
				if tbl == nil || !aws.ToBool(tbl.DeletionProtectionEnabled) {
					t.Error("prod's table has no deletion protection")
				}
			}
			out, err := makeCmd(t, "-n", "deploy", "ENV="+env)
			if err != nil {
				t.Fatalf("make -n deploy ENV=%s: %v\n%s", env, err, out)
			}
			for _, s := range []string{"sam build --config-env " + env, `test -n "` + stack + `"`, "--parameter-overrides " + overridesStr + " ", "--stack-name '" + stack + "'"} {
				if !strings.Contains(out, s) {
					t.Errorf("make -n deploy ENV=%s lacks %q:\n%s", env, s, out)
				}
			}
		})
	}
	out, _ := makeCmd(t, "-n", "deploy", "ENV=nope")
	if !strings.Contains(out, `test -n ""`) {
		t.Errorf("make deploy ENV=nope does not stop at the unknown environment:\n%s", out)
	}
}

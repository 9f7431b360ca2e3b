package samtemplate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/infra/samtemplate"
	"github.com/timebridge/timebridge/shared/config"
)

// optionalUnset are variables the code reads that must not be set in AWS.
var optionalUnset = map[string]string{
	"TIMEBRIDGE_LOCAL_MODE": "it allows http:// and loopback connector URLs (server-side request forgery)",
}

func testEnvironment(t *testing.T, tmpl *samtemplate.Template, f samtemplate.Function, w wiring, table, runQueue, adminSecret, distribution string) {
	if !w.calls[module+"shared/config.Load"] {
		t.Errorf("functions/%s does not call config.Load", functionDir(f.LogicalID))
	}
	need := w.needs
	// What config.Load reads for this function, recorded by calling it.
	var read []string
	_, _ = config.Load(func(k string) string { read = append(read, k); return "" }, need...)
	read = append(read, w.getenv...)
	for _, name := range read {
		if why, ok := optionalUnset[name]; ok {
			if _, set := f.Env[name]; set {
				t.Errorf("%s must not be set in AWS: %s", name, why)
			}
			continue
		}
		if f.Env[name] == "" {
			t.Errorf("the function reads %s, the template does not set it", name)
		}
	}
	for name := range f.Env {
		if !slices.Contains(read, name) {
			t.Errorf("the template sets %s, the function never reads it", name)
		}
	}
	// The values point at the resources the grants are checked against.
	wantValues := map[string]string{
		"TIMEBRIDGE_TABLE":         samtemplate.Ref(table),
		"TIMEBRIDGE_QUEUE_URL":     samtemplate.Ref(runQueue),
		"TIMEBRIDGE_SECRET_PREFIX": "timebridge/${AWS::StackName}",
		"TIMEBRIDGE_ADMIN_SECRET":  samtemplate.Ref(adminSecret),
		"TIMEBRIDGE_ORIGIN_SECRET": samtemplate.Ref(originSecretID),
		"TIMEBRIDGE_PUBLIC_URL":    "https://" + samtemplate.GetAtt(distribution, "DomainName"),
	}
	for name, v := range wantValues {
		if got, ok := f.Env[name]; ok && got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	// config.Load accepts the template's values (LOG_LEVEL among them), with
	// the stack name resolved as CloudFormation does.
	env := func(k string) string { return strings.ReplaceAll(f.Env[k], "${AWS::StackName}", "timebridge-prod") }
	if _, err := config.Load(env, need...); err != nil {
		t.Errorf("config.Load with the template's environment: %v", err)
	} else if p, ok := tmpl.CF.Parameters["LogLevel"]; ok {
		for _, v := range p.AllowedValues {
			if _, err := config.Load(func(k string) string {
				if k == "LOG_LEVEL" {
					return fmt.Sprint(v)
				}
				return env(k)
			}, need...); err != nil {
				t.Errorf("parameter LogLevel allows %v, config.Load refuses it: %v", v, err)
			}
		}
	}
	// shared/config is the one place that reads TIMEBRIDGE_* variables; a
	// package reading one itself would escape this check.
	for pkg := range w.imports {
		if pkg == module+"shared/config" {
			continue
		}
		for _, name := range envReads(t, pkg) {
			t.Errorf("%s reads %s itself; read it through shared/config so that the template test sees it", pkg, name)
		}
	}
}

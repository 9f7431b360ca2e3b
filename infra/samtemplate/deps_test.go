package samtemplate_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testOnly are the folders of packages that exist for tests, benchmarks and
// make dev (the simulators, the test kit and its harnesses); a Lambda binary
// must never link them (a simulator in production would answer as Zammad or
// Kimai).
var testOnly = []string{"shared/sim", "shared/testkit"}

// TestFunctionsLinkNoTestSupport: the dependency closure of every
// functions/<name> binary (as SAM builds it) holds none of testOnly.
func TestFunctionsLinkNoTestSupport(t *testing.T) {
	list := exec.Command("go", "list", "-tags", "lambda.norpc", "-deps", "-f", "{{.ImportPath}}", "./functions/api", "./functions/webhook",
		"./functions/scheduler", "./functions/reconcile")
	list.Dir = filepath.Join("..", "..")
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps found only %d packages", len(deps))
	}
	for _, d := range deps {
		for _, bad := range testOnly {
			if d == module+bad || strings.HasPrefix(d, module+bad+"/") {
				t.Errorf("a function binary links %s", d)
			}
		}
	}
}

// Package starttest tests how a function's main starts: run as a process
// without its configuration, it must exit 1 at once with one JSON log line
// that names every problem. Each functions/<name>/main_test.go uses it.
package starttest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runMainEnv makes the test binary run main() itself, so that start-up can
// be tested as a process (it exits).
const runMainEnv = "TIMEBRIDGE_TEST_RUN_MAIN"

// Main is the body of a function's TestMain: it runs main when the test
// binary was started by FailsFast, and the tests otherwise.
func Main(m *testing.M, main func()) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// Case is one start-up without (part of) the configuration.
type Case struct {
	Name string
	Env  []string // the process's whole environment besides PATH and HOME
	Want []string // what the error must name
}

// FailsFast runs each case as a process and checks the exit and log line.
func FailsFast(t *testing.T, function string, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			home := t.TempDir() // no shared AWS config with a region
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append([]string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + home,
				"AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}, c.Env...)
			out, err := cmd.Output()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, output %s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one log line, got %q", out)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
				t.Fatalf("not JSON: %s", lines[0])
			}
			if line["level"] != "ERROR" || line["function"] != function {
				t.Fatalf("log line %v", line)
			}
			msg, _ := line["err"].(string)
			for _, w := range c.Want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q does not name %s", msg, w)
				}
			}
		})
	}
}

package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary runs main() itself when this variable is set, so that
// start-up can be tested as a process (it exits).
const runMainEnv = "TIMEBRIDGE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestFailsFast: without its configuration the function exits 1 at once
// with one JSON log line naming every problem.
func TestFailsFast(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want []string
	}{
		{"no configuration", []string{"LOG_LEVEL=loud"},
			[]string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_QUEUE_URL", "LOG_LEVEL=loud"}},
		{"no AWS region", []string{"TIMEBRIDGE_TABLE=t", "TIMEBRIDGE_SECRET_PREFIX=p", "TIMEBRIDGE_QUEUE_URL=http://127.0.0.1:1/q"},
			[]string{"AWS_REGION"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir() // no shared AWS config with a region
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append([]string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + home,
				"AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}, c.env...)
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
			if line["level"] != "ERROR" || line["function"] != "webhook" {
				t.Fatalf("log line %v", line)
			}
			msg, _ := line["err"].(string)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q does not name %s", msg, w)
				}
			}
		})
	}
}

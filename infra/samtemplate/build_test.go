package samtemplate_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/infra/samtemplate"
)

// makeCmd runs make in the repository root, isolated from a calling make's
// flags (make test runs this test).
func makeCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("GNU make is required (README: requirements)")
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ENV", "ADMIN_PASSWORD":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func testBuildTargets(t *testing.T, fns []samtemplate.Function) {
	artifacts := t.TempDir()
	seen := map[string]bool{}
	for _, f := range fns {
		dir := functionDir(f.LogicalID)
		seen[dir] = true
		out, err := makeCmd(t, "-n", "build-"+f.LogicalID, "ARTIFACTS_DIR="+artifacts)
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", f.LogicalID, err, out)
			continue
		}
		wantCmd := "GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o " +
			artifacts + "/bootstrap ./functions/" + dir
		if !slices.Contains(strings.Split(out, "\n"), wantCmd) {
			t.Errorf("make build-%s does not run\n  %s\nit runs:\n%s", f.LogicalID, wantCmd, out)
		}
		if st, err := os.Stat(filepath.Join(root, "functions", dir, "main.go")); err != nil || st.IsDir() {
			t.Errorf("%s: functions/%s/main.go does not exist", f.LogicalID, dir)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !seen[e.Name()] {
			t.Errorf("functions/%s has no function in template.yaml (logical id %sFunction)", e.Name(), strings.ToUpper(e.Name()[:1])+e.Name()[1:])
		}
	}
}

// testBinaries builds every function the way sam build does and checks the
// result is what provided.al2023 on arm64 runs: a static aarch64 ELF.
func testBinaries(t *testing.T, fns []samtemplate.Function) {
	if testing.Short() {
		t.Skip("cross-compiles all functions; skipped with -short")
	}
	for _, f := range fns {
		t.Run(f.LogicalID, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := makeCmd(t, "build-"+f.LogicalID, "ARTIFACTS_DIR="+dir); err != nil {
				t.Fatalf("make build-%s: %v\n%s", f.LogicalID, err, out)
			}
			path := filepath.Join(dir, "bootstrap")
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode()&0o111 == 0 {
				t.Errorf("bootstrap is not executable: %v", st.Mode())
			}
			bin, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer bin.Close()
			if bin.Machine != elf.EM_AARCH64 {
				t.Errorf("bootstrap is built for %v, want EM_AARCH64", bin.Machine)
			}
			for _, p := range bin.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked (CGO_ENABLED=0 missing?)")
				}
			}
			// Lambda's limit is 250 MB unzipped; far less keeps cold starts short.
			if st.Size() > 40<<20 {
				t.Errorf("bootstrap is %d MB", st.Size()>>20)
			}
			t.Logf("%s: %.1f MiB", f.LogicalID, float64(st.Size())/(1<<20))
		})
	}
}

package samtemplate_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeFolderMap: the folder map in the README's Architecture section
// names every Go package of the module (go list ./...), and every folder it
// names exists.
func TestReadmeFolderMap(t *testing.T) {
	root := filepath.Join("..", "..")
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mapped := map[string]bool{}
	var parents []string // the folder at each indentation level (two spaces)
	inArch, inBlock := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inArch = line == "## Architecture"
			continue
		case !inArch:
			continue
		case strings.HasPrefix(line, "```"):
			if inBlock {
				inArch = false // the first block only
			}
			inBlock = !inBlock
			continue
		case !inBlock || strings.TrimSpace(line) == "":
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.HasSuffix(name, "/") {
			continue // a file: template.yaml, …
		}
		level := (len(line) - len(strings.TrimLeft(line, " "))) / 2
		if level > len(parents) {
			t.Fatalf("README folder map: %q is indented below no folder", line)
		}
		parents = append(parents[:level], name)
		mapped[strings.TrimSuffix(strings.Join(parents, ""), "/")] = true
	}
	if len(mapped) < 10 {
		t.Fatalf("found only %d folders in the README's folder map", len(mapped))
	}
	for dir := range mapped {
		if st, err := os.Stat(filepath.Join(root, dir)); err != nil || !st.IsDir() {
			t.Errorf("the README's folder map names %s/, which does not exist", dir)
		}
	}
	list := exec.Command("go", "list", "-f", "{{.Dir}}", "./...")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(string(out))); n < 20 {
		t.Fatalf("go list ./... found only %d packages", n)
	}
	abs, _ := filepath.Abs(root)
	for _, dir := range strings.Fields(string(out)) {
		rel, _ := filepath.Rel(abs, dir)
		if !mapped[filepath.ToSlash(rel)] {
			t.Errorf("package %s is missing from the README's folder map", rel)
		}
	}
}

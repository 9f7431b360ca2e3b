package plan

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pureImports are the packages the plan and the project packages it uses
// may import: no network, files, clock or randomness, so that a plan
// depends on its input alone.
var pureImports = map[string]bool{
	"crypto/sha256": true, "encoding/hex": true, "encoding/json": true, "errors": true, "fmt": true,
	"math": true, "math/big": true, "regexp": true, "slices": true, "sort": true, "strconv": true,
	"strings": true, "time": true, "unicode": true, "unicode/utf8": true, "maps": true,
}

const module = "github.com/timebridge/timebridge/"

// TestImportsArePure keeps the plan free of I/O: every import of this
// package, and of the project packages it imports, is on pureImports.
func TestImportsArePure(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	seen := map[string]bool{}
	var visit func(pkg string)
	visit = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		dir := filepath.Join(root, strings.TrimPrefix(pkg, module))
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files in %s (%v)", pkg, dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				switch {
				case strings.HasPrefix(path, module):
					visit(path)
				case !pureImports[path]:
					t.Errorf("%s imports %q: the plan must not do I/O; do it in the engine and pass the result in", f, path)
				}
			}
		}
	}
	visit(module + "shared/engine/plan")
	if len(seen) < 3 {
		t.Fatalf("visited only %v", seen)
	}
}

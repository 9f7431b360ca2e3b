package samtemplate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/config"
)

// wiring is what a function's package main does, read from its source.
// configNeeds are the config.Need flags by name, as a main spells them.
var configNeeds = map[string]config.Need{
	"NeedAdmin": config.NeedAdmin, "NeedSecrets": config.NeedSecrets, "NeedEngine": config.NeedEngine,
	"NeedMetrics": config.NeedMetrics,
}

type wiring struct {
	calls     map[string]bool // "<import path>.<Func>" of every package-level call
	needAdmin bool            // config.Load(…, config.NeedAdmin)
	needs     []config.Need   // every config.Need the function passes to config.Load
	getenv    []string        // literal os.Getenv / os.LookupEnv names
	imports   map[string]bool // module packages imported, transitively
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// importNames maps a file's local package names to import paths.
func importNames(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		m[name] = p
	}
	return m
}

// selectorCall returns "<import path>.<name>" for a call of pkg.Name.
func selectorCall(names map[string]string, call *ast.CallExpr) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok || names[id.Name] == "" {
		return ""
	}
	return names[id.Name] + "." + sel.Sel.Name
}

func readWiring(t *testing.T, dir string) wiring {
	t.Helper()
	w := wiring{calls: map[string]bool{}, imports: map[string]bool{}}
	files := parseDir(t, filepath.Join(root, "functions", dir))
	if len(files) == 0 {
		t.Fatalf("functions/%s has no Go files", dir)
	}
	for _, f := range files {
		if f.Name.Name != "main" {
			t.Errorf("functions/%s is package %s, not main", dir, f.Name.Name)
		}
		names := importNames(f)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := selectorCall(names, call)
			if fn == "" {
				return true
			}
			w.calls[fn] = true
			switch fn {
			case module + "shared/config.Load":
				for _, a := range call.Args[1:] {
					sel, ok := a.(*ast.SelectorExpr)
					var need config.Need
					if ok {
						need, ok = configNeeds[sel.Sel.Name]
					}
					if !ok {
						t.Errorf("functions/%s passes %s to config.Load; the template test knows only %v", dir, types.ExprString(a), slices.Sorted(maps.Keys(configNeeds)))
						continue
					}
					w.needs = append(w.needs, need)
					w.needAdmin = w.needAdmin || need == config.NeedAdmin
				}
			case "os.Getenv", "os.LookupEnv":
				if lit, ok := call.Args[0].(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					w.getenv = append(w.getenv, s)
				} else {
					t.Errorf("functions/%s reads an environment variable whose name is not a literal; the template test cannot check it", dir)
				}
			}
			return true
		})
	}
	// Module packages reachable from main.
	var visit func(files []*ast.File)
	visit = func(files []*ast.File) {
		for _, f := range files {
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(p, module) || w.imports[p] {
					continue
				}
				w.imports[p] = true
				visit(parseDir(t, filepath.Join(root, strings.TrimPrefix(p, module))))
			}
		}
	}
	visit(files)
	return w
}

// envReads returns the TIMEBRIDGE_* variables read by literal name in the
// non-test files of a module package.
func envReads(t *testing.T, pkg string) []string {
	t.Helper()
	var out []string
	for _, f := range parseDir(t, filepath.Join(root, strings.TrimPrefix(pkg, module))) {
		names := importNames(f)
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if fn := selectorCall(names, call); (fn == "os.Getenv" || fn == "os.LookupEnv") && len(call.Args) == 1 {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok {
						if s, _ := strconv.Unquote(lit.Value); strings.HasPrefix(s, "TIMEBRIDGE_") {
							out = append(out, s)
						}
					}
				}
			}
			return true
		})
	}
	return out
}

// secretFamily matches the first literal of a vault name built as
// "family/" + id + "/name" (connectors/<id>/token, profiles/<id>/webhook-secret).
var secretFamily = regexp.MustCompile(`^[a-z][a-z0-9-]*/$`)

// vaultFamilies returns the secret name families the code of pkg builds:
// by a literal chain "family/" + id + "/name", or by calling one of the
// vault package's name functions (vault.ConnectorToken, …), which count
// for their callers, not for the vault package itself.
func vaultFamilies(t *testing.T, pkg string) []string {
	t.Helper()
	const vaultPkg = module + "shared/vault"
	if pkg == vaultPkg {
		return nil
	}
	named := map[string][]string{} // vault function → the families it builds
	for _, f := range parseDir(t, filepath.Join(root, "shared", "vault")) {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Body != nil {
				named[vaultPkg+"."+fd.Name.Name] = literalFamilies(fd.Body)
			}
		}
	}
	var out []string
	for _, f := range parseDir(t, filepath.Join(root, strings.TrimPrefix(pkg, module))) {
		out = append(out, literalFamilies(f)...)
		names := importNames(f)
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				out = append(out, named[selectorCall(names, call)]...)
			}
			return true
		})
	}
	return out
}

// literalFamilies returns the families of the literal name chains in n.
func literalFamilies(node ast.Node) []string {
	var out []string
	ast.Inspect(node, func(n ast.Node) bool {
		be, ok := n.(*ast.BinaryExpr)
		if !ok || be.Op != token.ADD {
			return true
		}
		var ops []ast.Expr
		var flatten func(e ast.Expr)
		flatten = func(e ast.Expr) {
			if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
				flatten(b.X)
				flatten(b.Y)
				return
			}
			ops = append(ops, e)
		}
		flatten(be)
		lit := func(e ast.Expr) (string, bool) {
			bl, ok := e.(*ast.BasicLit)
			if !ok || bl.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(bl.Value)
			return s, err == nil
		}
		if len(ops) >= 3 {
			first, ok1 := lit(ops[0])
			third, ok3 := lit(ops[2])
			if ok1 && ok3 && secretFamily.MatchString(first) && strings.HasPrefix(third, "/") {
				out = append(out, first)
			}
		}
		return false // the whole chain is handled
	})
	return out
}

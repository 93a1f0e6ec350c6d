package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeBlocks returns the README's fenced code blocks of one language.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no ```%s block", lang)
	}
	return out
}

// Every ```go block of the README is a whole program that compiles against
// the Go client as an app would import it (its own module when clients/go
// has a go.mod, else the server's), and passes go vet.
func TestREADMEGoSnippetsCompile(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mod, dir := "github.com/sessiond/sessiond", repo
	if _, err := os.Stat(filepath.Join(repo, "clients/go/go.mod")); err == nil {
		mod, dir = "github.com/sessiond/sessiond/clients/go", filepath.Join(repo, "clients/go")
	}
	for i, src := range readmeBlocks(t, "go") {
		t.Run(fmt.Sprint("block ", i+1), func(t *testing.T) {
			if !strings.HasPrefix(src, "package ") {
				t.Fatalf("a README Go snippet must be a whole file (package, imports) so readers can run it:\n%s", src)
			}
			tmp := t.TempDir()
			gomod := fmt.Sprintf("module readmesnippet\n\ngo 1.22\n\nrequire %s v0.0.0\n\nreplace %s => %s\n", mod, mod, dir)
			writeSnippetFile(t, filepath.Join(tmp, "go.mod"), gomod)
			if sum, err := os.ReadFile(filepath.Join(dir, "go.sum")); err == nil {
				writeSnippetFile(t, filepath.Join(tmp, "go.sum"), string(sum))
			}
			writeSnippetFile(t, filepath.Join(tmp, "main.go"), src)
			for _, args := range [][]string{{"build", "-o", os.DevNull, "."}, {"vet", "."}} {
				cmd := exec.Command("go", args...)
				cmd.Dir = tmp
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s of the README's Go snippet: %v\n%s\n%s", args[0], err, out, src)
				}
			}
		})
	}
}

// Every ```js block parses as an ES module (node --check). The ```python
// blocks run in the Python suite (clients/python/tests/test_readme.py, from
// the installed wheel, against a real sessiond): clients/test.sh.
func TestREADMENodeSnippetsParse(t *testing.T) {
	t.Run("js", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			t.Skip("node is not installed")
		}
		for _, src := range readmeBlocks(t, "js") {
			f := filepath.Join(t.TempDir(), "snippet.mjs")
			writeSnippetFile(t, f, src)
			if out, err := exec.Command("node", "--check", f).CombinedOutput(); err != nil {
				t.Fatalf("node --check of the README's JS snippet: %v\n%s\n%s", err, out, src)
			}
		}
	})
}

func writeSnippetFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

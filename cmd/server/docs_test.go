package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// TestREADMEDocumentsEveryVariable keeps the README's configuration table
// and the code in step: every variable Load reads has a row, with its default.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		row := ""
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(line, "| `") && strings.Contains(line, "`"+v.Name+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README.md has no configuration row for %s", v.Name)
			continue
		}
		if !strings.HasPrefix(v.Default, "(") && v.Default != "" && !strings.Contains(row, "`"+v.Default+"`") {
			t.Errorf("README.md's row for %s does not give its default %q", v.Name, v.Default)
		}
	}
}

// The README and docs/ stand alone: no link or path leads outside the
// repository (a clone has no ../shared), and every relative link names a
// file that exists.
func TestDocsStandAlone(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.Contains(text, "../shared") || strings.Contains(text, "shared/") {
			t.Errorf("%s points to a shared/ folder outside the repository", f)
		}
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(f), target)
			if rel, err := filepath.Rel("../..", p); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links outside the repository: %s", f, target)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
			}
		}
	}
}

// Every test docs/security.md names as a requirement's proof exists.
func TestSecurityDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	_ = filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, "_test.go") {
			b, _ := os.ReadFile(p)
			for _, m := range regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`).FindAllStringSubmatch(string(b), -1) {
				defined[m[1]] = true
			}
		}
		return nil
	})
	named := regexp.MustCompile("`((?:Test|Fuzz)\\w+)`").FindAllStringSubmatch(string(doc), -1)
	if len(named) < 29 {
		t.Fatalf("docs/security.md names only %d tests", len(named))
	}
	for _, m := range named {
		if !defined[m[1]] {
			t.Errorf("docs/security.md names %s, which no test defines", m[1])
		}
	}
}

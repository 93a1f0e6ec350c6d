package main

import (
	"os"
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

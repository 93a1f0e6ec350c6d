package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEWalkthroughs runs every shell block between the README's
// <!-- walkthrough --> markers, in order, as one bash script against a real
// `sessiond serve --dev`, the way a newcomer would. Each step asserts what the
// README says it does (jq -e), so the README cannot drift from the code.
func TestREADMEWalkthroughs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README against a real server (about 10 s of its own sleeps)")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README walk-throughs need %s (apt-get install -y %s)", tool, tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := walkthroughScript(t, string(readme))

	dir := t.TempDir()
	getenv := testEnv(t, map[string]string{
		"SESSIOND_OPERATOR_TOKEN": "", "SESSIOND_MASTER_KEY": "",
		"SESSIOND_DATA_DIR": filepath.Join(dir, ".sessiond"),
	})
	s := startServe(t, []string{"--dev"}, getenv)

	cmd := execCommand(t, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SESSIOND="+s.url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README walk-through failed: %v\n%s", err, out)
	}
}

var (
	walkthroughSection = regexp.MustCompile(`(?s)<!-- walkthrough -->(.*?)<!-- /walkthrough -->`)
	shellBlock         = regexp.MustCompile("(?s)```sh\n(.*?)```")
)

func walkthroughScript(t *testing.T, readme string) string {
	t.Helper()
	var b strings.Builder
	sections := walkthroughSection.FindAllStringSubmatch(readme, -1)
	for _, sec := range sections {
		for _, block := range shellBlock.FindAllStringSubmatch(sec[1], -1) {
			b.WriteString(block[1])
			b.WriteString("\n")
		}
	}
	if len(sections) < 2 || strings.Count(b.String(), "jq -e") < 20 {
		t.Fatalf("found %d walk-through sections with %d assertions; the README lost its walk-throughs", len(sections), strings.Count(b.String(), "jq -e"))
	}
	return b.String()
}

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

// TestREADMEWalkthroughs runs every shell block between the README's
// <!-- walkthrough --> markers, in order, as one bash script against a real
// `sessiond serve --dev`, the way a newcomer would. Each step asserts what the
// README says it does (jq -e), so the README cannot drift from the code; and
// what each block prints is the "output" block the README shows after it
// (ids, tokens and times written as placeholders: see normalizeOutput). A
// block that prints something must show it. SESSIOND_README_UPDATE=1
// rewrites the output blocks from a run.
func TestREADMEWalkthroughs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README against a real server (about 10 s of its own sleeps)")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README walk-throughs need %s (apt-get install -y %s)", tool, tool)
		}
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	blocks := walkthroughBlocks(t, readme)
	var script strings.Builder
	for i, b := range blocks {
		fmt.Fprintf(&script, "printf '\\n%s\\n'\n%s\n", blockMarker(i), b.code)
	}

	dir := t.TempDir()
	getenv := testEnv(t, map[string]string{
		"SESSIOND_OPERATOR_TOKEN": "", "SESSIOND_MASTER_KEY": "",
		"SESSIOND_DATA_DIR": filepath.Join(dir, ".sessiond"),
	})
	s := startServe(t, []string{"--dev"}, getenv)

	cmd := execCommand(t, "bash", "-c", "set -euo pipefail\n"+script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SESSIOND="+s.url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		printed := splitByMarkers(string(out), len(blocks))
		last := 0
		for i := range printed {
			if strings.Contains(string(out), blockMarker(i)) {
				last = i
			}
		}
		t.Fatalf("the README walk-through failed in block %d: %v\n%s\nprinted:\n%s%s", last+1, err, blocks[last].code, printed[last], stderr.String())
	}

	printed := splitByMarkers(string(out), len(blocks))
	update := os.Getenv("SESSIOND_README_UPDATE") == "1"
	for i := len(blocks) - 1; i >= 0; i-- { // from the end: edits keep earlier offsets
		b, got := blocks[i], normalizeOutput(printed[i])
		switch {
		case update:
			readme = readme[:b.end] + outputBlock(got) + readme[b.outEnd:]
		case got != b.shown:
			t.Errorf("README walk-through block %d prints\n%s\nbut the README shows\n%s\n(the block:\n%s)", i+1, got, b.shown, b.code)
		}
	}
	if update {
		if err := os.WriteFile("../../README.md", []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A walkBlock is one ```sh block of a walk-through and the output the README
// shows after it ("" for none); end and outEnd delimit that output block.
type walkBlock struct {
	code, shown string
	end, outEnd int
}

var (
	walkthroughSection = regexp.MustCompile(`(?s)<!-- walkthrough -->(.*?)<!-- /walkthrough -->`)
	shellBlock         = regexp.MustCompile("(?s)```sh\n(.*?)```\n")
	shownOutput        = regexp.MustCompile("(?s)^\n<!-- output -->\n```text\n(.*?)```\n")
)

func walkthroughBlocks(t *testing.T, readme string) []walkBlock {
	t.Helper()
	var blocks []walkBlock
	sections := walkthroughSection.FindAllStringSubmatchIndex(readme, -1)
	for _, sec := range sections {
		body := readme[sec[2]:sec[3]]
		for _, m := range shellBlock.FindAllStringSubmatchIndex(body, -1) {
			b := walkBlock{code: body[m[2]:m[3]], end: sec[2] + m[1]}
			b.outEnd = b.end
			if o := shownOutput.FindStringSubmatchIndex(readme[b.end:]); o != nil {
				b.shown, b.outEnd = readme[b.end+o[2]:b.end+o[3]], b.end+o[1]
			}
			blocks = append(blocks, b)
		}
	}
	all := ""
	for _, b := range blocks {
		all += b.code
	}
	if len(sections) < 2 || strings.Count(all, "jq -ce") < 20 {
		t.Fatalf("found %d walk-through sections with %d assertions; the README lost its walk-throughs", len(sections), strings.Count(all, "jq -ce"))
	}
	return blocks
}

func blockMarker(i int) string { return fmt.Sprintf("@@README block %d@@", i) }

// splitByMarkers cuts a run's stdout into what each block printed.
func splitByMarkers(out string, n int) []string {
	printed := make([]string, n)
	for i := n - 1; i >= 0; i-- {
		at := strings.LastIndex(out, "\n"+blockMarker(i)+"\n")
		if at < 0 {
			continue
		}
		printed[i] = out[at+len(blockMarker(i))+2:]
		out = out[:at]
	}
	return printed
}

func outputBlock(got string) string {
	if got == "" {
		return ""
	}
	return "\n<!-- output -->\n```text\n" + got + "```\n"
}

// Placeholders for what differs between runs: times, tokens, ids, secrets.
// Only values are replaced (a JSON key is followed by a colon).
var placeholders = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "2026-01-01T00:00:00Z"},
	{regexp.MustCompile(`"v1\.[^"]+"`), `"v1.…"`},
	{regexp.MustCompile(`"s[a-z0-9]{2}_[a-z0-9]{16,}"([^:])`), `"s…_…"${1}`}, // session ids: s, the user's bucket, _, random
	{regexp.MustCompile(`"([a-z]{1,4})_[a-z0-9]{16,}"([^:])`), `"${1}_…"${2}`},
}

// randomString is a long JSON string value with a digit, an upper-case
// letter or base64 punctuation: a secret or id, not a word or a code.
var randomString = regexp.MustCompile(`"[A-Za-z0-9_+/=-]{20,}"[^:]`)

// normalizeOutput puts placeholders where runs differ, and ends the text
// with one newline ("" when nothing was printed).
func normalizeOutput(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	for _, p := range placeholders {
		s = p.re.ReplaceAllString(s, p.with)
	}
	s = randomString.ReplaceAllStringFunc(s, func(m string) string {
		if strings.ContainsAny(m[1:len(m)-2], "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+/=-") {
			return `"…"` + m[len(m)-1:]
		}
		return m
	})
	return s + "\n"
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/tenants"
)

// policyDefaults flattens the code's default policy to field → JSON value
// ("binding.ip" → "off").
func policyDefaults(t *testing.T) map[string]string {
	t.Helper()
	b, err := json.Marshal(tenants.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if o, ok := v.(map[string]any); ok {
			for k, x := range o {
				walk(prefix+k+".", x)
			}
			return
		}
		out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(v)
	}
	walk("", m)
	return out
}

// The policy defaults the code applies are the ones the docs state: every
// field in docs/design.md's table, every "(default X)" in the contract's
// Policy schema, and the README's "N by default" for the per-user cap; and
// the listings' page size is the contract's. (The configuration defaults are
// checked against the README by TestREADMEDocumentsEveryVariable.)
func TestDocumentedPolicyDefaultsAreTheCodes(t *testing.T) {
	code := policyDefaults(t)
	if len(code) < 8 {
		t.Fatalf("the default policy flattened to %v", code)
	}

	design, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)<!-- policy-defaults[^>]*-->(.*?)<!-- /policy-defaults -->`).FindSubmatch(design)
	if table == nil {
		t.Fatal("docs/design.md lost its policy-defaults table")
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\| `([^`]*)` \\|").FindAllSubmatch(table[1], -1) {
		documented[string(m[1])] = string(m[2])
	}
	for field, v := range code {
		if documented[field] != v {
			t.Errorf("docs/design.md gives %s the default %q; the code's is %q", field, documented[field], v)
		}
	}
	for field := range documented {
		if _, ok := code[field]; !ok {
			t.Errorf("docs/design.md lists %s, which the policy does not have", field)
		}
	}

	spec, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schema := regexp.MustCompile(`(?s)\n    Policy:\n(.*?)\n    [A-Za-z]+:\n`).FindSubmatch(spec)
	if schema == nil {
		t.Fatal("api/openapi.yaml has no Policy schema")
	}
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^        ([a-z_]+): \{.*\(default ([^)]+)\)`).FindAllSubmatch(schema[1], -1) {
		n++
		if field, v := string(m[1]), string(m[2]); code[field] != v {
			t.Errorf("api/openapi.yaml says %s defaults to %s; the code's default is %s", field, v, code[field])
		}
	}
	if n < 6 {
		t.Errorf("api/openapi.yaml's Policy schema states %d defaults; want one per scalar field", n)
	}

	limit := regexp.MustCompile(`(?s)\n    Limit:\n.*?schema: \{[^}]*minimum: 1, maximum: (\d+), default: (\d+)\}`).FindSubmatch(spec)
	if limit == nil || string(limit[1]) != fmt.Sprint(tenants.MaxPageLimit) || string(limit[2]) != fmt.Sprint(tenants.DefaultPageLimit) {
		t.Errorf("api/openapi.yaml's limit parameter does not say maximum %d, default %d (the code's)", tenants.MaxPageLimit, tenants.DefaultPageLimit)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := code["max_sessions_per_user"] + " by default"; !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say max_sessions_per_user is %q", want)
	}
}

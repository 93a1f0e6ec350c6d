package fault_test

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/fault"
)

func TestStatusMapsCodesAndDefaultsTo500(t *testing.T) {
	if got := fault.Code("no_such_code").Status(); got != http.StatusInternalServerError {
		t.Fatalf("unknown code → %d", got)
	}
	if got := fault.RateLimited.Status(); got != http.StatusTooManyRequests {
		t.Fatalf("rate_limited → %d", got)
	}
	if got := fault.SessionInvalid.Title(); got != "Session invalid" {
		t.Fatalf("title %q", got)
	}
	if got := fault.NotFound.Type(); got != "urn:sessiond:problem:not_found" {
		t.Fatalf("type %q", got)
	}
}

// TestReadmeListsEveryCode compares the README's error list ("`code`
// status" pairs after "Errors are RFC 9457") with the table.
func TestReadmeListsEveryCode(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(b), "Errors are RFC 9457")
	if !ok {
		t.Fatal("README.md has no error list")
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var listed []string
	for _, m := range regexp.MustCompile("`([a-z_]+)` ([0-9]{3})").FindAllStringSubmatch(list, -1) {
		listed = append(listed, m[1]+" "+m[2])
	}
	var want []string
	for _, c := range fault.Codes() {
		want = append(want, string(c)+" "+strconv.Itoa(c.Status()))
	}
	if !slices.Equal(listed, want) {
		t.Fatalf("README lists\n%v\nthe codes are\n%v", listed, want)
	}
}

package sessiond

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTheModuleImportsOnlyTheStandardLibrary lists every package the module's
// packages and their tests depend on (go list -deps -test) and refuses any
// outside the standard library and this module: an app that imports the
// client pulls in nothing else, and go.mod needs no require line.
func TestTheModuleImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		p, _, _ := strings.Cut(line, " ") // "pkg [pkg.test]" for a test's variant
		if !strings.HasPrefix(p, "github.com/sessiond/sessiond/clients/go/") {
			t.Errorf("imports %s, which is not in the standard library", p)
		}
	}
}

package sessiond

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/operations.json from the operations list")

// TestOperationsFileIsCurrent keeps testdata/operations.json equal to the
// operations list. The server module's contract test
// (internal/goclienttest/spec_test.go) reads that file and checks every call
// against api/openapi.yaml; this module stays free of the server's code.
// After changing an operation: go test -run OperationsFile -update.
func TestOperationsFileIsCurrent(t *testing.T) {
	want, err := json.MarshalIndent(operations, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const file = "testdata/operations.json"
	if *update {
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go test -run OperationsFile -update` in clients/go/sessiond", file)
	}
}

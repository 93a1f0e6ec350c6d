package httpapi_test

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestSpecDocumentsEveryOperation checks that api/openapi.yaml gives every
// operation an example of its success response, a summary, and (outside the
// health endpoints) its error responses; LoadSpec has already validated every
// example against its schema.
func TestSpecDocumentsEveryOperation(t *testing.T) {
	doc, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	hasExample := func(mt *openapi3.MediaType) bool {
		return mt.Example != nil || len(mt.Examples) > 0 ||
			(mt.Schema != nil && mt.Schema.Value != nil && mt.Schema.Value.Example != nil)
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			name := method + " " + path
			if op.Summary == "" || op.OperationID == "" {
				t.Errorf("%s: no summary or operationId", name)
			}
			example, errors := false, 0
			for code, r := range op.Responses.Map() {
				switch {
				case code[0] == '2' && len(r.Value.Content) == 0:
					example = true // 204: nothing to show
				case code[0] == '2':
					for _, mt := range r.Value.Content {
						example = example || hasExample(mt)
					}
				default:
					errors++
				}
			}
			if !example {
				t.Errorf("%s: no example of its success response", name)
			}
			if errors == 0 && path != "/healthz" && path != "/openapi.yaml" {
				t.Errorf("%s: documents no error response", name)
			}
		}
	}
	if n < 25 {
		t.Fatalf("only %d operations in the spec", n)
	}
}

package goclienttest

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sessiond/sessiond/api"
	"github.com/sessiond/sessiond/clients/go/sessiond"
)

// operation is one call of the API as the client module lists it in
// clients/go/sessiond/testdata/operations.json (a test there keeps the file
// equal to its operations list).
type operation struct {
	Method, Path string
	Status       int
	Sends        []string
	Reads        []string
	Query        []string
}

func loadOperations(t *testing.T) []operation {
	t.Helper()
	b, err := os.ReadFile("../../clients/go/sessiond/testdata/operations.json")
	if err != nil {
		t.Fatal(err)
	}
	var ops []operation
	if err := json.Unmarshal(b, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatal("operations.json lists no operation")
	}
	return ops
}

// TestEveryOperationTheClientCallsIsInTheContract checks each operation the
// client calls against api/openapi.yaml: the path and method exist with the
// success status, and every field sent or read is in the schema.
func TestEveryOperationTheClientCallsIsInTheContract(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, op := range loadOperations(t) {
		t.Run(op.Method+" "+op.Path, func(t *testing.T) {
			item := doc.Paths.Find(op.Path)
			if item == nil {
				t.Fatalf("path %s is not in api/openapi.yaml", op.Path)
			}
			o := item.GetOperation(op.Method)
			if o == nil {
				t.Fatalf("%s %s is not in api/openapi.yaml", op.Method, op.Path)
			}
			res := o.Responses.Status(op.Status)
			if res == nil || res.Value == nil {
				t.Fatalf("%s %s has no %d response", op.Method, op.Path, op.Status)
			}
			if len(op.Sends) > 0 {
				if o.RequestBody == nil || o.RequestBody.Value.Content.Get("application/json") == nil {
					t.Fatalf("%s %s takes no JSON body", op.Method, op.Path)
				}
				props := o.RequestBody.Value.Content.Get("application/json").Schema.Value.Properties
				for _, f := range op.Sends {
					if _, ok := props[f]; !ok {
						t.Errorf("request field %s is not in the schema", f)
					}
				}
			}
			if len(op.Reads) > 0 {
				props := res.Value.Content.Get("application/json").Schema.Value.Properties
				for _, f := range op.Reads {
					if _, ok := props[f]; !ok {
						t.Errorf("response field %s is not in the schema", f)
					}
				}
			}
			params := append(openapi3.Parameters{}, item.Parameters...)
			params = append(params, o.Parameters...)
			for _, q := range op.Query {
				if params.GetByInAndName("query", q) == nil {
					t.Errorf("no query parameter %s", q)
				}
			}
			for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(op.Path, -1) {
				if params.GetByInAndName("path", m[1]) == nil {
					t.Errorf("no path parameter %s", m[1])
				}
			}
		})
	}
}

// TestTheProblemCodesTheClientSwitchesOnExist keeps the Code constants in the contract's enum.
func TestTheProblemCodesTheClientSwitchesOnExist(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	enum := map[string]bool{}
	for _, v := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		enum[v.(string)] = true
	}
	for _, c := range []string{sessiond.CodeInvalidRequest, sessiond.CodeUnauthorized, sessiond.CodeForbidden, sessiond.CodeNotFound, sessiond.CodeSessionInvalid,
		sessiond.CodeSessionExpiredIdle, sessiond.CodeSessionExpiredAbsolute, sessiond.CodeBindingMismatch, sessiond.CodeCSRFMismatch, sessiond.CodeReauthRequired, sessiond.CodeStepUpRequired,
		sessiond.CodeSessionLimitReached, sessiond.CodeVersionConflict, sessiond.CodePayloadTooLarge, sessiond.CodeRateLimited, sessiond.CodeUnavailable, sessiond.CodeInternal} {
		if !enum[c] {
			t.Errorf("problem code %q is not in api/openapi.yaml", c)
		}
	}
}

// TestTheSessionTypeHasEveryFieldOfTheSchema compares the Session struct's JSON names with the schema's.
func TestTheSessionTypeHasEveryFieldOfTheSchema(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	for name, fields := range map[string][]string{
		"Session":           jsonNames(sessiond.Session{}),
		"SessionIssued":     jsonNames(sessiond.Issued{}),
		"SessionVerified":   jsonNames(sessiond.Verified{}),
		"SessionCreate":     jsonNames(sessiond.CreateParams{}),
		"SessionVerify":     jsonNames(sessiond.VerifyParams{}),
		"SessionRegenerate": jsonNames(sessiond.RegenerateParams{}),
		"Key":               jsonNames(sessiond.Key{}),
		"APIKeyCreated":     jsonNames(sessiond.APIKey{}),
		"SessionPage":       jsonNames(sessiond.SessionPage{}),
	} {
		props := doc.Components.Schemas[name].Value.Properties
		for _, f := range fields {
			if _, ok := props[f]; !ok {
				t.Errorf("%s: field %s is not in the schema", name, f)
			}
		}
		if len(fields) != len(props) {
			t.Errorf("%s: the type has %d fields, the schema %d", name, len(fields), len(props))
		}
	}
}

func jsonNames(v any) []string {
	var out []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

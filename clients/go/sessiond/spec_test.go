package sessiond

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sessiond/sessiond/api"
)

// TestEveryOperationTheClientCallsIsInTheContract checks each entry of
// operations against api/openapi.yaml: the path and method exist with the
// success status, and every field sent or read is in the schema.
func TestEveryOperationTheClientCallsIsInTheContract(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, op := range operations {
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
	for _, c := range []string{CodeInvalidRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeSessionInvalid,
		CodeSessionExpiredIdle, CodeSessionExpiredAbsolute, CodeBindingMismatch, CodeCSRFMismatch, CodeReauthRequired,
		CodeSessionLimitReached, CodeVersionConflict, CodePayloadTooLarge, CodeRateLimited, CodeUnavailable, CodeInternal} {
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
		"Session":           jsonNames(Session{}),
		"SessionIssued":     jsonNames(Issued{}),
		"SessionVerified":   jsonNames(Verified{}),
		"SessionCreate":     jsonNames(CreateParams{}),
		"SessionVerify":     jsonNames(VerifyParams{}),
		"SessionRegenerate": jsonNames(RegenerateParams{}),
		"Key":               jsonNames(Key{}),
		"APIKeyCreated":     jsonNames(APIKey{}),
		"SessionPage":       jsonNames(SessionPage{}),
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

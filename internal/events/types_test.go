package events_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sessiond/sessiond/api"
	"github.com/sessiond/sessiond/internal/events"
)

// declaredTypes returns the value of every constant of type Type declared in
// events.go, in source order.
func declaredTypes(tb testing.TB) []events.Type {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var out []events.Type
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" {
				continue
			}
			for _, v := range vs.Values {
				s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				if err != nil {
					tb.Fatal(err)
				}
				out = append(out, events.Type(s))
			}
		}
	}
	return out
}

func TestTypesListsEveryDeclaredTypeOnce(t *testing.T) {
	declared := declaredTypes(t)
	got := events.Types()
	if len(declared) < 20 {
		t.Fatalf("found only %d declared types in events.go", len(declared))
	}
	if sorted := slices.Sorted(slices.Values(got)); len(slices.Compact(sorted)) != len(got) {
		t.Errorf("Types() lists a type twice: %q", got)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(declared))) {
		t.Fatalf("Types() = %q,\nbut events.go declares %q", got, declared)
	}
	for _, typ := range declared {
		if !typ.Known() {
			t.Errorf("%s is declared but not Known", typ)
		}
	}
	if events.Type("session.unknown").Known() || events.Type("").Known() {
		t.Error("an undeclared type is Known")
	}
	got[0] = "changed"
	if events.Types()[0] == "changed" {
		t.Error("changing the result of Types changed the list")
	}
}

func TestOpenAPIEventTypeEnumsAreExactlyTypes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	enum := func(s *openapi3.SchemaRef) []events.Type {
		if s == nil || s.Value == nil {
			return nil
		}
		var out []events.Type
		for _, v := range s.Value.Enum {
			out = append(out, events.Type(v.(string)))
		}
		return out
	}
	list := doc.Paths.Find("/v1/events")
	if list == nil || list.Get == nil {
		t.Fatal("no GET /v1/events in the spec")
	}
	typeParam := list.Get.Parameters.GetByInAndName("query", "type")
	if typeParam == nil {
		t.Fatal("GET /v1/events has no type query parameter")
	}
	event := doc.Components.Schemas["Event"]
	if event == nil || event.Value == nil {
		t.Fatal("no Event schema in the spec")
	}
	for name, got := range map[string][]events.Type{
		"GET /v1/events?type":     enum(typeParam.Schema),
		"the Event schema's type": enum(event.Value.Properties["type"]),
	} {
		if !slices.Equal(got, events.Types()) {
			t.Errorf("%s enum = %q,\nwant events.Types() = %q", name, got, events.Types())
		}
	}
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/sessiond/sessiond/internal/sessions"
)

// agreementCorpus holds bodies for the compiled operations: valid ones,
// ones wrong in each keyword the compiler implements, and the shapes of
// FuzzRequestBodies' seeds.
var agreementCorpus = []string{
	`{}`, `{"name":"x"}`, `{"token":"v1.k_.a.b.c"}`, `{"token":""}`, `{"token":1}`, `{"token":null}`,
	`{"user_id":"a","data":{"k":[1,2,{"x":null}]}}`, `{"idle_timeout":1e309}`, `{"idle_timeout":-0}`,
	`{"data":"\u0000"}`, `[`, `null`, `"str"`, `{"a":1}{"b":2}`, "\xff\xfe", `{"token":"\xff"}`,
	`{"user_id":"` + strings.Repeat("é", 128) + `"}`, `{"user_id":"` + strings.Repeat("a", 128) + `"}`,
	`{"user_id":"` + strings.Repeat("a", 129) + `"}`, `{"user_id":"..."}`, `{"user_id":"a.b"}`, `{"user_id":""}`,
	`{"user_id":"a b"}`, `{"user_id":"a\u0000"}`, `{"user_id":"alice@example.com"}`,
	`{"user_id":"a","data":{"cart":3},"device":{"user_agent":"Firefox","ip":"203.0.113.9"}}`,
	`{"device":{"label":"x"}}`, `{"device":null}`, `{"device":[]}`, `{"device":{"ip":"` + strings.Repeat("1", 46) + `"}}`,
	`{"data":null}`, `{"data":[]}`, `{"data":{}}`, `{"idle_timeout":1}`, `{"idle_timeout":0}`, `{"idle_timeout":1.5}`,
	`{"idle_timeout":1.0}`, `{"idle_timeout":1e2}`, `{"idle_timeout":34560000}`, `{"idle_timeout":34560001}`,
	`{"idle_timeout":"1"}`, `{"absolute_timeout":-1}`,
	`{"token":"t","csrf_token":"c"}`, `{"token":"t","csrf_token":"` + strings.Repeat("c", 513) + `"}`,
	`{"token":"t","max_auth_age":0}`, `{"token":"t","max_auth_age":-1}`, `{"token":"t","max_auth_age":true}`,
	`{"token":"t","device":{"user_agent":"` + strings.Repeat("u", 1025) + `"}}`,
	`{"token":"t","user_id":"bob","reauthenticated":true}`, `{"token":"t","reauthenticated":"yes"}`,
	`{"token":"t","token":"u"}`, ` {"token":"t"} `, `{"token":"t"} x`,
	"{\"token\":\"\x05\"}", // raw control character: not JSON (a faster JSON library took it)
	`{"user_id":"a","amr":["pwd","otp"]}`, `{"user_id":"a","amr":[]}`, `{"user_id":"a","amr":["nope"]}`,
	`{"user_id":"a","amr":"pwd"}`, `{"user_id":"a","amr":[1]}`, `{"user_id":"a","amr":null}`,
	`{"user_id":"a","amr":["pwd","pwd","pwd","pwd","pwd","pwd","pwd","pwd"]}`,
	`{"user_id":"a","amr":["pwd","pwd","pwd","pwd","pwd","pwd","pwd","pwd","pwd"]}`,
	`{"token":"t","reauthenticated":true,"amr":["otp"]}`,
	`{"token":"t","min_aal":2}`, `{"token":"t","min_aal":3}`, `{"token":"t","min_aal":0}`, `{"token":"t","min_aal":"2"}`,
	`{"token":"t","max_factor_age":{"otp":300}}`, `{"token":"t","max_factor_age":{"otp":-1}}`,
	`{"token":"t","max_factor_age":{"otp":"300"}}`, `{"token":"t","max_factor_age":{}}`, `{"token":"t","max_factor_age":[]}`,
	`{"token":"t","max_factor_age":{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1}}`,
	`{"token":"t","max_factor_age":{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1}}`,
	`{"token":"t","max_factor_age":{"\u0000":1.5}}`,
	`{"user_id":"a","actor":{"type":"support","id":"bob"}}`, `{"user_id":"a","actor":{"type":"x","id":"bob"}}`,
	`{"user_id":"a","actor":{"type":"admin"}}`, `{"user_id":"a","actor":{"type":"admin","id":""}}`,
	`{"user_id":"a","actor":{"type":"admin","id":"b","x":1}}`, `{"user_id":"a","actor":"admin"}`,
	`{"remember":true}`, `{"remember":"yes"}`, `{"token":"t","user_id":"a","remember":true}`,
	`{"items":[{"token":"t"}]}`, `{"items":[]}`, `{"items":[{"token":"t"},{}]}`, `{"items":[{"token":"t","x":1}]}`,
	`{"items":{"token":"t"}}`, `{"items":[{"token":"t","min_aal":3}]}`, `{"items":[{"token":"t"}],"x":1}`,
	`{"items":[{"token":"t","csrf_token":"c","max_auth_age":0,"device":{"ip":"203.0.113.7"},"max_factor_age":{"otp":300}}]}`,
	`{"items":[null]}`, `{"items":null}`,
	`{"items":[{"user_id":"a"},{}]}`, `{"items":[{"user_id":"a","data":{"k":1},"amr":["pwd"],"remember":true}]}`,
	`{"items":[{"user_id":"a","actor":{"type":"support","id":"b"}},{"idle_timeout":0}]}`, `{"items":[{"user":"a"}]}`,
	`{"items":[{"user_id":"a b"}]}`, `{"items":[{"data":[]}]}`,
}

// TestCompiledBodyAgreesWithKin checks, for every operation whose body
// schema compiles, that the compiled check accepts exactly the bodies of
// the corpus that kin-openapi accepts. The hot operations must compile.
func TestCompiledBodyAgreesWithKin(t *testing.T) {
	v, ops := compiledOperations(t)
	for _, hot := range []string{"POST /v1/sessions", "POST /v1/sessions/create-batch", "POST /v1/sessions/verify", "POST /v1/sessions/verify-batch", "POST /v1/sessions/regenerate"} {
		if ops[hot] == nil {
			t.Errorf("%s: body schema not compiled", hot)
		}
	}
	for name, op := range ops {
		t.Logf("compiled: %s", name)
		for _, body := range agreementCorpus {
			if fast, kin := verdicts(v, op, []byte(body)); fast && !kin || !fast && kin {
				t.Errorf("%s %q: compiled check says %v, kin-openapi %v", name, body, fast, kin)
			}
		}
	}
}

// FuzzCompiledBodyAgreesWithKin: a body the compiled check accepts is one
// kin-openapi accepts, and the other way round.
//
//	go test -run '^$' -fuzz FuzzCompiledBodyAgreesWithKin -fuzztime 60s ./internal/httpapi/
func FuzzCompiledBodyAgreesWithKin(f *testing.F) {
	v, ops := compiledOperations(f)
	var names []string
	for name := range ops {
		names = append(names, name)
	}
	for _, body := range agreementCorpus {
		for i := range names {
			f.Add(uint8(i), []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := names[int(which)%len(names)]
		if fast, kin := verdicts(v, ops[name], body); fast != kin {
			t.Fatalf("%s %q: compiled check says %v, kin-openapi %v", name, body, fast, kin)
		}
	})
}

// compiledOperations are the document's operations whose body compiled.
func compiledOperations(tb testing.TB) (*validator, map[string]*operation) {
	doc, err := LoadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	v, err := newValidator(doc)
	if err != nil {
		tb.Fatal(err)
	}
	ops := map[string]*operation{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op, err := v.operation(method, path)
			if err != nil {
				tb.Fatal(err)
			}
			if op.body != nil {
				ops[method+" "+path] = op
			}
		}
	}
	return v, ops
}

// verdicts are the compiled check's and kin-openapi's answers for body.
func verdicts(v *validator, op *operation, body []byte) (fast, kin bool) {
	r := httptest.NewRequest(op.route.Method, op.route.Path, nil)
	r.Header.Set("Content-Type", "application/json")
	fast = op.accepts(r, body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: r, Route: op.route, Options: v.options}
	kin = openapi3filter.ValidateRequest(r.Context(), in) == nil
	return fast, kin
}

// looseTypes are the types the hot operations' bodies decode into.
var looseTypes = map[string]func() any{
	"POST /v1/sessions":              func() any { return &sessions.CreateParams{} },
	"POST /v1/sessions/create-batch": func() any { return &sessionCreateBatch{} },
	"POST /v1/sessions/verify":       func() any { return &sessions.VerifyParams{} },
	"POST /v1/sessions/verify-batch": func() any { return &sessionVerifyBatch{} },
	"POST /v1/sessions/regenerate":   func() any { return &sessions.RegenerateParams{} },
	"POST /v1/sessions/revoke":       func() any { return &sessionRevokeRequest{} },
}

// TestLoose: the hot operations' types need no DisallowUnknownFields after
// the compiled check; a type that would miss a key the check takes does.
func TestLoose(t *testing.T) {
	_, ops := compiledOperations(t)
	for name, v := range looseTypes {
		if !ops[name].loose(v()) {
			t.Errorf("%s: %T needs DisallowUnknownFields", name, v())
		}
	}
	create, verify := ops["POST /v1/sessions"], ops["POST /v1/sessions/verify"]
	type cart struct {
		Cart int `json:"cart"`
	}
	for _, c := range []struct {
		name  string
		op    *operation
		v     any
		loose bool
	}{
		{"free-form data in a map of any", create, &struct {
			sessions.CreateParams
			Data map[string]any `json:"data"`
		}{}, true},
		{"a property without a field", verify, &struct {
			Token string `json:"token"`
		}{}, false},
		{"an open object in a struct", create, &struct {
			sessions.CreateParams
			Data cart `json:"data"`
		}{}, false},
		{"free-form values in structs", create, &struct {
			sessions.CreateParams
			Data map[string]cart `json:"data"`
		}{}, false},
		{"free-form values in maps of structs", create, &struct {
			sessions.CreateParams
			Data map[string]map[string]cart `json:"data"`
		}{}, false},
		{"free-form values in slices of structs", create, &struct {
			sessions.CreateParams
			Data map[string][]cart `json:"data"`
		}{}, false},
		{"not a pointer", verify, sessions.VerifyParams{}, false},
	} {
		if got := c.op.loose(c.v); got != c.loose {
			t.Errorf("%s: loose %v, want %v", c.name, got, c.loose)
		}
	}
}

// TestLooseDecodesAsStrict: for every body of the corpus the compiled
// check accepts, json.Unmarshal into the operation's type succeeds only
// when the strict decoder does, with the same value.
func TestLooseDecodesAsStrict(t *testing.T) {
	_, ops := compiledOperations(t)
	for name, v := range looseTypes {
		op := ops[name]
		for _, body := range agreementCorpus {
			r := httptest.NewRequest("POST", op.route.Path, nil)
			r.Header.Set("Content-Type", "application/json")
			if !op.accepts(r, []byte(body)) {
				continue
			}
			fast, strict := v(), v()
			fastErr, strictErr := json.Unmarshal([]byte(body), fast), decodeStrict([]byte(body), strict)
			if fastErr == nil && (strictErr != nil || !reflect.DeepEqual(fast, strict)) {
				t.Errorf("%s %q: Unmarshal gives %+v, the strict decoder %+v (%v)", name, body, fast, strict, strictErr)
			}
		}
	}
}

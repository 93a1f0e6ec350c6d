package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sessiond/sessiond/internal/fault"
)

// checkedRoute is one route with a compiled body check, as the tests drive
// it: the production path (readBody, then server.validated with the route's
// fastBody) and the reference path (readBody, the OpenAPI validator,
// decodeJSON), each ending in a handler that keeps the decoded body.
type checkedRoute struct {
	path string
	// base is a valid body the mutations below start from.
	base map[string]any
	// production runs the production path; fast says whether the compiled
	// check took the request.
	production func(s *server, r *http.Request) (decoded any, fast bool, err error)
	// reference runs the OpenAPI validator and decodeJSON only.
	reference func(s *server, r *http.Request) (decoded any, err error)
	// accept runs the compiled check alone.
	accept func(r *http.Request, body []byte) (decoded any, ok bool)
}

func routeOf[T any](path string, base map[string]any, check bodyCheck[T]) checkedRoute {
	return checkedRoute{
		path: path,
		base: base,
		production: func(s *server, r *http.Request) (any, bool, error) {
			var got *T
			h := func(_ http.ResponseWriter, _ *http.Request, req *T) error { got = req; return nil }
			fb := withBody(check, h)
			w := httptest.NewRecorder()
			body, err := readBody(w, r, s.MaxBodyBytes)
			if err != nil {
				return nil, false, err
			}
			var fast bool
			if handled, _ := fb.handle(w, r.Clone(r.Context()), body); handled {
				fast = true
			}
			if err := s.validated(w, r, body, tenantSessions, fb, fb.general); err != nil {
				return nil, fast, err
			}
			return *got, fast, nil
		},
		reference: func(s *server, r *http.Request) (any, error) {
			body, err := readBody(httptest.NewRecorder(), r, s.MaxBodyBytes)
			if err != nil {
				return nil, err
			}
			if body != nil {
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				r.ContentLength = int64(len(body))
			}
			if err := s.validator.validate(r); err != nil {
				return nil, err
			}
			var req T
			if err := decodeJSON(r, &req); err != nil {
				return nil, err
			}
			return req, nil
		},
		accept: func(r *http.Request, body []byte) (any, bool) {
			var req T
			if !check.accept(r, body, &req) {
				return nil, false
			}
			return req, true
		},
	}
}

var checkedRoutes = []checkedRoute{
	routeOf("/v1/sessions", map[string]any{"user_id": "alice", "data": map[string]any{"cart": 3},
		"device":       map[string]any{"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "ip": "203.0.113.9"},
		"idle_timeout": 600, "absolute_timeout": 3600}, createCheck),
	routeOf("/v1/sessions/verify", map[string]any{"token": "v1.k_abcdefghijklmnop.ab.nonce.mac", "csrf_token": "csrf",
		"max_auth_age": 300, "device": map[string]any{"user_agent": "Mozilla/5.0", "ip": "2001:db8::1"}}, verifyCheck),
	routeOf("/v1/sessions/regenerate", map[string]any{"token": "v1.k_abcdefghijklmnop.ab.nonce.mac", "user_id": "bob",
		"reauthenticated": true}, regenerateCheck),
	routeOf("/v1/sessions/revoke", map[string]any{"token": "v1.k_abcdefghijklmnop.ab.nonce.mac"}, revokeCheck),
}

// bodyCase is one request of the corpus.
type bodyCase struct {
	name, contentType string
	body              []byte
	// hot: a body of the usual kind, which the compiled check must take.
	hot bool
}

// bodyCorpus returns the requests sent to a route: its valid body and
// variants of it (each property, known or not, set to each value of a
// list of awkward ones; each property removed), and raw bodies (not JSON,
// not an object, invalid UTF-8, duplicates, ...), under several content
// types.
func bodyCorpus(rt checkedRoute) []bodyCase {
	var cases []bodyCase
	add := func(name string, body []byte, hot bool) {
		cases = append(cases, bodyCase{name: name, contentType: "application/json", body: body, hot: hot})
	}
	enc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return b
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range rt.base {
			m[k] = v
		}
		m[k] = v
		return m
	}
	add("the valid body", enc(rt.base), true)
	add("only the required properties", enc(map[string]any{"token": "t"}), rt.path != "/v1/sessions")
	add("an empty object", []byte(`{}`), rt.path == "/v1/sessions")
	for k := range rt.base {
		m := with(k, nil)
		delete(m, k)
		add("without "+k, enc(m), k != "token")
	}

	long := func(n int, unit string) string { return strings.Repeat(unit, n) }
	values := map[string]any{
		"null": nil, "true": true, "false": false, "zero": 0, "one": 1, "minus one": -1,
		"300": 300, "max": 34560000, "max+1": 34560001, "int32 overflow": 1 << 33,
		"1.5": 1.5, "empty string": "", "string": "x", "digits": "123", "array": []any{}, "array of strings": []any{"a"},
		"object": map[string]any{}, "nested object": map[string]any{"a": map[string]any{"b": []any{1, "x", nil}}},
		"device-like":         map[string]any{"user_agent": "ua", "ip": "192.0.2.1"},
		"device with label":   map[string]any{"user_agent": "ua", "label": "x"},
		"device with unknown": map[string]any{"zz_made_up": "x"},
		"device ua null":      map[string]any{"user_agent": nil}, "device ip number": map[string]any{"ip": 1},
		"device ua 1024": map[string]any{"user_agent": long(1024, "a")}, "device ua 1025": map[string]any{"user_agent": long(1025, "a")},
		"device ua 1024 é": map[string]any{"user_agent": long(1024, "é")}, "device ua 1025 é": map[string]any{"user_agent": long(1025, "é")},
		"device ip 45": map[string]any{"ip": long(45, "1")}, "device ip 46": map[string]any{"ip": long(46, "1")},
		"512 chars": long(512, "a"), "513 chars": long(513, "a"), "512 é": long(512, "é"), "513 é": long(513, "é"),
		"512 emoji": long(512, "😀"), "513 emoji": long(513, "😀"), "128 chars": long(128, "a"), "129 chars": long(129, "a"),
		"45 chars": long(45, "1"), "46 chars": long(46, "1"), "a long token": long(5000, "t"),
		"user id with dots": "a.b", "dot": ".", "two dots": "..", "dots then a letter": "..a", "a space": "a b",
		"braces": "a{b}", "slash": "a/b", "colon": "a:b", "star": "a*", "non-ASCII": "é", "all allowed": "Az09._@+|=-",
		"NUL": "a\x00b", "newline": "a\nb", "tab": "\t", "quotes": `a"b\c`, "html": "<a>&", "U+2028": "a\u2028b",
		"emoji": "😀", "invalid UTF-8": "a\xffb",
	}
	keys := []string{"token", "csrf_token", "max_auth_age", "device", "user_id", "data", "idle_timeout",
		"absolute_timeout", "reauthenticated", "zz_made_up", "Token", "label"}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, k := range keys {
		for _, name := range names {
			add(k+" = "+name, enc(with(k, values[name])), false)
		}
	}

	v := string(enc(rt.base))
	inner := v[1 : len(v)-1]
	req := `"token":"t",` // what the body needs besides
	if _, ok := rt.base["token"]; !ok {
		req = ""
	}
	for _, k := range []string{"max_auth_age", "idle_timeout", "absolute_timeout"} {
		for name, n := range map[string]string{
			"huge": "99999999999999999999999", "1e309": "1e309", "1e2": "1e2", "1E2": "1E2", "100.0": "100.0",
			"-0": "-0", "-1": "-1", "leading zero": "0100", "plus sign": "+100", "zero": "0", "nine digits": "100000000",
			"ten digits": "1000000000", "hex": "0x10", "NaN": "NaN", "a fraction": "0.5", "1e-2": "1e-2",
		} {
			add(k+" written "+name, []byte(`{`+req+`"`+k+`":`+n+`}`), false)
		}
	}
	for name, body := range map[string]string{
		"empty":                      ``,
		"whitespace only":            " \n\t",
		"null":                       `null`,
		"true":                       `true`,
		"a number":                   `42`,
		"a string":                   `"x"`,
		"an array":                   `[]`,
		"an array of the object":     `[` + v + `]`,
		"not JSON":                   `token=abc`,
		"truncated":                  v[:len(v)-1],
		"two objects":                v + v,
		"an object and garbage":      v + `x`,
		"an object and a comma":      v + `,`,
		"surrounding whitespace":     " \r\n\t" + v + " \n",
		"whitespace everywhere":      strings.NewReplacer(`:`, " : ", `,`, " ,\n ", `{`, "{ ", `}`, " }").Replace(v),
		"a BOM":                      "\xef\xbb\xbf" + v,
		"invalid UTF-8 outside":      v + "\xff",
		"a trailing comma":           `{` + inner + `,}`,
		"a leading comma":            `{,` + inner + `}`,
		"single quotes":              `{'token':'t'}`,
		"duplicate token":            `{"token":"a",` + inner + `}`,
		"duplicate token, same":      `{` + inner + `,` + inner + `}`,
		"escaped name":               `{"\u0074oken":"t"}`,
		"escaped name of unknown":    `{"zz\u0041":"t"}`,
		"escapes in values":          `{"token":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`,
		"lone high surrogate":        `{"token":"\ud83d"}`,
		"lone low surrogate":         `{"token":"\ude00x"}`,
		"reversed surrogates":        `{"token":"\ude00\ud83d"}`,
		"surrogate and letter":       `{"token":"\ud83d\u0041"}`,
		"bad escape":                 `{"token":"\x"}`,
		"short unicode escape":       `{"token":"\u12"}`,
		"raw control character":      "{\"token\":\"a\x01b\"}",
		"raw tab":                    "{\"token\":\"a\tb\"}",
		"invalid UTF-8 in a string":  "{\"token\":\"a\xc3\x28b\"}",
		"overlong UTF-8":             "{\"token\":\"\xc0\xaf\"}",
		"UTF-8 surrogate":            "{\"token\":\"\xed\xa0\x80\"}",
		"invalid UTF-8 in a name":    "{\"tok\xffen\":\"t\"}",
		"NUL outside":                v + "\x00",
		"a bare word":                `{"token":t}`,
		"a bare word for user_id":    `{` + req + `"user_id":alice}`,
		"True":                       `{` + req + `"reauthenticated":True}`,
		"data with 1e999":            `{` + req + `"data":{"x":1e999}}`,
		"data with whitespace":       `{` + req + `"data": { "a" : [ 1 , 2 ] , "b":{"c":"d e"} } }`,
		"data with html":             `{` + req + `"data":{"a":"<b>&"}}`,
		"data with a duplicate":      `{` + req + `"data":{"a":1,"a":2}}`,
		"data with invalid UTF-8":    "{" + req + "\"data\":{\"a\":\"\xff\"}}",
		"data with brackets in text": `{` + req + `"data":{"a":"}]{[\"\\"}}`,
		"data unclosed":              `{` + req + `"data":{"a":1}`,
		"data with a bad value":      `{` + req + `"data":{"a":tru}}`,
		"data deeply nested":         `{` + req + `"data":` + strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300) + `}`,
		"data too deeply nested":     `{` + req + `"data":` + strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001) + `}`,
		"data a string":              `{` + req + `"data":"{}"}`,
		"device twice":               `{` + req + `"device":{"ip":"192.0.2.1"},"device":{"user_agent":"x"}}`,
		"device ua twice":            `{` + req + `"device":{"user_agent":"a","user_agent":"b"}}`,
		"device an array":            `{` + req + `"device":[{"ip":"192.0.2.1"}]}`,
		"device empty":               `{` + req + `"device":{}}`,
		"device trailing comma":      `{` + req + `"device":{"ip":"192.0.2.1",}}`,
	} {
		add(name, []byte(body), false)
	}

	// Content types, with the valid body and a broken one.
	for _, ct := range []string{"", "application/json; charset=utf-8", "application/json;charset=UTF-8",
		"application/json; charset=iso-8859-1", "Application/JSON", "application/json ", "application/merge-patch+json",
		"application/problem+json", "text/plain", "text/json", "application/x-www-form-urlencoded", "application/*",
		"*/*", "application/json, text/plain", "application/json; =", "json"} {
		for _, b := range []struct {
			name string
			body []byte
		}{{"the valid body", enc(rt.base)}, {"a body of the wrong type", []byte(`[1]`)}, {"an empty body", nil}} {
			cases = append(cases, bodyCase{name: "Content-Type " + ct + ", " + b.name, contentType: ct, body: b.body,
				hot: ct == "application/json; charset=utf-8" && b.name == "the valid body"})
		}
	}
	return cases
}

func newRequest(path string, c bodyCase) *http.Request {
	var body io.Reader = http.NoBody
	if c.body != nil {
		body = strings.NewReader(string(c.body))
	}
	r := httptest.NewRequest("POST", path, body)
	if c.contentType != "" {
		r.Header.Set("Content-Type", c.contentType)
	}
	if c.contentType == "application/json, text/plain" {
		r.Header["Content-Type"] = []string{"application/json", "text/plain"}
	}
	return r
}

// outcome is what a client sees of a refusal (status, code, detail and
// each field error), or the decoded body of an accepted request.
func outcome(decoded any, err error) string {
	if err == nil {
		b, _ := json.Marshal(decoded) // pointers followed, for reading
		return fmt.Sprintf("accepted %T %s", decoded, b)
	}
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return "internal error " + err.Error()
	}
	return fmt.Sprintf("%d %s %q %v", fe.Code.Status(), fe.Code, fe.Message, fe.Fields)
}

// sameOutcome reports whether two paths answered alike: the same refusal,
// or the same decoded value.
func sameOutcome(got any, gotErr error, want any, wantErr error) bool {
	if gotErr != nil || wantErr != nil {
		return gotErr != nil && wantErr != nil && outcome(nil, gotErr) == outcome(nil, wantErr)
	}
	return reflect.DeepEqual(got, want)
}

func newTestServer(t testing.TB) *server {
	t.Helper()
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newValidator(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &server{Deps: Deps{MaxBodyBytes: 1 << 20}, validator: v}
}

// TestCompiledChecksAgreeWithTheOpenAPIValidator sends a corpus of bodies
// to each route with a compiled body check, through the production path
// and through the OpenAPI validator alone: both must refuse the same
// requests with the same status, code, detail and field errors, and accept
// the same ones decoded to the same value. Whatever the compiled check
// accepts, the validator accepts and decodeJSON decodes alike; and it
// takes the usual bodies itself.
func TestCompiledChecksAgreeWithTheOpenAPIValidator(t *testing.T) {
	s := newTestServer(t)
	total, fast, refused := 0, 0, 0
	for _, rt := range checkedRoutes {
		t.Run(rt.path, func(t *testing.T) {
			for _, c := range bodyCorpus(rt) {
				total++
				got, tookFast, gotErr := rt.production(s, newRequest(rt.path, c))
				want, wantErr := rt.reference(s, newRequest(rt.path, c))
				if !sameOutcome(got, gotErr, want, wantErr) {
					t.Errorf("%s: the production path and the OpenAPI validator disagree on %q:\n got %s\nwant %s",
						c.name, c.body, outcome(got, gotErr), outcome(want, wantErr))
				}
				r := newRequest(rt.path, c)
				decoded, ok := rt.accept(r, c.body)
				switch {
				case ok && wantErr != nil:
					t.Errorf("%s: the compiled check accepts %q, which the validator refuses: %s", c.name, c.body, outcome(nil, wantErr))
				case ok && !reflect.DeepEqual(decoded, want):
					t.Errorf("%s: the compiled check decodes %q as %s, decodeJSON as %s", c.name, c.body, outcome(decoded, nil), outcome(want, nil))
				case !ok && c.hot:
					t.Errorf("%s: the compiled check does not take %q", c.name, c.body)
				}
				if ok != tookFast {
					t.Errorf("%s: the compiled check says %v, the production path took the compiled way: %v", c.name, ok, tookFast)
				}
				if ok {
					fast++
				}
				if wantErr != nil {
					refused++
				}
			}
		})
	}
	t.Logf("%d requests: %d refused by the validator (and the same way by the production path), %d taken by the compiled checks", total, refused, fast)
	if total < 1000 || fast < 100 || refused < 500 {
		t.Fatalf("corpus too small: %d requests, %d compiled, %d refused", total, fast, refused)
	}
}

// FuzzCompiledChecks: whatever body the compiled check of a route accepts,
// the OpenAPI validator accepts too, and decodeJSON decodes it to the same
// value.
//
//	go test -run '^$' -fuzz FuzzCompiledChecks -fuzztime 60s ./internal/httpapi/
func FuzzCompiledChecks(f *testing.F) {
	for i, rt := range checkedRoutes {
		for _, c := range bodyCorpus(rt) {
			if c.contentType == "application/json" {
				f.Add(uint8(i), c.body)
			}
		}
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		rt := checkedRoutes[int(which)%len(checkedRoutes)]
		c := bodyCase{contentType: "application/json", body: body}
		decoded, ok := rt.accept(newRequest(rt.path, c), body)
		if !ok {
			return
		}
		want, err := rt.reference(s, newRequest(rt.path, c))
		if err != nil {
			t.Fatalf("the compiled check accepts %q, which the validator refuses: %s", body, outcome(nil, err))
		}
		if !reflect.DeepEqual(decoded, want) {
			t.Fatalf("the compiled check decodes %q as %s, decodeJSON as %s", body, outcome(decoded, nil), outcome(want, nil))
		}
	})
}

// TestCompiledChecksMatchTheDocument: each compiled check states the
// schema it implements, and it is the document's (New refuses to start
// otherwise); a changed schema is noticed.
func TestCompiledChecksMatchTheDocument(t *testing.T) {
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ checkAgainst(*openapi3.T) error }{createCheck, verifyCheck, regenerateCheck, revokeCheck} {
		if err := c.checkAgainst(withoutIdempotencyKey(doc)); err != nil {
			t.Error(err)
		}
	}
	longer := uint64(1000)
	doc.Components.Schemas["SessionVerify"].Value.Properties["csrf_token"].Value.MaxLength = &longer
	if err := verifyCheck.checkAgainst(doc); err == nil || !strings.Contains(err.Error(), "out of date") {
		t.Fatalf("a changed maxLength went unnoticed: %v", err)
	}
}

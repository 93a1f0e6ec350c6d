package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
)

// awkwardStrings are strings encoding/json escapes in every way it has.
var awkwardStrings = []string{
	"", "plain", `quote " and backslash \`, "<script>&amp;</script>", "line\nfeed\ttab\rreturn\bback\fform",
	"\x00\x01\x1f\x7f", "é ü 中文 😀", "line separator \u2028 and \u2029", "invalid \xff\xfe UTF-8 \xc3",
	"truncated \xe2\x80", "U+FFFD \ufffd",
}

var awkwardData = []string{`{}`, `{"cart":3}`, `{ "a" : [ 1, 2 ] }`, `{"html":"<b>&</b>"}`, "{\"ls\":\"\u2028\"}",
	`{"nested":{"deep":[{"x":null,"y":true,"z":1.5e3}]}}`, "{\"raw\":\"\xff\"}"}

// fill sets every field of the value v points to, recursively, from r:
// strings from awkwardStrings, numbers, times (with nanoseconds, in UTC and
// another zone), pointers, slices and json.RawMessage from awkwardData. A
// field added to a type is filled too, so a hand-written encoder that does
// not know it stops matching encoding/json.
func fill(v reflect.Value, r *rand.Rand) {
	switch v.Interface().(type) {
	case time.Time:
		zone := time.UTC
		if r.IntN(2) == 0 {
			zone = time.FixedZone("", -(3*3600 + 1800))
		}
		v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2))).In(zone)))
		return
	case json.RawMessage:
		v.Set(reflect.ValueOf(json.RawMessage(awkwardData[r.IntN(len(awkwardData))])))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(awkwardStrings[r.IntN(len(awkwardStrings))])
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(r.Int64N(1<<40) - 1<<39)
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), r)
	case reflect.Slice:
		n := 1 + r.IntN(3)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(v.Index(i), r)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), r)
		}
	default:
		panic("fill: no rule for " + v.Type().String())
	}
}

// zeroSome resets some fields, so omitempty and null are exercised.
func zeroSome(v reflect.Value, r *rand.Rand) {
	switch v.Kind() {
	case reflect.Struct:
		if _, ok := v.Interface().(time.Time); ok {
			return
		}
		for i := range v.NumField() {
			if r.IntN(4) == 0 {
				v.Field(i).SetZero()
			} else {
				zeroSome(v.Field(i), r)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			zeroSome(v.Elem(), r)
		}
	}
}

func encodingJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestEncodersWriteWhatEncodingJSONWrites: the hand-written encoders of the
// hot responses write byte for byte what encoding/json writes (the way
// writeJSON wrote them), for values with every field set and with some
// left empty.
func TestEncodersWriteWhatEncodingJSONWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var c sessions.Created
		var v sessions.Verified
		var s sessions.Session
		var p problem
		for _, x := range []any{&c, &v, &s, &p} {
			fill(reflect.ValueOf(x).Elem(), r)
			if i%2 == 1 {
				zeroSome(reflect.ValueOf(x).Elem(), r)
			}
		}
		if i%5 == 0 {
			c.Evicted, c.Session.Data, v.Session.AuthTime = nil, nil, nil
		}
		for _, enc := range []struct {
			name string
			v    any
			got  func() ([]byte, error)
		}{
			{"created", c, func() ([]byte, error) { return appendCreated(nil, &c) }},
			{"verified", v, func() ([]byte, error) { return appendVerified(nil, &v) }},
			{"session", s, func() ([]byte, error) { return appendSessionDoc(nil, &s) }},
			{"problem", p, func() ([]byte, error) { return appendProblem(nil, &p), nil }},
		} {
			got, err := enc.got()
			if err != nil {
				t.Fatalf("%s: %v", enc.name, err)
			}
			if want := encodingJSON(t, enc.v); string(got) != want {
				t.Fatalf("%s encodes\n%q\nencoding/json\n%q", enc.name, got, want)
			}
		}
	}
}

// The encoders fail where encoding/json fails: data that is not JSON, a
// time it cannot write.
func TestEncodersRefuseWhatEncodingJSONRefuses(t *testing.T) {
	for name, s := range map[string]sessions.Session{
		"data that is not JSON": {Data: json.RawMessage(`{"a":`)},
		"a year past 9999":      {Data: json.RawMessage(`{}`), ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := json.Marshal(s); err == nil {
			t.Fatalf("%s: encoding/json accepts it", name)
		}
		if _, err := appendSessionDoc(nil, &s); err == nil {
			t.Errorf("%s: the encoder accepts it", name)
		}
	}
}

func TestProblemBodiesAreWhatEncodingJSONWrites(t *testing.T) {
	p := problem{Type: fault.InvalidRequest.Type(), Title: fault.InvalidRequest.Title(), Status: 400,
		Detail: `user_id: string doesn't match "^[a-z]<>&$"`, Code: fault.InvalidRequest, RequestID: "r-1",
		Errors: []fault.FieldError{{Field: "user_id", Message: "is invalid"}, {Field: "device.ip", Message: "<é>"}}}
	if got, want := string(appendProblem(nil, &p)), encodingJSON(t, p); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

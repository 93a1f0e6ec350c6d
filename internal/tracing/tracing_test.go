package tracing_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessiond/sessiond/internal/apptest"
	"github.com/sessiond/sessiond/internal/tracing"
)

func TestTracingIsOffUnlessTheOTELVariablesAskForIt(t *testing.T) {
	for _, c := range []struct {
		env     map[string]string
		on, bad bool
	}{
		{env: nil},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, bad: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, bad: true},
	} {
		on, err := tracing.Enabled(func(k string) string { return c.env[k] })
		if on != c.on || (err != nil) != c.bad {
			t.Errorf("%v: on=%v err=%v, want on=%v error=%v", c.env, on, err, c.on, c.bad)
		}
	}
}

// TestSpansFollowARequestAndHoldNoSecret traces a real sessiond into an
// in-memory recorder: the caller's traceparent is the parent of the
// request's span, Redis scripts and SQL queries are its children, and no
// attribute anywhere holds a token, CSRF token, API key or operator token.
func TestSpansFollowARequestAndHoldNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	rec := tracetest.NewSpanRecorder()
	srv := apptest.Start(t, apptest.Options{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	call := func(path, key string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		r, _ := http.NewRequest("POST", srv.HTTP.URL+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, data)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tenant struct {
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	call("/v1/tenants", apptest.OperatorToken, map[string]any{"name": "traced"}, &tenant)
	var s struct {
		Token     string `json:"token"`
		CSRFToken string `json:"csrf_token"`
	}
	call("/v1/sessions", tenant.APIKey.Secret, map[string]any{"user_id": "tia"}, &s)
	call("/v1/sessions/verify", tenant.APIKey.Secret, map[string]any{"token": s.Token, "csrf_token": s.CSRFToken}, nil)
	call("/v1/sessions/revoke", tenant.APIKey.Secret, map[string]any{"token": s.Token}, nil)

	spans := rec.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = sp
	}
	for _, name := range []string{"POST /v1/tenants", "POST /v1/sessions", "POST /v1/sessions/verify", "POST /v1/sessions/revoke"} {
		sp, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %d spans", name, len(spans))
		}
		if sp.SpanContext().TraceID().String() != traceID || sp.Parent().SpanID().String() != parentID || !sp.Parent().IsRemote() {
			t.Errorf("%s: trace %s parent %s, want the caller's %s %s", name, sp.SpanContext().TraceID(), sp.Parent().SpanID(), traceID, parentID)
		}
	}
	children := func(parent sdktrace.ReadOnlySpan, prefix string) int {
		n := 0
		for _, sp := range spans {
			if sp.Parent().SpanID() == parent.SpanContext().SpanID() && strings.HasPrefix(sp.Name(), prefix) {
				n++
			}
		}
		return n
	}
	if children(byName["POST /v1/sessions/verify"], "redis ") == 0 {
		t.Error("verify has no Redis span")
	}
	if children(byName["POST /v1/tenants"], "postgresql ") == 0 {
		t.Error("creating a tenant has no PostgreSQL span")
	}

	secrets := []string{s.Token, s.CSRFToken, tenant.APIKey.Secret, apptest.OperatorToken}
	for _, sp := range spans {
		texts := []string{sp.Name(), sp.Status().Description}
		for _, kv := range sp.Attributes() {
			texts = append(texts, string(kv.Key)+"="+kv.Value.Emit())
		}
		for _, ev := range sp.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(text, secret) {
					t.Errorf("span %q holds a secret in %q", sp.Name(), text)
				}
			}
		}
	}
}

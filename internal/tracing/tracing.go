// Package tracing is sessiond's OpenTelemetry tracing: off by default, on
// when the standard OTEL_* environment variables ask for it. When on, each
// HTTP request is a server span (a W3C traceparent sent by the caller makes
// it a child of the caller's trace), and its Redis commands and PostgreSQL
// queries are child spans. Spans are exported with OTLP over HTTP.
//
// What a span may carry: the method, the route template (never the path:
// it holds user ids), the status, the request id, a Redis command's name
// (never its arguments: they hold token hashes, ids and data) and a SQL
// statement's text with its placeholders (never the arguments). No token,
// CSRF token, secret or header value is ever an attribute.
//
// When tracing is off, nothing of this package is installed: no
// middleware, hook or tracer runs on a request.
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// instrumentation is the tracer's name.
const instrumentation = "github.com/sessiond/sessiond"

// Enabled reads the OTEL_* variables: tracing is on when
// OTEL_TRACES_EXPORTER is "otlp", or when it is unset and an OTLP endpoint
// is given (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off. Other
// exporters, and OTLP over gRPC, are refused with an error that says so.
func Enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	on := false
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return false, nil
	case "otlp":
		on = true
	case "":
		on = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q is not supported: use otlp (OTLP over HTTP) or none", exp)
	}
	if !on {
		return false, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(name)); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("%s=%q is not supported: sessiond exports OTLP over HTTP (http/protobuf)", name, p)
			}
			break
		}
	}
	return true, nil
}

// NewProvider makes the tracer provider of a running sessiond: the OTLP/HTTP
// exporter (configured by OTEL_EXPORTER_OTLP_* as the SDK reads them), a
// batch span processor, the sampler of OTEL_TRACES_SAMPLER (default
// parentbased_always_on), and the resource "sessiond" at version, which
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override. Shut it down on
// exit to flush the last spans.
func NewProvider(ctx context.Context, version string) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("sessiond"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// propagator reads and writes W3C Trace Context (traceparent, tracestate).
var propagator = propagation.TraceContext{}

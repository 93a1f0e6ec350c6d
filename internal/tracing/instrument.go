package tracing

import (
	"context"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/internal/web"
)

// Middleware makes each request a server span of tp, the child of the
// caller's trace when the request carries a valid traceparent. Mount it
// inside web.WithAccessLog (it reads the route template the handlers set)
// and web.WithRequestID.
func Middleware(tp trace.TracerProvider, next http.Handler) http.Handler {
	tracer := tp.Tracer(instrumentation)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method := knownMethod(r.Method)
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method)))
		defer span.End()
		rec := &web.Recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		status := rec.Status
		if status == 0 {
			status = http.StatusOK
		}
		attrs := []attribute.KeyValue{semconv.HTTPResponseStatusCode(status), attribute.String("sessiond.request_id", web.RequestID(ctx))}
		if route := web.Route(ctx); route != "" {
			span.SetName(method + " " + route)
			attrs = append(attrs, semconv.HTTPRoute(route))
		}
		span.SetAttributes(attrs...)
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// knownMethod is the method for a span name, or _OTHER (any byte string is
// a method to net/http's parser; a span names only the standard ones).
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// RedisHook returns a go-redis hook that makes each command (a session
// script is one EVALSHA) and each pipeline a client span of tp. A span
// names the command only, never its arguments.
func RedisHook(tp trace.TracerProvider) redis.Hook {
	return redisHook{tracer: tp.Tracer(instrumentation)}
}

type redisHook struct{ tracer trace.Tracer }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmd) // background work outside any request: not traced
		}
		name := strings.ToLower(cmd.Name())
		ctx, span := h.tracer.Start(ctx, "redis "+name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(semconv.DBSystemNameRedis, semconv.DBOperationName(name)))
		defer span.End()
		err := next(ctx, cmd)
		endWith(span, err, redis.Nil)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmds)
		}
		ctx, span := h.tracer.Start(ctx, "redis pipeline", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(semconv.DBSystemNameRedis, semconv.DBOperationName("pipeline"),
				attribute.Int("db.operation.batch.size", len(cmds))))
		defer span.End()
		err := next(ctx, cmds)
		endWith(span, err, redis.Nil)
		return err
	}
}

// PgxTracer returns a pgx query tracer that makes each query a client span
// of tp, with the statement's text (its placeholders, never the arguments).
func PgxTracer(tp trace.TracerProvider) pgx.QueryTracer {
	return pgxTracer{tracer: tp.Tracer(instrumentation)}
}

type pgxTracer struct{ tracer trace.Tracer }

func (t pgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	op, _, _ := strings.Cut(strings.TrimSpace(data.SQL), " ")
	op = strings.ToUpper(op)
	ctx, _ = t.tracer.Start(ctx, "postgresql "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.DBSystemNamePostgreSQL, semconv.DBOperationName(op), semconv.DBQueryText(data.SQL)))
	return ctx
}

func (t pgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	endWith(span, data.Err, pgx.ErrNoRows)
	span.End()
}

// endWith marks span failed by err, unless err is the expected "nothing
// found" answer. The error's text is not recorded: a driver error may
// quote a value.
func endWith(span trace.Span, err, notFound error) {
	if err != nil && err != notFound {
		span.SetStatus(codes.Error, "failed")
	}
}

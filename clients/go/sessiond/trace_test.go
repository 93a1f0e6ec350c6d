package sessiond_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond/clients/go/sessiond"
)

func TestTheClientForwardsTheTraceparentOfItsContext(t *testing.T) {
	got := make(chan http.Header, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	c, err := sessiond.New(srv.URL, "sk_test")
	if err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		ctx    context.Context
		tp, ts string
	}{
		{context.Background(), "", ""},
		{sessiond.WithTraceparent(context.Background(), tp, "k=v"), tp, "k=v"},
		{sessiond.WithTraceparent(context.Background(), tp, ""), tp, ""},
		{sessiond.WithTraceparent(context.Background(), "00-xyz\r\nX-Evil: 1", "k=v"), "", ""},
		{sessiond.WithTraceparent(context.Background(), "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""), "", ""},
	} {
		if _, err := c.Keys(tc.ctx); err != nil {
			t.Fatal(err)
		}
		h := <-got
		if h.Get("traceparent") != tc.tp || h.Get("tracestate") != tc.ts {
			t.Errorf("sent traceparent %q tracestate %q, want %q %q", h.Get("traceparent"), h.Get("tracestate"), tc.tp, tc.ts)
		}
	}
}

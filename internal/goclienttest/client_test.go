package goclienttest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/clients/go/sessiond"
	"github.com/sessiond/sessiond/internal/apptest"
)

// TestClient runs the client's calls against a real sessiond.
func TestClient(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx := context.Background()
	srv := apptest.Start(t, apptest.Options{})
	tenant, err := mustClient(t, srv.HTTP.URL, apptest.OperatorToken).CreateTenant(ctx, "go client")
	if err != nil {
		t.Fatal(err)
	}
	c := mustClient(t, srv.HTTP.URL, tenant.APIKey.Secret)

	t.Run("create, verify, patch, regenerate, list", func(t *testing.T) {
		anon, err := c.CreateSession(ctx, sessiond.CreateParams{Data: map[string]any{"views": 1}, Device: &sessiond.DeviceIn{UserAgent: "go-test", IP: "203.0.113.7"}})
		if err != nil {
			t.Fatal(err)
		}
		csrf := anon.CSRFToken
		v, err := c.Verify(ctx, sessiond.VerifyParams{Token: anon.Token, CSRFToken: &csrf})
		if err != nil || v.Session.ID != anon.Session.ID || v.Token != "" {
			t.Fatalf("verify: %+v %v", v, err)
		}
		s, err := c.PatchData(ctx, anon.Session.ID, map[string]any{"views": 2, "cart": map[string]any{"items": 1}}, anon.Session.Version)
		if err != nil || s.Data["views"] != 2.0 {
			t.Fatalf("patch: %+v %v", s, err)
		}
		if _, err := c.PatchData(ctx, anon.Session.ID, map[string]any{"views": 3}, anon.Session.Version); sessiond.CodeOf(err) != sessiond.CodeVersionConflict {
			t.Fatalf("stale If-Match: %v", err)
		}
		login, err := c.Regenerate(ctx, sessiond.RegenerateParams{Token: anon.Token, UserID: "alice"})
		if err != nil || login.Session.UserID != "alice" || login.Session.AuthTime == nil || login.Session.Data["views"] != 2.0 {
			t.Fatalf("regenerate: %+v %v", login, err)
		}
		if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: anon.Token}); !sessiond.IsSessionEnded(err) {
			t.Fatalf("old token: %v", err)
		}
		list, err := c.UserSessions(ctx, "alice")
		if err != nil || len(list) != 1 || list[0].ID != login.Session.ID {
			t.Fatalf("user sessions: %v %v", list, err)
		}
		got, err := c.GetSession(ctx, login.Session.ID)
		if err != nil || got.UserID != "alice" {
			t.Fatalf("get: %v", err)
		}
	})

	t.Run("a create with user_id is a login: auth_time is set", func(t *testing.T) {
		s, err := c.CreateSession(ctx, sessiond.CreateParams{UserID: "bob"})
		if err != nil || s.Session.AuthTime == nil {
			t.Fatalf("%+v %v", s.Session, err)
		}
	})

	t.Run("RevokeToken logs out in one call and is idempotent, even for junk", func(t *testing.T) {
		s, err := c.CreateSession(ctx, sessiond.CreateParams{UserID: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{s.Token, s.Token, "junk"} {
			if err := c.RevokeToken(ctx, tok); err != nil {
				t.Fatalf("revoke %.10q: %v", tok, err)
			}
		}
		if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: s.Token}); sessiond.CodeOf(err) != sessiond.CodeSessionInvalid {
			t.Fatalf("after revoke: %v", err)
		}
	})

	t.Run("any string as a token is session_invalid, never invalid_request", func(t *testing.T) {
		for _, tok := range []string{"", "junk", "v1.k_x.ab.c.d", strings.Repeat("x", 600)} {
			if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: tok}); sessiond.CodeOf(err) != sessiond.CodeSessionInvalid {
				t.Errorf("verify %.10q: %v", tok, err)
			}
			if _, err := c.Regenerate(ctx, sessiond.RegenerateParams{Token: tok, UserID: "x"}); sessiond.CodeOf(err) != sessiond.CodeSessionInvalid {
				t.Errorf("regenerate %.10q: %v", tok, err)
			}
		}
	})

	t.Run("a user's sessions come in pages; UserSessions follows them", func(t *testing.T) {
		for range 3 {
			if _, err := c.CreateSession(ctx, sessiond.CreateParams{UserID: "erin"}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := c.UserSessionsPage(ctx, "erin", "", 2)
		if err != nil || len(first.Sessions) != 2 || first.NextCursor == "" {
			t.Fatalf("first page: %+v %v", first, err)
		}
		second, err := c.UserSessionsPage(ctx, "erin", first.NextCursor, 2)
		if err != nil || len(second.Sessions) != 1 || second.NextCursor != "" {
			t.Fatalf("second page: %+v %v", second, err)
		}
		all, err := c.UserSessions(ctx, "erin")
		if err != nil || len(all) != 3 {
			t.Fatalf("all: %d %v", len(all), err)
		}
	})

	t.Run("a bad API key is unauthorized: 401 like session_invalid, told apart by code", func(t *testing.T) {
		_, err := mustClient(t, srv.HTTP.URL, "sk_nope").Verify(ctx, sessiond.VerifyParams{Token: "x"})
		var se *sessiond.Error
		if !errors.As(err, &se) || se.Code != sessiond.CodeUnauthorized || se.HTTPStatus != 401 {
			t.Fatalf("err = %#v", err)
		}
		if sessiond.IsSessionEnded(err) || sessiond.HTTPStatus(err) != 500 {
			t.Fatalf("a bad API key must not end sessions, and is a 500 for the browser: %v", err)
		}
	})
}

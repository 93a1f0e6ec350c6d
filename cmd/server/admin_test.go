package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestAdminCreateMakesAnOperatorWhoSignsInToTheDevUI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	getenv := testEnv(t, map[string]string{"SESSIOND_DATA_DIR": dir})
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("a long operator password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "create", "--operator", "--email", "root@example.com", "--password-file", pwFile}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("admin create: %v", err)
	}
	if !strings.Contains(out.String(), "operator") || strings.Contains(out.String(), "long operator password") {
		t.Fatalf("output = %q", out.String())
	}
	for name, args := range map[string][]string{
		"a duplicate email":              {"admin", "create", "--operator", "--email", "ROOT@example.com", "--password-file", pwFile},
		"a password on the command line": {"admin", "create", "--operator", "--email", "x@example.com", "--password", "a long operator password"},
		"both a tenant and --operator":   {"admin", "create", "--operator", "--tenant", "tn_aaaaaaaaaaaaaaaa", "--email", "x@example.com", "--password-file", pwFile},
		"an unknown tenant":              {"admin", "create", "--tenant", "tn_aaaaaaaaaaaaaaaa", "--email", "x@example.com", "--password-file", pwFile},
	} {
		if err := run(ctx, args, getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}

	s := startServe(t, []string{"--dev"}, getenv)
	devPW := regexp.MustCompile(`Password:\s+in (\S+)`)
	var path string
	for i := 0; i < 200 && path == ""; i++ {
		if m := devPW.FindStringSubmatch(s.stdout.String()); m != nil {
			path = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if path == "" || !strings.Contains(s.stdout.String(), "/admin") {
		t.Fatalf("no admin UI login printed:\n%s", s.stdout)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", path, st, err)
	}
	b, _ := os.ReadFile(path)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, who := range []struct{ email, password string }{
		{"root@example.com", "a long operator password"},
		{"operator@sessiond.localhost", strings.TrimSpace(string(b))},
	} {
		res, err := client.PostForm(s.url+"/admin/login", url.Values{"email": {who.email}, "password": {who.password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/tenants" {
			t.Errorf("%s signs in: %d %s", who.email, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

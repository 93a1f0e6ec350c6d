package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	webadmin "github.com/sessiond/sessiond/web/admin"
)

// assets are the static files, served under names that carry a hash of
// their content ("app.3f2a1c9d0b.css"), so they can be cached for a year and
// a new build is never served a stale copy.
type assets struct {
	byHashed map[string]asset // "app.<hash>.css" → file
	hashed   map[string]string
}

type asset struct {
	body        []byte
	contentType string
}

func loadAssets() (*assets, error) {
	a := &assets{byHashed: map[string]asset{}, hashed: map[string]string{}}
	files, err := fs.Glob(webadmin.FS, "static/*")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		body, err := fs.ReadFile(webadmin.FS, f)
		if err != nil {
			return nil, err
		}
		name := path.Base(f)
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.byHashed[hashed] = asset{body: body, contentType: ct}
		a.hashed[name] = hashed
	}
	for _, want := range []string{"app.css", "app.js", "favicon.svg"} {
		if _, ok := a.hashed[want]; !ok {
			return nil, fmt.Errorf("admin UI: missing static/%s", want)
		}
	}
	return a, nil
}

// url returns the hashed URL of a static file; templates call it as
// {{asset "app.css"}}. An unknown name panics at render, in tests.
func (a *assets) url(name string) string {
	h, ok := a.hashed[name]
	if !ok {
		panic("admin UI: unknown asset " + name)
	}
	return "/admin/static/" + h
}

// static serves a hashed asset with a year-long immutable cache.
func (s *server) static(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets.byHashed[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}

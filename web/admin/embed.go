// Package admin holds the admin UI's HTML templates and static assets,
// embedded in the binary. internal/admin serves them.
package admin

import "embed"

// FS holds templates/*.html and static/*.
//
//go:embed templates/*.html static/*
var FS embed.FS

// Package migrations holds sessiond's PostgreSQL schema as golang-migrate SQL
// files ("NNNN_name.up.sql" / "NNNN_name.down.sql"), embedded in the binary.
// internal/postgres runs them.
package migrations

import "embed"

// FS holds every migration file, at its root.
//
//go:embed *.sql
var FS embed.FS

// Package migrations holds sessiond's PostgreSQL schema as golang-migrate SQL
// files ("NNNN_name.up.sql" / "NNNN_name.down.sql"), embedded in the binary.
// internal/postgres runs them.
package migrations

import (
	"embed"
	"io/fs"
	"strconv"
	"strings"
)

// FS holds every migration file, at its root.
//
//go:embed *.sql
var FS embed.FS

// Latest is the version of the newest migration: the schema version once
// every migration has applied.
func Latest() uint {
	names, _ := fs.Glob(FS, "*.up.sql")
	var latest uint64
	for _, name := range names {
		n, err := strconv.ParseUint(strings.SplitN(name, "_", 2)[0], 10, 32)
		if err == nil && n > latest {
			latest = n
		}
	}
	return uint(latest)
}

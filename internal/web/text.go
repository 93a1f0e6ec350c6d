package web

import (
	"strings"
	"unicode/utf8"
)

// IsText reports whether s is text PostgreSQL can hold: valid UTF-8 without
// NUL. Form values and headers may be any bytes.
func IsText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

package postgres

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
)

// Cursors are opaque to clients: base64url of a kind letter and a position,
// so a cursor of one listing is refused by another.
const (
	cursorTenants = "t"
	cursorEvents  = "e"
)

func encodeCursor(kind string, pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + strconv.FormatInt(pos, 10)))
}

// decodeCursor returns the position in cursor, 0 for "", and a
// fault.InvalidRequest error naming "cursor" when it is not one of ours.
func decodeCursor(kind, cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, fault.Invalid("cursor", "is not a cursor returned by this listing")
	}
	digits, ok := strings.CutPrefix(string(raw), kind)
	if !ok {
		return 0, fault.Invalid("cursor", "is not a cursor returned by this listing")
	}
	pos, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || pos <= 0 || strconv.FormatInt(pos, 10) != digits {
		return 0, fault.Invalid("cursor", "is not a cursor returned by this listing")
	}
	return pos, nil
}

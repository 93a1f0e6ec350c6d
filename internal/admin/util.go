package admin

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/fault"
)

func asFault(err error, fe **fault.Error) bool { return errors.As(err, fe) }

// fieldErrors maps an InvalidRequest's fields to their messages, for forms.
func fieldErrors(err error) map[string]string {
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.InvalidRequest {
		return nil
	}
	out := map[string]string{}
	for _, f := range fe.Fields {
		if _, dup := out[f.Field]; !dup {
			out[f.Field] = f.Message
		}
	}
	if len(out) == 0 {
		out[""] = fe.Message
	}
	return out
}

func errMissing(field, msg string) error { return fault.Invalid(field, "%s", msg) }

func isConflict(err error) bool { return fault.Is(err, fault.Conflict) }

// isText reports whether s is text PostgreSQL can hold: valid UTF-8 without
// NUL.
func isText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// allText reports whether every one of vs is text.
func allText(vs []string) bool {
	for _, v := range vs {
		if !isText(v) {
			return false
		}
	}
	return true
}

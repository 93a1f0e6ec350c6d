package admin

import (
	"errors"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/web"
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

// allText reports whether every one of vs is text.
func allText(vs []string) bool {
	for _, v := range vs {
		if !web.IsText(v) {
			return false
		}
	}
	return true
}

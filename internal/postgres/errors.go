package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/internal/fault"
)

// SQLSTATE codes this package acts on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeNotNullViolation    = "23502"
	codeInvalidCatalogName  = "3D000" // database does not exist
	codeDuplicateDatabase   = "42P04"
	codeUndefinedTable      = "42P01"
	codeQueryCanceled       = "57014" // statement_timeout, cancel request
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
)

// mapErr turns an error from pgx into sessiond's vocabulary. op says what
// was being done (for logs); thing names the row a query was after ("tenant",
// "API key"), for NotFound and Conflict messages.
//
//   - an error that already carries a fault code is returned as it is;
//   - pgx.ErrNoRows is fault.NotFound ("<thing> not found");
//   - a unique violation is fault.Conflict; a foreign key violation means
//     the owning tenant is missing, so it is fault.NotFound ("tenant not
//     found");
//   - server errors that say "try again" (connection exceptions, too many
//     connections, shutting down, statement timeout, serialization failure,
//     deadlock) are fault.Unavailable;
//   - any other server error is internal: a plain error wrapping it;
//   - anything else (refused or lost connections, closed pool, timeouts,
//     cancelled contexts) is fault.Unavailable.
func mapErr(err error, op, thing string) error {
	if err == nil {
		return nil
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.New(fault.NotFound, "%s not found", thing)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == codeUniqueViolation:
			return fault.Wrap(fmt.Errorf("postgres: %s: %w", op, err), fault.Conflict, "%s already exists", thing)
		case code == codeForeignKeyViolation:
			return fault.Wrap(fmt.Errorf("postgres: %s: %w", op, err), fault.NotFound, "tenant not found")
		case transient(code):
			return fault.Wrap(fmt.Errorf("postgres: %s: %w", op, err), fault.Unavailable, "database unavailable")
		default:
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
	}
	return fault.Wrap(fmt.Errorf("postgres: %s: %w", op, err), fault.Unavailable, "database unavailable")
}

// transient reports whether a SQLSTATE means the request may succeed if
// retried later, so the client should see 503 rather than 500.
func transient(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"),                     // insufficient resources (too many connections, disk full)
		code == "57P01", code == "57P02", code == "57P03", // admin/crash shutdown, cannot connect now
		code == codeQueryCanceled, code == codeSerialization, code == codeDeadlock:
		return true
	}
	return false
}

// isCode reports whether err is a PostgreSQL error with SQLSTATE code.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

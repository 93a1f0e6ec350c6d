package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

var _ tenants.AdminStore = (*Store)(nil)

const adminColumns = `id, tenant_id, email, password_hash, created_at, updated_at`

// CreateAdmin stores a. An email already used by any admin (ignoring case)
// is fault.Conflict; a missing tenant is fault.NotFound.
func (s *Store) CreateAdmin(ctx context.Context, a tenants.Admin) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO admins (`+adminColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.TenantID, a.Email, a.PasswordHash, a.CreatedAt, a.UpdatedAt)
	return mapErr(err, "create admin", "admin")
}

// GetAdmin returns the admin with id, or fault.NotFound.
func (s *Store) GetAdmin(ctx context.Context, id string) (tenants.Admin, error) {
	a, err := scanAdmin(s.pool.QueryRow(ctx, `SELECT `+adminColumns+` FROM admins WHERE id = $1`, id))
	return a, mapErr(err, "get admin", "admin")
}

// AdminByEmail returns the admin whose email equals email ignoring case, or
// fault.NotFound.
func (s *Store) AdminByEmail(ctx context.Context, email string) (tenants.Admin, error) {
	a, err := scanAdmin(s.pool.QueryRow(ctx, `SELECT `+adminColumns+` FROM admins WHERE lower(email) = lower($1)`, email))
	return a, mapErr(err, "get admin by email", "admin")
}

// ListAdmins returns tenantID's admins in creation order (none for an
// unknown tenant).
func (s *Store) ListAdmins(ctx context.Context, tenantID string) ([]tenants.Admin, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+adminColumns+` FROM admins WHERE tenant_id = $1 ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, mapErr(err, "list admins", "admin")
	}
	defer rows.Close()
	var out []tenants.Admin
	for rows.Next() {
		a, err := scanAdmin(rows)
		if err != nil {
			return nil, mapErr(err, "list admins", "admin")
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err(), "list admins", "admin")
}

// SetAdminPassword replaces admin id's password hash and sets its
// updated_at; a missing admin is fault.NotFound.
func (s *Store) SetAdminPassword(ctx context.Context, id, hash string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE admins SET password_hash = $2, updated_at = $3 WHERE id = $1`, id, hash, now)
	if err != nil {
		return mapErr(err, "set admin password", "admin")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "admin not found")
	}
	return nil
}

// DeleteAdmin removes admin id of tenantID; an admin of another tenant is
// fault.NotFound, as a missing one is.
func (s *Store) DeleteAdmin(ctx context.Context, tenantID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM admins WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return mapErr(err, "delete admin", "admin")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "admin not found")
	}
	return nil
}

func scanAdmin(row pgx.Row) (tenants.Admin, error) {
	var a tenants.Admin
	if err := row.Scan(&a.ID, &a.TenantID, &a.Email, &a.PasswordHash, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return tenants.Admin{}, err
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

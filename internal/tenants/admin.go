package tenants

import (
	"context"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/secrets"
)

// AdminIDPrefix starts every admin id.
const AdminIDPrefix = "ad_"

// Password bounds. The upper one only keeps hashing cheap to refuse.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
	maxEmailLen    = 254
)

// Role is what an admin may do in the admin UI.
type Role string

const (
	// RoleOperator is an admin of the system tenant: every tenant, and the
	// tenants themselves.
	RoleOperator Role = "operator"
	// RoleAdmin is a tenant admin: their own tenant only.
	RoleAdmin Role = "admin"
)

// Admin is a person who signs in to the admin UI. Email is unique across the
// deployment (ignoring case), so signing in needs no tenant. Only the
// argon2id hash of the password is stored.
type Admin struct {
	ID           string    `json:"id"`
	TenantID     string    `json:"tenant_id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Role returns RoleOperator for admins of the system tenant, else RoleAdmin.
func (a Admin) Role() Role {
	if a.TenantID == SystemTenantID {
		return RoleOperator
	}
	return RoleAdmin
}

// AdminStore is the system of record for admins. Methods return
// fault.NotFound for a missing admin (or, from CreateAdmin, a missing
// tenant), fault.Conflict for an email already taken, and fault.Unavailable
// when the database cannot be reached.
type AdminStore interface {
	CreateAdmin(ctx context.Context, a Admin) error
	GetAdmin(ctx context.Context, id string) (Admin, error)
	// AdminByEmail finds an admin by email, ignoring case.
	AdminByEmail(ctx context.Context, email string) (Admin, error)
	// ListAdmins lists a tenant's admins in creation order.
	ListAdmins(ctx context.Context, tenantID string) ([]Admin, error)
	SetAdminPassword(ctx context.Context, id, hash string, now time.Time) error
	// DeleteAdmin removes admin id of tenantID (fault.NotFound if that
	// tenant has no such admin).
	DeleteAdmin(ctx context.Context, tenantID, id string) error
}

// ValidateEmail checks that email is one plain address ("a@b.example"),
// without a display name, of at most 254 bytes.
func ValidateEmail(email string) error {
	if email == "" || len(email) > maxEmailLen || !utf8.ValidString(email) {
		return fault.Invalid("email", "must be an email address of at most %d characters", maxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" || !strings.Contains(email, "@") {
		return fault.Invalid("email", "must be a plain email address, like admin@example.com")
	}
	return nil
}

// ValidatePassword checks a new password of the admin with this email: 12
// to 1024 characters of valid UTF-8, and none of the weak passwords
// passwords.Weakness refuses (common, repeated, sequential, the email). Its
// fault.InvalidRequest names field and the rule broken, never the password.
func ValidatePassword(field, password, email string) error {
	if !utf8.ValidString(password) || len(password) > MaxPasswordLen {
		return fault.Invalid(field, "must be valid UTF-8 of at most %d bytes", MaxPasswordLen)
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fault.Invalid(field, "must be at least %d characters", MinPasswordLen)
	}
	if why := passwords.Weakness(password, email); why != "" {
		return fault.Invalid(field, "%s", why)
	}
	return nil
}

// CreateAdmin makes an admin of tenantID (SystemTenantID for an operator)
// with an argon2id hash of password.
//
// Errors: fault.InvalidRequest (email, password), fault.NotFound (no such
// tenant), fault.Conflict (the email is taken, in any tenant),
// fault.Unavailable.
func (s *Service) CreateAdmin(ctx context.Context, tenantID, email, password string, actor Actor) (Admin, error) {
	if err := ValidateEmail(email); err != nil {
		return Admin{}, err
	}
	if err := ValidatePassword("password", password, email); err != nil {
		return Admin{}, err
	}
	if _, ok := s.Cache.Tenant(tenantID); !ok {
		return Admin{}, fault.New(fault.NotFound, "tenant not found")
	}
	now := s.now()
	a := Admin{
		ID: secrets.NewID(AdminIDPrefix), TenantID: tenantID, Email: email,
		PasswordHash: passwords.Hash(password, s.Passwords), CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Admins.CreateAdmin(ctx, a); err != nil {
		if fault.Is(err, fault.Conflict) {
			return Admin{}, fault.New(fault.Conflict, "an admin with this email already exists")
		}
		return Admin{}, err
	}
	s.record(tenantID, events.AdminCreated, actor, map[string]string{"admin_id": a.ID, "email": a.Email})
	return a, nil
}

// Admin returns the admin with id (fault.NotFound if missing).
func (s *Service) Admin(ctx context.Context, id string) (Admin, error) {
	return s.Admins.GetAdmin(ctx, id)
}

// ListAdmins lists a tenant's admins in creation order.
func (s *Service) ListAdmins(ctx context.Context, tenantID string) ([]Admin, error) {
	return s.Admins.ListAdmins(ctx, tenantID)
}

// AuthenticateAdmin returns the admin whose email and password these are.
// An unknown email costs one argon2id check of a dummy hash, as a wrong
// password does, so timing does not tell which emails exist; both are the
// same fault.Unauthorized. An admin of a suspended or deleted tenant gets
// fault.Forbidden. It records no event: the caller knows the request.
//
// Errors: fault.Unauthorized, fault.Forbidden, fault.Unavailable.
func (s *Service) AuthenticateAdmin(ctx context.Context, email, password string) (Admin, error) {
	bad := fault.New(fault.Unauthorized, "wrong email or password")
	if len(email) > maxEmailLen || len(password) > MaxPasswordLen {
		return Admin{}, bad
	}
	a, err := s.Admins.AdminByEmail(ctx, email)
	switch {
	case fault.Is(err, fault.NotFound):
		_, _ = passwords.Check(password, s.dummyHash())
		return Admin{}, bad
	case err != nil:
		return Admin{}, err
	}
	ok, err := passwords.Check(password, a.PasswordHash)
	if err != nil || !ok {
		return a, bad
	}
	if err := s.AdminTenantActive(a); err != nil {
		return a, err
	}
	return a, nil
}

// AdminTenantActive returns fault.Forbidden unless a's tenant exists and is
// active (operators always pass).
func (s *Service) AdminTenantActive(a Admin) error {
	if a.TenantID == SystemTenantID {
		return nil
	}
	snap, ok := s.Cache.Tenant(a.TenantID)
	if !ok {
		return fault.New(fault.Forbidden, "the tenant no longer exists")
	}
	if snap.Tenant.Status != Active {
		return fault.New(fault.Forbidden, "the tenant is suspended")
	}
	return nil
}

// ChangeAdminPassword replaces an admin's password after checking the
// current one. Ending the admin's other sessions is the caller's part (the
// session engine is not a tenants dependency).
//
// Errors: fault.InvalidRequest naming "current_password" (wrong) or
// "new_password" (too short or weak: ValidatePassword), fault.NotFound,
// fault.Unavailable.
func (s *Service) ChangeAdminPassword(ctx context.Context, adminID, current, next string, actor Actor) error {
	a, err := s.Admins.GetAdmin(ctx, adminID)
	if err != nil {
		return err
	}
	if ok, _ := passwords.Check(current, a.PasswordHash); !ok || len(current) > MaxPasswordLen {
		return fault.Invalid("current_password", "is not your current password")
	}
	if err := ValidatePassword("new_password", next, a.Email); err != nil {
		return err
	}
	if err := s.Admins.SetAdminPassword(ctx, adminID, passwords.Hash(next, s.Passwords), s.now()); err != nil {
		return err
	}
	s.record(a.TenantID, events.AdminPasswordChanged, actor, map[string]string{"admin_id": a.ID})
	return nil
}

// DeleteAdmin removes a tenant admin, ends every session of theirs at once
// (so access is gone on every instance), and returns the removed account. Operators (admins of the
// system tenant) are managed with the CLI and cannot be deleted here.
//
// Errors: fault.NotFound (no such admin of that tenant), fault.Unavailable.
func (s *Service) DeleteAdmin(ctx context.Context, tenantID, adminID string, actor Actor) (Admin, error) {
	if tenantID == SystemTenantID {
		return Admin{}, fault.New(fault.NotFound, "admin not found")
	}
	a, err := s.Admins.GetAdmin(ctx, adminID)
	if err != nil {
		return Admin{}, err
	}
	if err := s.Admins.DeleteAdmin(ctx, tenantID, adminID); err != nil {
		return Admin{}, err
	}
	if s.EndAdminSessions != nil {
		if err := s.EndAdminSessions(ctx, adminID); err != nil {
			return Admin{}, err
		}
	}
	s.record(tenantID, events.AdminDeleted, actor, map[string]string{"admin_id": a.ID, "email": a.Email})
	return a, nil
}

// dummyHash is computed once, with the service's parameters.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy = passwords.Dummy(s.Passwords) })
	return s.dummy
}

// dummyState is embedded in Service.
type dummyState struct {
	dummyOnce sync.Once
	dummy     string
}

// AdminTenantOf returns the tenant of the admin with this email, or the
// system tenant when there is none (or the database cannot tell): where a
// sign-in event about that email belongs.
func (s *Service) AdminTenantOf(ctx context.Context, email string) string {
	if len(email) > maxEmailLen {
		return SystemTenantID
	}
	a, err := s.Admins.AdminByEmail(ctx, email)
	if err != nil {
		return SystemTenantID
	}
	return a.TenantID
}

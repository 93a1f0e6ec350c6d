package httpapi

import (
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// access says who may call a route.
type access int

const (
	public access = iota
	operator
	tenantSessions // an API key with the sessions scope
	tenantAdmin    // an API key with the admin scope
)

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authenticate checks the caller against the route's access rule and
// returns the tenant principal (none for the operator and public routes).
// Credentials are compared only as SHA-256 hashes, in constant time.
func (s *server) authenticate(r *http.Request, need access) (tenants.Principal, error) {
	if need == public {
		return tenants.Principal{}, nil
	}
	token, ok := bearer(r)
	if !ok {
		return tenants.Principal{}, fault.New(fault.Unauthorized, "missing bearer credential in the Authorization header")
	}
	if need == operator {
		if !secrets.Equal(secrets.Hash(token), s.operatorHash) {
			return tenants.Principal{}, fault.New(fault.Unauthorized, "invalid operator token")
		}
		return tenants.Principal{}, nil
	}
	p, err := s.Cache.Authenticate(token)
	if err != nil {
		return tenants.Principal{}, err
	}
	scope := tenants.ScopeSessions
	if need == tenantAdmin {
		scope = tenants.ScopeAdmin
	}
	if !p.Has(scope) {
		return tenants.Principal{}, fault.New(fault.Forbidden, "this API key lacks the %q scope", scope)
	}
	return p, nil
}

// principal returns the authenticated tenant caller.
func principal(r *http.Request) tenants.Principal { return callOf(r).principal }

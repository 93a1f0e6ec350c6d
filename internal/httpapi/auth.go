package httpapi

import (
	"context"
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

// authenticate checks the caller against the route's access rule and puts
// the tenant principal in the context. Credentials are compared only as
// SHA-256 hashes, in constant time.
func (s *server) authenticate(r *http.Request, need access) (*http.Request, error) {
	if need == public {
		return r, nil
	}
	token, ok := bearer(r)
	if !ok {
		return nil, fault.New(fault.Unauthorized, "missing bearer credential in the Authorization header")
	}
	if need == operator {
		if !secrets.Equal(secrets.Hash(token), s.operatorHash) {
			return nil, fault.New(fault.Unauthorized, "invalid operator token")
		}
		return r, nil
	}
	p, err := s.Cache.Authenticate(token)
	if err != nil {
		return nil, err
	}
	scope := tenants.ScopeSessions
	if need == tenantAdmin {
		scope = tenants.ScopeAdmin
	}
	if !p.Has(scope) {
		return nil, fault.New(fault.Forbidden, "this API key lacks the %q scope", scope)
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey, p)), nil
}

// principal returns the authenticated tenant caller.
func principal(r *http.Request) tenants.Principal {
	p, _ := r.Context().Value(principalKey).(tenants.Principal)
	return p
}

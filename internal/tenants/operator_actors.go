package tenants

import "context"

// OperatorActors reports which event actors are the deployment's operators
// signed in to the admin UI ("admin:<email>" of an admin of the system
// tenant), so that tenant surfaces can hide their IP and user agent (see
// events.ForTenantList). It reads the operators once per call; errors are
// the AdminStore's (fault.Unavailable when the database is down).
func (s *Service) OperatorActors(ctx context.Context) (func(actor string) bool, error) {
	ops, err := s.Admins.ListAdmins(ctx, SystemTenantID)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(ops))
	for _, a := range ops {
		names["admin:"+a.Email] = true
	}
	return func(actor string) bool { return names[actor] }, nil
}

package sessiond

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// RequestSession is the session of one request (FromRequest): the user's,
// or a new anonymous one when the browser sent no valid cookie. It belongs to
// its request; do not share it between goroutines.
//
// Change Data and call Save; call Login after checking a password (a new
// token, so a planted cookie is worthless) and Destroy to log out. Methods
// that change the session set the cookie, so call them before writing the
// response. Their errors go to Middleware.Error (or WriteError), which
// answers 503 when sessiond is down and 500 when the API key is bad; none of
// them logs the user out.
type RequestSession struct {
	// ID is the public session id (safe to log); "" while the session is new.
	ID string
	// UserID is the logged-in user; "" for an anonymous session.
	UserID string
	// Data is the app's own JSON object. Call Save after changing it; nil members are removed.
	Data map[string]any
	// CSRFToken goes in forms (_csrf) or the X-CSRF-Token header; "" while the session is new.
	CSRFToken string
	// AuthTime is when the user last authenticated; zero for anonymous sessions.
	AuthTime time.Time
	// ExpiresAt is when the session ends whatever the activity.
	ExpiresAt time.Time
	// Info is sessiond's whole view of the session, as of this request.
	Info Session

	m     *Middleware
	w     http.ResponseWriter
	r     *http.Request
	token string
	saved map[string]any
}

// DeviceSession is one of a user's sessions, as Devices lists them.
type DeviceSession struct {
	Session
	Current bool `json:"current"` // the session of this request
}

// IsNew reports whether the session does not exist in sessiond yet.
func (s *RequestSession) IsNew() bool { return s.token == "" }

// Device is the request's user agent and IP, sent to sessiond for device binding.
func (s *RequestSession) Device() *DeviceIn {
	ua := s.r.UserAgent()
	if len(ua) > 1024 {
		ua = ua[:1024]
	}
	return &DeviceIn{UserAgent: ua, IP: s.m.cfg.ClientIP(s.r)}
}

func (s *RequestSession) load(token string, sess Session, csrf string, setCookie bool) {
	s.token, s.Info, s.ID, s.UserID, s.CSRFToken = token, sess, sess.ID, sess.UserID, csrf
	s.Data, s.saved = clone(sess.Data), clone(sess.Data)
	s.AuthTime = time.Time{}
	if sess.AuthTime != nil {
		s.AuthTime = *sess.AuthTime
	}
	s.ExpiresAt = sess.ExpiresAt
	if setCookie {
		s.m.setCookie(s.w, token, sess.ExpiresAt)
	}
}

func (s *RequestSession) reset(clearCookie bool) {
	*s = RequestSession{m: s.m, w: s.w, r: s.r, Data: map[string]any{}, saved: map[string]any{}}
	if clearCookie {
		s.m.setCookie(s.w, "", time.Time{})
	}
}

func (s *RequestSession) issued(out Issued) { s.load(out.Token, out.Session, out.CSRFToken, true) }

func (s *RequestSession) createParams(data map[string]any) CreateParams {
	return CreateParams{
		Data: data, Device: s.Device(),
		IdleTimeout: int(s.m.cfg.IdleTimeout / time.Second), AbsoluteTimeout: int(s.m.cfg.AbsoluteTimeout / time.Second),
	}
}

// Save stores Data: a new session is created (and the cookie set); an
// existing one gets a JSON merge patch of what changed (no call if nothing did).
func (s *RequestSession) Save(ctx context.Context) error {
	if s.IsNew() {
		out, err := s.m.cfg.Client.CreateSession(ctx, s.createParams(s.Data))
		if err != nil {
			return err
		}
		s.issued(out)
		return nil
	}
	patch := MergePatch(s.saved, s.Data)
	if patch == nil {
		return nil
	}
	sess, err := s.m.cfg.Client.PatchData(ctx, s.ID, patch, 0)
	if err != nil {
		return err
	}
	s.Info, s.Data, s.saved = sess, clone(sess.Data), clone(sess.Data)
	return nil
}

// LoginOption changes a Login.
type LoginOption func(*loginOptions)

type loginOptions struct {
	amr      []string
	remember bool
}

// WithAMR records the authentication methods (RFC 8176: "pwd", "otp",
// "hwk", …) the user proved to log in: the session's factors, and its
// assurance level (AAL 2 for two different kinds, as "pwd" and "otp").
func WithAMR(methods ...string) LoginOption {
	return func(o *loginOptions) { o.amr = append(o.amr, methods...) }
}

// WithRemember makes the login a remember-me session: it lives by the
// tenant policy's remember_me lifetime (sessiond answers 400
// invalid_request, field "remember", when the policy has none), and its
// Profile is "remember_me". The cookie lasts until the session's expires_at.
func WithRemember() LoginOption {
	return func(o *loginOptions) { o.remember = true }
}

// Login logs userID in: a new token and id (the old cookie dies at once: no
// session fixation), auth_time now, and Data carried over (unsaved changes
// included). WithAMR names the methods the user proved (else the session has
// no factors, and AAL 1); WithRemember makes it a remember-me session.
func (s *RequestSession) Login(ctx context.Context, userID string, opts ...LoginOption) error {
	var o loginOptions
	for _, opt := range opts {
		opt(&o)
	}
	data := s.Data
	if !s.IsNew() {
		pending := MergePatch(s.saved, s.Data)
		out, err := s.m.cfg.Client.Regenerate(ctx, RegenerateParams{Token: s.token, UserID: userID, AMR: o.amr, Remember: o.remember})
		if err == nil {
			s.issued(out)
			if pending != nil {
				s.Data = data
				return s.Save(ctx)
			}
			return nil
		}
		if !IsSessionEnded(err) {
			return err
		}
		// The session ended since this request verified it: start afresh.
	}
	p := s.createParams(data)
	p.UserID, p.AMR, p.Remember = userID, o.amr, o.remember
	out, err := s.m.cfg.Client.CreateSession(ctx, p)
	if err != nil {
		return err
	}
	s.issued(out)
	return nil
}

// Regenerate replaces the token and id (after a privilege change). With
// reauthenticated (the user just re-entered their password) auth_time
// becomes now, satisfying RequireRecentAuth.
func (s *RequestSession) Regenerate(ctx context.Context, reauthenticated bool) error {
	if s.IsNew() {
		return s.Save(ctx)
	}
	out, err := s.m.cfg.Client.Regenerate(ctx, RegenerateParams{Token: s.token, Reauthenticated: reauthenticated})
	if err != nil {
		return err
	}
	s.issued(out)
	return nil
}

// Reauthenticate records that the user just re-entered their password: Regenerate(ctx, true).
func (s *RequestSession) Reauthenticate(ctx context.Context) error { return s.Regenerate(ctx, true) }

// StepUp records that the logged-in user just proved methods (RFC 8176:
// "otp", "hwk", …; after checking them): a new token and id, auth_time now,
// and each method added to the session's factors with the time now (one it
// had gets the new time), which may raise its assurance level. It satisfies
// RequireAAL, RequireFactor and RequireRecentAuth. Like Regenerate, unsaved
// Data changes are dropped: Save first.
func (s *RequestSession) StepUp(ctx context.Context, methods ...string) error {
	if len(methods) == 0 {
		return errors.New("sessiond: StepUp needs the methods the user proved")
	}
	if s.IsNew() || s.UserID == "" {
		return errors.New("sessiond: StepUp needs a logged-in user (Login first)")
	}
	out, err := s.m.cfg.Client.Regenerate(ctx, RegenerateParams{Token: s.token, Reauthenticated: true, AMR: methods})
	if err != nil {
		return err
	}
	s.issued(out)
	return nil
}

// AAL is the session's assurance level: 2 when the user proved factors of
// two different kinds (knowledge, possession, inherence), else 1; 0 while
// the session is new.
func (s *RequestSession) AAL() int {
	if s.IsNew() {
		return 0
	}
	return max(s.Info.AAL, 1)
}

// AMR are the authentication methods the user proved, each with when it was
// last proved (sessiond's clock), as of this request; nil when none.
func (s *RequestSession) AMR() []Factor { return s.Info.AMR }

// Profile is the lifetime the session lives by: "standard", "remember_me"
// (Login WithRemember) or "impersonation"; "" while the session is new.
func (s *RequestSession) Profile() string { return s.Info.Profile }

// Actor is who acts as the user in an impersonated session (an app's
// "you are being impersonated" banner); nil for the user's own sessions.
func (s *RequestSession) Actor() *Actor { return s.Info.Actor }

// Factor returns when the user last proved method, and whether they did.
func (s *RequestSession) Factor(method string) (time.Time, bool) {
	for _, f := range s.Info.AMR {
		if f.Method == method {
			return f.At, true
		}
	}
	return time.Time{}, false
}

// RecentlyProved asks sessiond whether the logged-in user proved method at
// most maxAge ago (max_factor_age; the session's assurance level must meet
// the policy's too). False for anonymous sessions and sessions without the
// method (no call); a session that ended meanwhile is reset.
func (s *RequestSession) RecentlyProved(ctx context.Context, method string, maxAge time.Duration) (bool, error) {
	if s.IsNew() || s.UserID == "" {
		return false, nil
	}
	if _, ok := s.Factor(method); !ok {
		return false, nil
	}
	p := VerifyParams{Token: s.token, Device: s.Device(), MaxFactorAge: map[string]int{method: int(maxAge / time.Second)}}
	return s.check(ctx, p, CodeStepUpRequired)
}

// RecentlyAuthenticated asks sessiond whether the user authenticated at most
// maxAge ago. False for anonymous sessions; a session that ended meanwhile is reset.
func (s *RequestSession) RecentlyAuthenticated(ctx context.Context, maxAge time.Duration) (bool, error) {
	if s.IsNew() || s.UserID == "" {
		return false, nil
	}
	secs := int(maxAge / time.Second)
	return s.check(ctx, VerifyParams{Token: s.token, MaxAuthAge: &secs, Device: s.Device()}, CodeReauthRequired)
}

// check verifies the session with p: true when sessiond accepts it (the
// session reloaded), false when it refuses with the code no (or the session
// ended: it is reset).
func (s *RequestSession) check(ctx context.Context, p VerifyParams, no string) (bool, error) {
	v, err := s.m.cfg.Client.Verify(ctx, p)
	switch {
	case err == nil:
		token := s.token
		if v.Token != "" {
			token = v.Token
		}
		s.load(token, v.Session, v.CSRFToken, token != s.token)
		return true, nil
	case CodeOf(err) == no:
		return false, nil
	case IsSessionEnded(err):
		s.reset(true)
		return false, nil
	}
	return false, err
}

// Destroy logs out: the session ends in sessiond at once and the cookie is cleared.
func (s *RequestSession) Destroy(ctx context.Context) error {
	if !s.IsNew() {
		if err := s.m.cfg.Client.RevokeToken(ctx, s.token); err != nil {
			return err
		}
	}
	s.reset(true)
	return nil
}

// Devices lists the logged-in user's sessions, oldest first, marking this one Current.
func (s *RequestSession) Devices(ctx context.Context) ([]DeviceSession, error) {
	if s.UserID == "" {
		return nil, nil
	}
	list, err := s.m.cfg.Client.UserSessions(ctx, s.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceSession, len(list))
	for i, d := range list {
		out[i] = DeviceSession{Session: d, Current: d.ID == s.ID}
	}
	return out, nil
}

// LogoutOtherDevices ends every other session of the logged-in user; it returns the ids ended.
func (s *RequestSession) LogoutOtherDevices(ctx context.Context) ([]string, error) {
	if s.UserID == "" || s.ID == "" {
		return nil, nil
	}
	return s.m.cfg.Client.RevokeUserSessions(ctx, s.UserID, s.ID)
}

// MergePatch returns the RFC 7396 merge patch that turns before into after,
// or nil when they are equal: objects are diffed member by member, anything
// else replaced whole, removed (or nil) members become null.
func MergePatch(before, after map[string]any) map[string]any {
	patch := map[string]any{}
	for k, bv := range before {
		if av, ok := after[k]; (!ok || av == nil) && bv != nil {
			patch[k] = nil
		}
	}
	for k, av := range after {
		if av == nil {
			continue
		}
		bv, ok := before[k]
		if !ok {
			patch[k] = av
			continue
		}
		bm, bIsMap := asObject(bv)
		am, aIsMap := asObject(av)
		if bIsMap && aIsMap {
			if sub := MergePatch(bm, am); sub != nil {
				patch[k] = sub
			}
			continue
		}
		if !jsonEqual(bv, av) {
			patch[k] = av
		}
	}
	if len(patch) == 0 {
		return nil
	}
	return patch
}

func asObject(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	return nil, false
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// clone deep-copies a JSON object (so later edits of Data are seen as changes).
func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	if len(m) == 0 {
		return out
	}
	b, err := json.Marshal(m)
	if err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

package redisstore

import (
	"context"
	"embed"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
)

// The scripts, one per operation (lua/<name>.lua, after what it uses of
// lua/layout.lua and lua/common.lua: prelude).
// Each names its arguments at its top, `local a = {name = ARGV[i], ...}`;
// the functions below build them in the same order, by the same names
// (TestScriptArgumentsMatchTheirLuaNames holds the two together), and every
// script answers {status, uid, session, ids, n} (common.lua's reply()), read
// back by parseReply.
//
//go:embed lua/*.lua
var luaFS embed.FS

// commonLua is lua/layout.lua and lua/common.lua, with GRACE_MS and MAX_ACTING defined
// before them.
var commonLua = "local GRACE_MS = " + strconv.FormatInt(sessions.ExpiryGrace.Milliseconds(), 10) + "\n" +
	"local MAX_ACTING = " + strconv.Itoa(sessions.MaxActing) + "\n" +
	mustRead("layout") + mustRead("common")

// commonDefs are commonLua's top-level definitions, in order.
var commonDefs = luaDefinitions(commonLua)

func mustRead(name string) string {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// script is one operation's script, with its name (for tests).
type script struct {
	name string
	*redis.Script
}

func newScript(name string) script {
	body := mustRead(name)
	return script{name: name, Script: redis.NewScript(prelude(body) + body)}
}

// prelude is what a script with this body starts with: the definitions of
// commonLua it uses, directly or through one another, in their order. Lua
// creates every function a script defines on every call (about 80 ns
// each, more with upvalues): verify uses 29 of common's 47 definitions,
// create 34.
func prelude(body string) string {
	used := luaNames(body)
	include := make([]bool, len(commonDefs))
	// Definitions only use earlier ones: one pass from the last includes
	// every one that is used.
	for i := len(commonDefs) - 1; i >= 0; i-- {
		d := commonDefs[i]
		for _, name := range d.names {
			if used[name] {
				include[i] = true
			}
		}
		if include[i] {
			for name := range luaNames(d.text) {
				used[name] = true
			}
		}
	}
	var b strings.Builder
	for i, d := range commonDefs {
		if include[i] {
			b.WriteString(d.text)
		}
	}
	return b.String()
}

// luaDefinition is one top-level `local` of commonLua: its text, from the
// comment above it to the comment above the next one, and the names it
// defines.
type luaDefinition struct {
	text  string
	names []string
}

// luaLocal matches a top-level definition's first line, capturing its names.
var luaLocal = regexp.MustCompile(`^local (?:function )?([\w, ]+?)\s*[=(]`)

// luaDefinitions splits src, a sequence of top-level `local` definitions
// each after its comment (only they start a line with "local" or "--"), into
// them.
func luaDefinitions(src string) []luaDefinition {
	lines := strings.SplitAfter(src, "\n")
	var defs []luaDefinition
	var starts []int // where each definition's text starts
	for i, line := range lines {
		m := luaLocal.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		start := i
		for start > 0 && strings.HasPrefix(lines[start-1], "--") {
			start--
		}
		if len(defs) == 0 {
			start = 0
		}
		var names []string
		for _, n := range strings.Split(m[1], ",") {
			names = append(names, strings.TrimSpace(n))
		}
		defs = append(defs, luaDefinition{names: names})
		starts = append(starts, start)
	}
	for k := range defs {
		end := len(lines)
		if k+1 < len(defs) {
			end = starts[k+1]
		}
		defs[k].text = strings.Join(lines[starts[k]:end], "")
		// A top-level statement other than a definition would be left out
		// with the definition before it: there is none.
		locals := 0
		for _, line := range lines[starts[k]:end] {
			switch {
			case line == "" || strings.ContainsAny(line[:1], " \t\n") || strings.HasPrefix(line, "--") || strings.HasPrefix(line, "end"):
			case luaLocal.MatchString(line):
				locals++
			default:
				locals = 2
			}
		}
		if locals != 1 {
			panic("common Lua: a top-level statement that is not a definition, near: " + defs[k].text)
		}
	}
	return defs
}

// luaNames returns the identifiers in Lua code src, outside its comments
// and strings (the scripts use no long ones, [[...]]).
func luaNames(src string) map[string]bool {
	names := map[string]bool{}
	var quote byte // the quote of the string being read, 0 outside strings
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			names[src[i:j]] = true
			i = j - 1
		}
	}
	return names
}

var (
	createScript     = newScript("create")
	verifyScript     = newScript("verify")
	regenerateScript = newScript("regenerate")
	claimScript      = newScript("claim")
	patchScript      = newScript("patch")
	revokeScript     = newScript("revoke")
	revokeUserScript = newScript("revoke_user")
	revokeMoreScript = newScript("revoke_more")
	revokeActScript  = newScript("revoke_acting")
	purgeScript      = newScript("purge")
	getScript        = newScript("get")
	allScripts       = []script{createScript, verifyScript, regenerateScript, claimScript, patchScript, revokeScript,
		revokeUserScript, revokeMoreScript, revokeActScript, purgeScript, getScript}
)

// arg is one script argument, named as in the script's header.
type arg struct {
	name  string
	value any
}

func values(args []arg) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.value
	}
	return out
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// withProfiles returns args followed by the lifetimes of the profiles
// other than the standard one, as every script taking pidle and pabs takes
// them after its own (one allocation: verify runs it on every call).
func withProfiles(t sessions.Timeouts, args ...arg) []arg {
	out := make([]arg, len(args), len(args)+4)
	copy(out, args)
	return append(out,
		arg{"ridle", t.RememberMe.Idle}, arg{"rabs", t.RememberMe.Absolute},
		arg{"iidle", t.Impersonation.Idle}, arg{"iabs", t.Impersonation.Absolute})
}

// createArgs passes the encoded session, which create.lua stores as it is,
// and beside it the few fields the script reads, so that it need not
// decode the session (and encode it again) on every create.
func createArgs(c sessions.CreateCall) []arg {
	r := c.Record
	return withProfiles(c.Timeouts,
		arg{"now", c.Now}, arg{"sid", c.Ref.ID}, arg{"max", c.Cap.Max}, arg{"evict_oldest", flag(c.Cap.EvictOldest)},
		arg{"session", encodeRecord(r)}, arg{"uid", r.UserID}, arg{"prof", r.Profile}, arg{"ca", r.CreatedAt},
		arg{"exp", r.ExpiresAt}, arg{"iexp", r.IdleExpiresAt},
		arg{"pidle", c.Timeouts.IdleTimeout}, arg{"pabs", c.Timeouts.AbsoluteTimeout},
	)
}

func verifyArgs(c sessions.VerifyCall) []arg {
	return withProfiles(c.Timeouts,
		arg{"now", c.Now}, arg{"sid", c.Ref.ID}, arg{"pidle", c.Timeouts.IdleTimeout}, arg{"pabs", c.Timeouts.AbsoluteTimeout},
		arg{"rolling", flag(c.Rolling)}, arg{"csrf_mismatch", flag(c.CSRFMismatch)}, arg{"max_auth_age", c.MaxAuthAge},
		arg{"ua_mode", string(c.UserAgentMode)}, arg{"ua", c.UserAgent}, arg{"ip_mode", string(c.IPMode)}, arg{"ipb", c.IPBinding},
		arg{"kid", c.KeyID}, arg{"touch", c.Touch}, arg{"min_aal", c.MinAAL}, arg{"ages", c.FactorAges},
	)
}

func regenerateArgs(c sessions.RegenerateCall) []arg {
	return withProfiles(c.Timeouts,
		arg{"now", c.Now}, arg{"old_sid", c.Old.ID}, arg{"new_sid", c.New.ID}, arg{"uid", c.UserID},
		arg{"set_auth", flag(c.SetAuth)}, arg{"kid", c.KeyID}, arg{"max", c.Cap.Max}, arg{"evict_oldest", flag(c.Cap.EvictOldest)},
		arg{"pidle", c.Timeouts.IdleTimeout}, arg{"pabs", c.Timeouts.AbsoluteTimeout}, arg{"add", c.AddFactors},
		arg{"remember", flag(c.Remember)},
	)
}

func claimArgs(c sessions.ClaimCall) []arg {
	return withProfiles(c.Timeouts,
		arg{"now", c.Now}, arg{"sid", c.Ref.ID}, arg{"pidle", c.Timeouts.IdleTimeout}, arg{"pabs", c.Timeouts.AbsoluteTimeout})
}

func patchArgs(c sessions.PatchCall) []arg {
	return []arg{{"now", c.Now}, {"sid", c.Ref.ID}, {"version", c.Version}, {"data", c.Data}}
}

func revokeArgs(ref sessions.Ref) []arg {
	return []arg{{"sid", ref.ID}}
}

func revokeUserArgs(c sessions.RevokeUserCall) []arg {
	return []arg{{"now", c.Now}, {"uid", c.UserID}, {"except", c.Except}, {"itemise", c.Itemise}}
}

func revokeActingArgs(c sessions.RevokeActingCall) []arg {
	return []arg{{"now", c.Now}, {"uid", c.UserID}}
}

func revokeMoreArgs(c sessions.RevokeChunkCall) []arg {
	return []arg{{"uid", c.UserID}, {"limit", c.Max}}
}

// purgeChunk is how many sessions of a bucket one purge script deletes.
const purgeChunk = 128

func purgeArgs() []arg { return []arg{{"limit", purgeChunk}} }

func getArgs(ref sessions.Ref) []arg { return []arg{{"sid", ref.ID}} }

// reply is every script's answer (common.lua's reply()).
type reply struct {
	status  sessions.Status
	uid     string
	session string // encoded; "" when none
	ids     []string
	n       int64
	actor   string // an impersonated session's, when no session is returned
}

// parseReply reads a script's reply, or returns fault.Internal.
func parseReply(v any) (reply, error) {
	list, ok := v.([]any)
	if !ok || len(list) != 6 {
		return reply{}, errUnexpected
	}
	status, ok1 := list[0].(string)
	uid, ok2 := list[1].(string)
	session, ok3 := list[2].(string)
	ids, ok4 := list[3].([]any)
	n, ok5 := list[4].(int64)
	actor, ok6 := list[5].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return reply{}, errUnexpected
	}
	r := reply{status: sessions.Status(status), uid: uid, session: session, ids: make([]string, 0, len(ids)), n: n, actor: actor}
	for _, id := range ids {
		s, ok := id.(string)
		if !ok {
			return reply{}, errUnexpected
		}
		r.ids = append(r.ids, s)
	}
	return r, nil
}

// record decodes the reply's session, or returns fault.Internal.
func (r reply) record() (sessions.Record, error) {
	rec, err := decodeRecord(r.session)
	if err != nil {
		return sessions.Record{}, fault.Wrap(err, fault.Internal, "session store returned a malformed session")
	}
	return rec, nil
}

var errUnexpected = fault.Wrap(errors.New("unexpected script reply"), fault.Internal, "session store returned an unexpected reply")

// run executes a script and reads its reply. Redis failures are
// fault.Unavailable.
func (s *Store) run(ctx context.Context, sc script, keys []string, args []arg) (reply, error) {
	v, err := sc.Run(ctx, s.rdb, keys, values(args)...).Result()
	if err != nil {
		return reply{}, unavailable(err)
	}
	return parseReply(v)
}

// unavailable maps a Redis failure to fault.Unavailable.
func unavailable(err error) error {
	return fault.Wrap(err, fault.Unavailable, "session store unavailable")
}

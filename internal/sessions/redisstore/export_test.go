package redisstore

import "github.com/sessiond/sessiond/internal/sessions"

// Internals for the external tests.
var (
	// CommonLua is what every script starts with: GRACE_MS, layout.lua and common.lua.
	CommonLua    = commonLua
	EncodeRecord = encodeRecord
	DecodeRecord = decodeRecord
)

// ScriptSource returns lua/<name>.lua.
func ScriptSource(name string) string { return mustRead(name) }

// ArgNames returns, for every script, the names of the arguments Go passes
// it, in order.
func ArgNames() map[string][]string {
	names := func(args []arg) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = a.name
		}
		return out
	}
	m := map[string][]string{
		createScript.name:     names(createArgs(sessions.CreateCall{})),
		verifyScript.name:     names(verifyArgs(sessions.VerifyCall{})),
		regenerateScript.name: names(regenerateArgs(sessions.RegenerateCall{})),
		claimScript.name:      names(claimArgs(sessions.ClaimCall{})),
		patchScript.name:      names(patchArgs(sessions.PatchCall{})),
		revokeScript.name:     names(revokeArgs(sessions.Ref{})),
		revokeUserScript.name: names(revokeUserArgs(sessions.RevokeUserCall{})),
		revokeMoreScript.name: names(revokeMoreArgs(sessions.RevokeChunkCall{})),
		revokeActScript.name:  names(revokeActingArgs(sessions.RevokeActingCall{})),
		purgeScript.name:      names(purgeArgs()),
		getScript.name:        names(getArgs(sessions.Ref{})),
	}
	if len(m) != len(allScripts) {
		panic("a script has no argument list")
	}
	return m
}

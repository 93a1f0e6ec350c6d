package admin_test

import "github.com/sessiond/sessiond/internal/sessions"

var metaTest = sessions.Meta{IP: "127.0.0.1", Actor: "test"}

func verifyParams(token string) sessions.VerifyParams { return sessions.VerifyParams{Token: token} }

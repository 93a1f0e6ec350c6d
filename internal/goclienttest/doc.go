// Package goclienttest runs the Go client (the separate module in clients/go)
// against a real sessiond: the client's calls, the shared scenario list
// (clients/SCENARIOS.md) and the client's contract with api/openapi.yaml. The
// tests live in the server's module because they need its test harness
// (internal/apptest); the client's own module stays standard library only.
package goclienttest

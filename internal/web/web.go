// Package web is the HTTP plumbing shared by sessiond's two surfaces, the
// REST API (internal/httpapi) and the admin UI (internal/admin), so that
// neither imports the other and both agree on who the client is and what the
// request is called (which status an error code has is internal/fault's):
//
//   - the client IP, believing X-Forwarded-For only from trusted proxies;
//   - the request id (echoed or made, in the context and the response),
//     kept with the route template and a surface's own values in one state
//     per request that the layers fill in, never copying the request;
//   - panic recovery, answered by each surface's own error renderer;
//   - the access log, which names a request by its route template, never
//     by its raw path (a path may hold a credential a client put there);
//   - a response writer that remembers the status and size written.
package web

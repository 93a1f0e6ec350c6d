// Package api embeds sessiond's OpenAPI contract, api/openapi.yaml.
package api

import _ "embed"

// Spec is the OpenAPI 3.0 document, as served at GET /openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte

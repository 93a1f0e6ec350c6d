/**
 * Every sessiond operation this client calls: method, path, success status,
 * the request body fields it may send and the response fields it reads. The
 * client builds its requests from this table, and test/openapi.test.ts checks
 * every entry against api/openapi.yaml, so a renamed path or field fails the
 * tests instead of a production request.
 */
export interface Operation {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path template, with `{param}` placeholders as in the OpenAPI document. */
  readonly path: string;
  /** The success status. */
  readonly status: number;
  /** Top-level request body fields the client may send. */
  readonly sends?: readonly string[];
  /** Top-level response body fields the client reads. */
  readonly reads?: readonly string[];
  /** Query parameters the client may send. */
  readonly query?: readonly string[];
  /** Request headers the client may send (besides Authorization and Content-Type). */
  readonly headers?: readonly string[];
  /** Request content type, when not application/json. */
  readonly contentType?: string;
}

const SESSION = ['id', 'user_id', 'created_at', 'last_seen_at', 'auth_time', 'expires_at', 'idle_expires_at', 'device', 'data', 'version', 'amr', 'aal', 'profile', 'actor'];

export const operations = {
  createSession: {
    method: 'POST', path: '/v1/sessions', status: 201,
    sends: ['user_id', 'data', 'device', 'idle_timeout', 'absolute_timeout', 'amr', 'remember', 'actor'],
    reads: ['token', 'csrf_token', 'session', 'evicted'],
  },
  verifySession: {
    method: 'POST', path: '/v1/sessions/verify', status: 200,
    sends: ['token', 'csrf_token', 'max_auth_age', 'device', 'min_aal', 'max_factor_age'],
    reads: ['session', 'token', 'csrf_token', 'binding_mismatch'],
  },
  createSessions: {
    method: 'POST', path: '/v1/sessions/create-batch', status: 200,
    sends: ['items'],
    reads: ['results'],
  },
  verifySessions: {
    method: 'POST', path: '/v1/sessions/verify-batch', status: 200,
    sends: ['items'],
    reads: ['results'],
  },
  regenerateSession: {
    method: 'POST', path: '/v1/sessions/regenerate', status: 200,
    sends: ['token', 'user_id', 'reauthenticated', 'amr', 'remember'],
    reads: ['token', 'csrf_token', 'session', 'evicted'],
  },
  revokeToken: {
    method: 'POST', path: '/v1/sessions/revoke', status: 204,
    sends: ['token'],
  },
  getSession: { method: 'GET', path: '/v1/sessions/{session_id}', status: 200, reads: SESSION },
  patchSessionData: {
    method: 'PATCH', path: '/v1/sessions/{session_id}', status: 200,
    reads: SESSION, headers: ['If-Match'], contentType: 'application/merge-patch+json',
  },
  revokeSession: { method: 'DELETE', path: '/v1/sessions/{session_id}', status: 204 },
  listSessions: {
    method: 'GET', path: '/v1/sessions', status: 200,
    query: ['user_id', 'cursor', 'limit'], reads: ['sessions', 'next_cursor'],
  },
  listUserSessions: {
    method: 'GET', path: '/v1/users/{user_id}/sessions', status: 200,
    query: ['cursor', 'limit'], reads: ['sessions', 'next_cursor'],
  },
  revokeUserSessions: {
    method: 'DELETE', path: '/v1/users/{user_id}/sessions', status: 200,
    query: ['except', 'actor'], reads: ['revoked'],
  },
  getPolicy: { method: 'GET', path: '/v1/policy', status: 200 },
  putPolicy: {
    method: 'PUT', path: '/v1/policy', status: 200,
    sends: ['idle_timeout', 'absolute_timeout', 'max_sessions_per_user', 'on_limit', 'rolling', 'binding', 'max_data_bytes', 'min_aal', 'remember_me', 'impersonation'],
  },
  listKeys: { method: 'GET', path: '/v1/keys', status: 200, reads: ['keys'] },
  rotateKey: { method: 'POST', path: '/v1/keys/rotate', status: 201, sends: ['grace_period'], reads: ['kid', 'state'] },
  retireKey: { method: 'POST', path: '/v1/keys/{kid}/retire', status: 200, reads: ['kid', 'state'] },
  listAPIKeys: { method: 'GET', path: '/v1/api-keys', status: 200, reads: ['api_keys'] },
  createAPIKey: {
    method: 'POST', path: '/v1/api-keys', status: 201,
    sends: ['name', 'scopes'], reads: ['id', 'secret'],
  },
  revokeAPIKey: { method: 'DELETE', path: '/v1/api-keys/{api_key_id}', status: 204 },
  listEvents: {
    method: 'GET', path: '/v1/events', status: 200,
    query: ['type', 'user_id', 'cursor', 'limit'], reads: ['events', 'next_cursor'],
  },
  createTenant: {
    method: 'POST', path: '/v1/tenants', status: 201,
    sends: ['name'], reads: ['tenant', 'api_key'],
  },
} as const satisfies Record<string, Operation>;

export type OperationName = keyof typeof operations;

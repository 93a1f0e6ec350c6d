import { SessiondError, type ProblemCode, type StepUp } from '@sessiond/client';

/**
 * An error for the browser: Express's error handling (and most error
 * middleware) send `status`, add `headers`, and hide the message when
 * `expose` is false.
 */
export interface BrowserError extends Error {
  status: number;
  expose: boolean;
  headers?: Record<string, string>;
  code?: string;
  /** With `step_up_required`: what the session lacks (`aal` required, `have_aal`, the `factors` missing or too old). */
  stepUp?: StepUp;
}

/**
 * browserStatus is the status the browser gets when a sessiond call fails.
 * sessiond down → 503 (retry later; nobody is logged out); a bad or revoked
 * API key (`unauthorized`, `forbidden`) → 500: the app is misconfigured, the
 * user's session is fine. Never sessiond's own 401.
 */
export function browserStatus(code: ProblemCode): number {
  switch (code) {
    case 'unavailable':
      return 503;
    case 'rate_limited':
      return 429;
    case 'csrf_mismatch':
    case 'reauth_required':
    case 'step_up_required':
      return 403;
    case 'session_limit_reached':
    case 'version_conflict':
      return 409;
    case 'payload_too_large':
      return 413;
    default:
      return 500;
  }
}

/** toBrowserError adds status, expose and Retry-After to a SessiondError (in place) so Express answers right. */
export function toBrowserError(err: unknown): unknown {
  if (!(err instanceof SessiondError)) return err;
  const status = browserStatus(err.code);
  const e = err as SessiondError & Partial<BrowserError>;
  e.status = status;
  e.expose = status < 500;
  if (status === 503 || status === 429) e.headers = { 'Retry-After': String(err.retryAfter ?? 5) };
  return e;
}

/** httpError makes a BrowserError with a code of our own (csrf_mismatch, reauth_required, step_up_required, login_required). */
export function httpError(status: number, code: string, message: string): BrowserError {
  return Object.assign(new Error(message), { status, expose: true, code });
}

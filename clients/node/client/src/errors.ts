import type { Problem, StepUp } from './openapi.js';

/** A stable problem code from sessiond (RFC 9457 `code`). */
export type ProblemCode = Problem['code'];

/**
 * SessiondError is every failure of a sessiond call. Switch on `code`, never
 * on `httpStatus`: `unauthorized` (the API key is bad) and `session_invalid`
 * (the user's session is gone) are both 401, and only the second means "log
 * the user out".
 *
 * A network failure or timeout has `code` `unavailable` and `httpStatus` 0,
 * like a 503 `unavailable` from sessiond: either way the session may be
 * perfectly valid, so never log anyone out on it.
 *
 * The class deliberately has no `status` or `statusCode` property, so a web
 * framework that picks those up never forwards sessiond's 401 to a browser.
 */
export class SessiondError extends Error {
  override readonly name = 'SessiondError';
  /** The problem code; `unavailable` also for network errors and timeouts. */
  readonly code: ProblemCode;
  /** sessiond's HTTP status; 0 when no response arrived. */
  readonly httpStatus: number;
  /** Seconds to wait before retrying, from `Retry-After`, when given. */
  readonly retryAfter: number | undefined;
  /** sessiond's request id, to find the call in its logs. */
  readonly requestId: string | undefined;
  /** The problem+json body, when there was one. */
  readonly problem: Problem | undefined;
  /**
   * With `step_up_required`: what the session lacks (`aal` required,
   * `have_aal`, and the `factors` missing or too old); the problem's `step_up`.
   */
  readonly stepUp: StepUp | undefined;

  constructor(init: {
    code: ProblemCode;
    httpStatus: number;
    message: string;
    retryAfter?: number | undefined;
    requestId?: string | undefined;
    problem?: Problem | undefined;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.httpStatus = init.httpStatus;
    this.retryAfter = init.retryAfter;
    this.requestId = init.requestId;
    this.problem = init.problem;
    this.stepUp = init.problem?.step_up;
  }
}

/** Codes that mean "this session is over": clear the cookie, treat the user as logged out. */
export const SESSION_ENDED_CODES: ReadonlySet<ProblemCode> = new Set<ProblemCode>([
  'session_invalid',
  'session_expired_idle',
  'session_expired_absolute',
  'binding_mismatch',
]);

/** isSessionEnded reports whether err says the user's session is over (and only that). */
export function isSessionEnded(err: unknown): err is SessiondError {
  return err instanceof SessiondError && SESSION_ENDED_CODES.has(err.code);
}

/** isUnavailable reports whether sessiond could not be reached or said 503: retry later, log nobody out. */
/** isStepUpRequired reports whether err says the session lacks a factor or level (`err.stepUp` says which): ask the user to prove it, then regenerate with `amr`. */
export function isStepUpRequired(err: unknown): err is SessiondError & { code: 'step_up_required' } {
  return err instanceof SessiondError && err.code === 'step_up_required';
}

export function isUnavailable(err: unknown): err is SessiondError {
  return err instanceof SessiondError && err.code === 'unavailable';
}

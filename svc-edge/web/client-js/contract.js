// Generated from pkg/contract by pkg/contract/jsgen: do not edit.
// UPDATE_DOCS=1 go test ./svc-edge/web/ rewrites it.

/** JSON-RPC error codes by name (docs/protocol.md section 7). */
export const ErrorCode = Object.freeze({
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  Unavailable: -32000,
  Timeout: -32001,
  Busy: -32002,
  ConfNotFound: 1001,
  CallNotFound: 1002,
  Forbidden: 1003,
  NumberNotAllowed: 1004,
  RateLimited: 1005,
  LimitExceeded: 1006,
  ConfEnded: 1007,
  PlatformError: 1008,
  PlatformUnavailable: 1009,
  IdempotencyConflict: 1010,
  HistoryGone: 1011,
  Unauthorized: 1012,
});

/** Each code's name, default message and whether the same request may succeed later. */
export const Errors = Object.freeze({
  "-32700": Object.freeze({ name: "parse_error", message: "parse error", retry: false }),
  "-32600": Object.freeze({ name: "invalid_request", message: "invalid request", retry: false }),
  "-32601": Object.freeze({ name: "method_not_found", message: "method not found", retry: false }),
  "-32602": Object.freeze({ name: "invalid_params", message: "invalid params", retry: false }),
  "-32603": Object.freeze({ name: "internal", message: "internal error", retry: true }),
  "-32000": Object.freeze({ name: "unavailable", message: "service unavailable", retry: true }),
  "-32001": Object.freeze({ name: "timeout", message: "timeout", retry: true }),
  "-32002": Object.freeze({ name: "busy", message: "too many pending requests on this connection", retry: true }),
  "1001": Object.freeze({ name: "conf_not_found", message: "conference not found", retry: false }),
  "1002": Object.freeze({ name: "call_not_found", message: "call not found", retry: false }),
  "1003": Object.freeze({ name: "forbidden", message: "forbidden", retry: false }),
  "1004": Object.freeze({ name: "number_not_allowed", message: "number not allowed", retry: false }),
  "1005": Object.freeze({ name: "rate_limited", message: "rate limited", retry: true }),
  "1006": Object.freeze({ name: "limit_exceeded", message: "limit exceeded", retry: false }),
  "1007": Object.freeze({ name: "conf_ended", message: "conference has ended", retry: false }),
  "1008": Object.freeze({ name: "platform_error", message: "telephony platform error", retry: false }),
  "1009": Object.freeze({ name: "platform_unavailable", message: "telephony platform unavailable", retry: true }),
  "1010": Object.freeze({ name: "idempotency_conflict", message: "idempotency key reused with different params", retry: false }),
  "1011": Object.freeze({ name: "history_gone", message: "events no longer available; call QueryConfState", retry: false }),
  "1012": Object.freeze({ name: "unauthorized", message: "token refused", retry: false }),
});

/** Close codes the edge sends (docs/protocol.md section 8). */
export const Close = Object.freeze({
  Shutdown: 1001,
  BadText: 1007,
  TooBig: 1009,
  Replaced: 4000,
  Slow: 4001,
  NoPong: 4002,
  ServerFailure: 4003,
  TokenExpired: 4004,
});

/**
 * Every method a client may call: its params in positional order and its
 * server-side deadline in ms (the edge answers -32001 when it passes).
 */
export const MethodSpecs = Object.freeze({
  CreateConf: Object.freeze({ params: Object.freeze(["maxmember", "idempotency_key"]), deadlineMs: 10000 }),
  DismissConf: Object.freeze({ params: Object.freeze(["confid"]), deadlineMs: 10000 }),
  InviteJoinConf: Object.freeze({ params: Object.freeze(["confid", "number", "idempotency_key"]), deadlineMs: 10000 }),
  QuitConf: Object.freeze({ params: Object.freeze(["confid", "callid"]), deadlineMs: 10000 }),
  QueryConfState: Object.freeze({ params: Object.freeze(["confid"]), deadlineMs: 5000 }),
  GetConf: Object.freeze({ params: Object.freeze(["confid"]), deadlineMs: 5000 }),
  ConfMute: Object.freeze({ params: Object.freeze(["confid", "callid"]), deadlineMs: 10000 }),
  ConfUnMute: Object.freeze({ params: Object.freeze(["confid", "callid"]), deadlineMs: 10000 }),
  ConfRecord: Object.freeze({ params: Object.freeze(["confid"]), deadlineMs: 10000 }),
  ConfStopRecord: Object.freeze({ params: Object.freeze(["confid"]), deadlineMs: 10000 }),
  WatchConf: Object.freeze({ params: Object.freeze(["confid", "since"]), deadlineMs: 5000 }),
  UnwatchConf: Object.freeze({ params: Object.freeze(["confid"]), deadlineMs: 5000 }),
  RefreshToken: Object.freeze({ params: Object.freeze(["token"]), deadlineMs: 5000 }),
});

/** Notifications that carry an event with a per-conference seq. */
export const eventNotifications = Object.freeze(["OnConfCreate", "OnConfInviteJoin", "OnConfQuit", "OnConfDel", "OnConfDismiss", "OnConfMedia"]);

// Generated from pkg/contract by pkg/contract/jsgen: do not edit.
// UPDATE_DOCS=1 go test ./svc-edge/web/ rewrites it.

/** JSON-RPC error codes by name (docs/protocol.md section 7). */
export declare const ErrorCode: {
  /** parse error (retry: no) */
  readonly ParseError: -32700;
  /** invalid request (retry: no) */
  readonly InvalidRequest: -32600;
  /** method not found (retry: no) */
  readonly MethodNotFound: -32601;
  /** invalid params (retry: no) */
  readonly InvalidParams: -32602;
  /** internal error (retry: yes) */
  readonly Internal: -32603;
  /** service unavailable (retry: yes) */
  readonly Unavailable: -32000;
  /** timeout (retry: yes) */
  readonly Timeout: -32001;
  /** too many pending requests on this connection (retry: yes) */
  readonly Busy: -32002;
  /** conference not found (retry: no) */
  readonly ConfNotFound: 1001;
  /** call not found (retry: no) */
  readonly CallNotFound: 1002;
  /** forbidden (retry: no) */
  readonly Forbidden: 1003;
  /** number not allowed (retry: no) */
  readonly NumberNotAllowed: 1004;
  /** rate limited (retry: yes) */
  readonly RateLimited: 1005;
  /** limit exceeded (retry: no) */
  readonly LimitExceeded: 1006;
  /** conference has ended (retry: no) */
  readonly ConfEnded: 1007;
  /** telephony platform error (retry: no) */
  readonly PlatformError: 1008;
  /** telephony platform unavailable (retry: yes) */
  readonly PlatformUnavailable: 1009;
  /** idempotency key reused with different params (retry: no) */
  readonly IdempotencyConflict: 1010;
  /** events no longer available; call QueryConfState (retry: no) */
  readonly HistoryGone: 1011;
  /** token refused (retry: no) */
  readonly Unauthorized: 1012;
};

/** Every error code the server sends; a newer server may send others (see docs/protocol.md section 7). */
export type ErrorCodeValue = -32700 | -32600 | -32601 | -32602 | -32603 | -32000 | -32001 | -32002 | 1001 | 1002 | 1003 | 1004 | 1005 | 1006 | 1007 | 1008 | 1009 | 1010 | 1011 | 1012;

export interface ErrorSpec {
  readonly name: string;
  readonly message: string;
  readonly retry: boolean;
}

/** Each code's name, default message and whether the same request may succeed later. */
export declare const Errors: { readonly [code: string]: ErrorSpec | undefined };

/** Close codes the edge sends (docs/protocol.md section 8). */
export declare const Close: {
  /** edge shutting down */
  readonly Shutdown: 1001;
  /** text frame is not valid UTF-8 */
  readonly BadText: 1007;
  /** message too big */
  readonly TooBig: 1009;
  /** replaced by a newer connection */
  readonly Replaced: 4000;
  /** slow consumer */
  readonly Slow: 4001;
  /** no pong */
  readonly NoPong: 4002;
  /** edge lost NATS or the events stream */
  readonly ServerFailure: 4003;
  /** token expired */
  readonly TokenExpired: 4004;
};

export type CloseCode = 1001 | 1007 | 1009 | 4000 | 4001 | 4002 | 4003 | 4004;

export interface MethodSpec {
  readonly params: readonly string[];
  readonly deadlineMs: number;
}

export declare const MethodSpecs: { readonly [M in MethodName]: MethodSpec };

export declare const eventNotifications: readonly EventNotificationName[];

/**
 * Every method: `params` by name, `positional` by position (docs/protocol.md
 * section 4), and `result`.
 */
export interface Methods {
  /** Server deadline 10s. */
  CreateConf: {
    params: {
      /** integer ≥ 1 */ maxmember?: number;
      /** idempotency key: 1–128 printable ASCII characters, no spaces */ idempotency_key?: string;
    };
    positional: [];
    result: string;
  };
  /** Server deadline 10s. */
  DismissConf: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
    };
    positional: [confid: string];
    result: null;
  };
  /** Server deadline 10s. */
  InviteJoinConf: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
      /** phone numbers joined by '#' */ number: string;
      /** idempotency key: 1–128 printable ASCII characters, no spaces */ idempotency_key?: string;
    };
    positional: [confid: string, number: string];
    result: string;
  };
  /** Server deadline 10s. */
  QuitConf: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
      /** call id: 32 letters or digits */ callid: string;
    };
    positional: [confid: string, callid: string];
    result: null;
  };
  /** Server deadline 5s. */
  QueryConfState: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
    };
    positional: [confid: string];
    result: ConfState;
  };
  /** Server deadline 5s. */
  GetConf: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
    };
    positional: [confid: string];
    result: Conference;
  };
  /** Server deadline 10s. */
  ConfMute: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
      /** call id: 32 letters or digits */ callid: string;
    };
    positional: [confid: string, callid: string];
    result: null;
  };
  /** Server deadline 10s. */
  ConfUnMute: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
      /** call id: 32 letters or digits */ callid: string;
    };
    positional: [confid: string, callid: string];
    result: null;
  };
  /** Server deadline 10s. */
  ConfRecord: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
    };
    positional: [confid: string];
    result: null;
  };
  /** Server deadline 10s. */
  ConfStopRecord: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
    };
    positional: [confid: string];
    result: null;
  };
  /** Server deadline 5s. */
  WatchConf: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
      /** event seq ≥ 0 */ since?: number;
    };
    positional: [confid: string, since?: number];
    result: WatchConfResult;
  };
  /** Server deadline 5s. */
  UnwatchConf: {
    params: {
      /** conference id: 4–8 digits */ confid: string;
    };
    positional: [confid: string];
    result: null;
  };
  /** Server deadline 5s. */
  RefreshToken: {
    params: {
      /** connection token (a JWT) */ token: string;
    };
    positional: [token: string];
    result: RefreshTokenResult;
  };
}

export type MethodName = keyof Methods;

/** Every notification the edge pushes, with its params (docs/protocol.md section 5). */
export interface Notifications {
  OnConfCreate: CreateParams;
  OnConfInviteJoin: InviteJoinParams;
  OnConfQuit: QuitParams;
  OnConfDel: DelParams;
  OnConfDismiss: DismissParams;
  OnConfMedia: MediaParams & { readonly [field: string]: string | number | undefined };
  OnConfWatch: WatchConfResult;
  OnConfEventsLost: EventsLostParams;
}

export type NotificationName = keyof Notifications;

/** The notifications that carry an event (and a seq). */
export type EventNotificationName = "OnConfCreate" | "OnConfInviteJoin" | "OnConfQuit" | "OnConfDel" | "OnConfDismiss" | "OnConfMedia";

/** error.data of the codes that have a fixed shape for it. */
export interface ErrorDataByCode {
  1005: RateLimitData;
  1008: PlatformErrorData;
  1012: UnauthorizedData;
}

// Types of the results, params and error data above.

/** contract.ConfState */
export interface ConfState {
  state: 0 | 1 | 2;
  count: number;
}

/** contract.Member */
export interface Member {
  callid: string;
  number: string;
  state: "invited" | "ringing" | "joined" | "left" | "failed";
  result?: number;
  muted?: boolean;
  invitetime?: string;
  jointime?: string;
  quittime?: string;
}

/** contract.Conference */
export interface Conference {
  confid: string;
  owner: string;
  state: 0 | 1 | 2;
  count: number;
  maxmember: number;
  createtime: string;
  recording?: boolean;
  seq: number;
  members: Member[];
}

/** contract.WatchConfResult */
export interface WatchConfResult {
  confid: string;
  seq: number;
}

/** contract.RefreshTokenResult */
export interface RefreshTokenResult {
  exp: number;
}

/** contract.CreateParams */
export interface CreateParams {
  confid: string;
  seq: number;
  callid: string;
  createtime: string;
}

/** contract.InviteJoinParams */
export interface InviteJoinParams {
  confid: string;
  seq: number;
  callid: string;
  number: string;
  jointime: string;
  result: number;
  outcome: "joined" | "failed" | "pending";
}

/** contract.QuitParams */
export interface QuitParams {
  confid: string;
  seq: number;
  callid: string;
  number: string;
  jointime: string;
}

/** contract.DelParams */
export interface DelParams {
  confid: string;
  seq: number;
  deltime: string;
}

/** contract.DismissParams */
export interface DismissParams {
  confid: string;
  seq: number;
  status: number;
}

/** contract.MediaParams */
export interface MediaParams {
  confid: string;
  seq: number;
  callid?: string;
  result: number;
  notifytype?: string;
  state?: string;
  recordurl?: string;
  recordduration?: string;
}

/** contract.EventsLostParams */
export interface EventsLostParams {
  confid: string;
  from: number;
  to: number;
}

/** contract.RateLimitData */
export interface RateLimitData {
  limit?: "calls_per_minute" | "conferences_per_minute" | "live_calls" | "source_calls_per_minute" | "source_conferences_per_minute";
  scope?: "client" | "global";
  retry_after_ms: number;
}

/** contract.PlatformErrorData */
export interface PlatformErrorData {
  statusCode: string;
  statusMsg?: string;
}

/** contract.UnauthorizedData */
export interface UnauthorizedData {
  reason: string;
}

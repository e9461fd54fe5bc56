// Types of @confapplet/client. The protocol's own types (methods, params,
// results, notifications, error codes) are generated from pkg/contract into
// contract.d.ts; this file declares the client around them.

import type {
  CloseCode,
  ErrorDataByCode,
  MethodName,
  Methods,
  NotificationName,
  Notifications,
} from "./contract.js";

export * from "./contract.js";

/** Codes of the errors raised by the client itself. */
export declare const LocalCode: {
  readonly NotConnected: "not_connected";
  readonly ConnectionLost: "conn_lost";
  readonly Timeout: "local_timeout";
};

/** How a socket closed: a close code of the edge (CloseCode), 1000, 1006, or 0 when no socket was made. */
export interface CloseInfo {
  code: CloseCode | number;
  reason: string;
}

/** The server answered with a JSON-RPC error. Branch on `code`, never on `message`. */
export declare class RpcError<C extends number = number> extends Error {
  readonly name: "RpcError";
  readonly code: C;
  readonly data: C extends keyof ErrorDataByCode ? ErrorDataByCode[C] : unknown;
  readonly method: MethodName | undefined;
  /** The contract's name of the code, e.g. "conf_not_found"; "" for a code newer than this client. */
  readonly codeName: string;
  /** Whether the same request may succeed later, unchanged (docs/protocol.md section 7). */
  readonly retriable: boolean;
  constructor(code: C, message: string, data?: unknown, method?: string);
}

/** No connection to send on, or it dropped before the answer (the outcome is then unknown). */
export declare class ConnectionError extends Error {
  readonly name: "ConnectionError";
  readonly code: "not_connected" | "conn_lost";
  readonly method: MethodName | undefined;
  readonly close: CloseInfo | undefined;
}

/** No answer within the call's timeout; the command may or may not have run. */
export declare class TimeoutError extends Error {
  readonly name: "TimeoutError";
  readonly code: "local_timeout";
  readonly method: MethodName;
  readonly timeout: number;
}

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** The detail of a "status" event. */
export interface Status extends Partial<CloseInfo> {
  state: ConnectionState;
  /** Failed attempts since the last stable connection. */
  attempt: number;
  /** state "open": this connection resumed an earlier one (missed events are replayed). */
  resumed?: boolean;
  /** state "reconnecting": ms until the next attempt. */
  delay?: number;
  retryAt?: number;
  /** state "closed" after close code 4000: another connection took this client id over. */
  replaced?: boolean;
}

/** The client's own events, besides one per notification name. */
export interface ClientEvents {
  status: Status;
  /** Every notification, once per event seq. */
  notify: { [M in NotificationName]: { method: M; params: Notifications[M] } }[NotificationName];
  /** The token was renewed in-band; exp in Unix seconds. */
  token: { exp: number };
  /** A failure no call reports: a token renewal, a re-watch after reconnecting, an answer without an id. */
  error: unknown;
}

export interface ConfClientOptions {
  /** ws:// or wss:// address of the edge. */
  url?: string;
  /** Older name of url. */
  base?: string;
  /** Stable client id, ^[A-Za-z0-9_-]{1,64}$: conferences belong to it. */
  clientId: string;
  /** Connection token (a JWT), for edges that require one (docs/protocol.md section 1.2a). */
  token?: string;
  /**
   * Asked for a fresh token before every connect and when three quarters of
   * the current token's lifetime have passed (then sent with RefreshToken).
   */
  tokenSource?: () => Promise<string> | string;
  /** Operator token. */
  operator?: string;
  /** Default timeout of every call in ms; without it, the method's server deadline plus 5 s. */
  timeout?: number;
  /** Reconnect backoff bounds in ms (default 500 and 15000). */
  backoff?: { base?: number; max?: number };
  /** A WebSocket constructor; default the global one (Node 20: --experimental-websocket). */
  WebSocket?: new (url: string) => WebSocket;
}

export interface CallOptions {
  /** ms; default the client's timeout, else the method's server deadline plus 5 s. */
  timeout?: number;
  /** Stops waiting (the call rejects with signal.reason); the command may still run. */
  signal?: AbortSignal;
  /** Keep the call across a reconnect and send it again; only for calls carrying an idempotency_key. */
  resend?: boolean;
}

export declare class ConfClient extends EventTarget {
  constructor(options: ConfClientOptions);
  readonly clientId: string;
  readonly state: ConnectionState;
  /** confid → seq of the last event delivered: the resume point. */
  readonly lastSeq: Map<string, number>;
  token: string;
  /** Opens the connection and keeps it open; resolves once open, rejects only if closed for good first. */
  connect(): Promise<void>;
  /** Closes for good; pending calls fail with ConnectionError. */
  close(): void;
  /** Skips the current backoff wait. */
  reconnectNow(): void;
  /** The token for the next connect. */
  setToken(token: string): void;
  /** Records seq as delivered for confid (after a GetConf rebuild). */
  seen(confid: string, seq: number): void;
  /** Stops resuming confid. */
  forget(confid: string): void;
  call<M extends MethodName>(
    method: M,
    params?: Methods[M]["params"] | Methods[M]["positional"],
    options?: CallOptions,
  ): Promise<Methods[M]["result"]>;
  /** Calls handler for each notification named name, or each client event; returns a function that removes it. */
  on<N extends NotificationName>(name: N, handler: (params: Notifications[N]) => void): () => void;
  on<E extends keyof ClientEvents>(name: E, handler: (detail: ClientEvents[E]) => void): () => void;
}

export declare function tokenExp(token: string): number;
export declare function backoff(n: number, base?: number, max?: number, rand?: () => number): number;
export declare const MAX_RESUME: 256;
export declare function buildURL(
  base: string,
  clientId: string,
  lastSeq: Map<string, number>,
  extra?: Record<string, string | undefined>,
): string;
export declare function newClientId(prefix?: string): string;
export declare function newKey(): string;
export declare function splitNumbers(text: string): string[];

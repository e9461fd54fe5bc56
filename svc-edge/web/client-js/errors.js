// errors.js — what a failed call rejects with.
//
// Three classes, because a caller does different things with each: an
// RpcError is the server's answer (branch on its numeric code, retry only
// when `retriable`); a ConnectionError means the request never got an
// answer because there was no connection (the outcome is unknown when it
// had been sent); a TimeoutError means the client gave up waiting. An
// aborted call rejects with the AbortSignal's reason, as fetch does.

import { Errors } from "./contract.js";

/** Codes of the errors raised by the client itself (strings, never a server code). */
export const LocalCode = Object.freeze({
  NotConnected: "not_connected",
  ConnectionLost: "conn_lost",
  Timeout: "local_timeout",
});

/** The server answered the request with a JSON-RPC error. */
export class RpcError extends Error {
  /**
   * @param {number} code JSON-RPC error.code (contract ErrorCode)
   * @param {string} message error.message: readable, never to be parsed
   * @param {unknown} [data] error.data, when the server sent it
   * @param {string} [method] the method called
   */
  constructor(code, message, data, method) {
    super(message || (Errors[code] && Errors[code].message) || `error ${code}`);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
    this.method = method;
  }

  /** The contract's name of the code (e.g. "conf_not_found"); "" when the code is newer than this client. */
  get codeName() {
    return (Errors[this.code] && Errors[this.code].name) || "";
  }

  /**
   * Whether the same request may succeed later, unchanged. Unknown codes
   * follow docs/protocol.md section 7: negative ones are treated like
   * -32603 (retriable), positive ones are not.
   */
  get retriable() {
    const spec = Errors[this.code];
    return spec ? spec.retry : this.code < 0;
  }
}

/** There was no connection to send the request on, or it dropped before the answer. */
export class ConnectionError extends Error {
  /**
   * @param {"not_connected"|"conn_lost"} code
   * @param {string} message
   * @param {string} [method]
   * @param {{code: number, reason: string}} [close] how the socket closed
   */
  constructor(code, message, method, close) {
    super(message);
    this.name = "ConnectionError";
    this.code = code;
    this.method = method;
    this.close = close;
  }
}

/** No answer within the call's timeout: the command may or may not have run. */
export class TimeoutError extends Error {
  /**
   * @param {string} method
   * @param {number} ms the timeout that passed
   */
  constructor(method, ms) {
    super(`${method}: no answer within ${ms} ms`);
    this.name = "TimeoutError";
    this.code = LocalCode.Timeout;
    this.method = method;
    this.timeout = ms;
  }
}

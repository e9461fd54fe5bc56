// i18n.js — the page's labels and messages in Chinese and English.
//
// errors: one text per JSON-RPC error code of pkg/contract.Table (a Go test,
// web_test.go, checks that every code of the table has both texts here).

export const texts = {
  zh: {
    title: "管理电话会议",
    subtitle: "在浏览器里召开电话会议",
    langToggle: "English",
    langToggleLabel: "Switch to English",
    conn: {
      connecting: "正在连接…",
      open: "已连接",
      reconnecting: "连接断开，正在重连…",
      reconnectingIn: (s) => `连接断开，${s} 秒后重连`,
      closed: "未连接",
      replaced: "此页面已在另一个标签页打开",
      resumed: "已重新连接，已补上断线期间的事件",
      retryNow: "立即重连",
    },
    conf: {
      none: "还没有会议",
      create: "创建会议",
      creating: "正在创建…",
      id: "会议号",
      state: "状态",
      waiting: "等待成员加入",
      active: "进行中",
      ending: "正在结束",
      ended: "已结束",
      recording: "录音中",
      startRecord: "开始录音",
      stopRecord: "停止录音",
      muteAll: "全体静音",
      dismiss: "结束会议",
      dismissConfirm: "再点一次以结束会议",
      newConf: "新建会议",
      created: (id) => `会议 ${id} 已创建`,
      endedAt: (t) => `会议已结束（${t}）`,
      endedNow: "会议已结束",
      dismissFailed: (s) => `结束会议失败（状态 ${s}）`,
      rebuilt: "部分事件已丢失，已从服务器重新加载会议",
    },
    invite: {
      label: "邀请号码",
      hint: "一个或多个号码，用 # 、逗号或空格分隔",
      placeholder: "13912345678, 13800000001",
      button: "邀请",
      empty: "请输入至少一个号码",
      sent: (n) => `已呼叫 ${n} 个号码`,
      failedFor: (num, msg) => `${num}：${msg}`,
    },
    members: {
      title: "当前成员",
      empty: "还没有成员",
      number: "号码",
      state: "状态",
      time: "加入时间",
      actions: "操作",
      invited: "呼叫中",
      ringing: "等待结果",
      joined: "已加入",
      left: "已离开",
      failed: "失败",
      muted: "已静音",
      mute: "静音",
      unmute: "取消静音",
      hangup: "挂断",
      hangupOf: (n) => `挂断 ${n}`,
      muteOf: (n) => `静音 ${n}`,
      unmuteOf: (n) => `取消静音 ${n}`,
      count: (n) => `${n} 人在线`,
    },
    reasons: {
      busy: "对方忙或拒接",
      noAnswer: "无人接听",
      invalid: "空号或号码无效",
      rejected: "振铃中被挂断",
      cancelled: "呼叫已取消",
      other: (c) => `呼叫失败（结果码 ${c}）`,
    },
    log: { title: "事件记录" },
    errors: {
      [-32700]: "请求无法解析（JSON 格式错误）。",
      [-32600]: "请求格式不正确。",
      [-32601]: "服务器不支持此操作。",
      [-32602]: "参数不正确",
      [-32603]: "服务器内部错误，请稍后再试。",
      [-32000]: "会议服务暂时不可用，请稍后再试。",
      [-32001]: "服务器响应超时，请稍后再试。",
      [-32002]: "请求太多，请等待前面的操作完成。",
      1001: "会议不存在。",
      1002: "该成员不在会议中。",
      1003: "无权操作此会议。",
      1004: "号码不在允许呼叫的范围内。",
      1005: "操作太频繁，请稍后再试。",
      1006: "超出限制（会议人数或会议数量）。",
      1007: "会议已结束。",
      1008: "电话平台返回错误",
      1009: "电话平台暂时无法访问，请稍后再试。",
      1010: "重复的请求与之前的参数不一致。",
      1011: "部分事件已不可用，正在重新加载会议。",
      1012: "连接令牌被拒绝，请重新登录。",
      not_connected: "未连接到服务器，请等待重连。",
      conn_lost: "连接中断，操作结果未知，请查看成员列表后再试。",
      local_timeout: "服务器没有及时响应，请稍后再试。",
      unknown: (c) => `未知错误（${c}）`,
    },
  },
  en: {
    title: "Manage phone conference",
    subtitle: "Run a telephone conference from your browser",
    langToggle: "中文",
    langToggleLabel: "切换到中文",
    conn: {
      connecting: "Connecting…",
      open: "Connected",
      reconnecting: "Disconnected, reconnecting…",
      reconnectingIn: (s) => `Disconnected, retrying in ${s} s`,
      closed: "Not connected",
      replaced: "This page was opened in another tab",
      resumed: "Reconnected; events missed meanwhile were caught up",
      retryNow: "Reconnect now",
    },
    conf: {
      none: "No conference yet",
      create: "Create conference",
      creating: "Creating…",
      id: "Conference",
      state: "State",
      waiting: "Waiting for members",
      active: "In progress",
      ending: "Ending",
      ended: "Ended",
      recording: "Recording",
      startRecord: "Start recording",
      stopRecord: "Stop recording",
      muteAll: "Mute all",
      dismiss: "End conference",
      dismissConfirm: "Click again to end it",
      newConf: "New conference",
      created: (id) => `Conference ${id} created`,
      endedAt: (t) => `The conference ended (${t})`,
      endedNow: "The conference has ended",
      dismissFailed: (s) => `Ending the conference failed (status ${s})`,
      rebuilt: "Some events were lost; the conference was reloaded from the server",
    },
    invite: {
      label: "Invite numbers",
      hint: "One or more numbers, separated by #, commas or spaces",
      placeholder: "13912345678, 13800000001",
      button: "Invite",
      empty: "Enter at least one number",
      sent: (n) => `Calling ${n} number${n === 1 ? "" : "s"}`,
      failedFor: (num, msg) => `${num}: ${msg}`,
    },
    members: {
      title: "Members",
      empty: "No members yet",
      number: "Number",
      state: "State",
      time: "Joined",
      actions: "Actions",
      invited: "Calling",
      ringing: "Awaiting outcome",
      joined: "Joined",
      left: "Left",
      failed: "Failed",
      muted: "Muted",
      mute: "Mute",
      unmute: "Unmute",
      hangup: "Hang up",
      hangupOf: (n) => `Hang up ${n}`,
      muteOf: (n) => `Mute ${n}`,
      unmuteOf: (n) => `Unmute ${n}`,
      count: (n) => `${n} online`,
    },
    reasons: {
      busy: "busy or refused",
      noAnswer: "no answer",
      invalid: "invalid number",
      rejected: "hung up while ringing",
      cancelled: "call cancelled",
      other: (c) => `call failed (result ${c})`,
    },
    log: { title: "Event log" },
    errors: {
      [-32700]: "The request could not be parsed (invalid JSON).",
      [-32600]: "The request is malformed.",
      [-32601]: "The server does not support this operation.",
      [-32602]: "Invalid parameters",
      [-32603]: "Internal server error; please try again later.",
      [-32000]: "The conference service is unavailable; please try again shortly.",
      [-32001]: "The server timed out; please try again.",
      [-32002]: "Too many requests at once; wait for the previous ones to finish.",
      1001: "This conference does not exist.",
      1002: "This member is not in the conference.",
      1003: "You are not allowed to manage this conference.",
      1004: "This number may not be called.",
      1005: "Too many requests; please slow down and try again.",
      1006: "A limit was reached (members per conference or conferences per client).",
      1007: "The conference has ended.",
      1008: "The telephony platform returned an error",
      1009: "The telephony platform is unreachable; please try again later.",
      1010: "A repeated request did not match the original one.",
      1011: "Some events are no longer available; reloading the conference.",
      1012: "The connection token was refused; sign in again.",
      not_connected: "Not connected to the server; waiting to reconnect.",
      conn_lost: "The connection dropped before the answer; check the member list and try again.",
      local_timeout: "The server did not answer in time; please try again.",
      unknown: (c) => `Unknown error (${c})`,
    },
  },
};

/** pickLang returns "zh" or "en" from a saved choice or the browser's languages. */
export function pickLang(saved, languages) {
  if (saved === "zh" || saved === "en") return saved;
  for (const l of languages || []) {
    const s = String(l).toLowerCase();
    if (s.startsWith("zh")) return "zh";
    if (s.startsWith("en")) return "en";
  }
  return "en";
}

/**
 * errorText returns the message to show for err (an RpcError), including
 * the server's detail where it helps (the param name of -32602, the
 * platform's statusCode of 1008).
 */
export function errorText(t, err) {
  const code = err && err.code;
  const base = t.errors[code];
  if (base === undefined) {
    const msg = err && err.message ? `: ${err.message}` : "";
    return t.errors.unknown(code) + msg;
  }
  if ((code === -32602 || code === 1004) && err.message) return `${base.replace(/[。.]$/u, "")} (${err.message})`;
  if (code === 1008) {
    const d = err.data || {};
    const detail = [d.statusCode, d.statusMsg].filter(Boolean).join(" ");
    return detail ? `${base} (${detail})` : base;
  }
  return base;
}

/**
 * reasonText names the failure behind an OnConfInviteJoin result code. The
 * platform documents only 0 = success; 1–5 are the simulator's codes
 * (pkg/ytxsim, docs/yuntongxun.md). Any other code is shown as it is.
 */
export function reasonText(t, result) {
  const r = t.reasons;
  switch (Number(result)) {
    case 1:
      return r.busy;
    case 2:
      return r.noAnswer;
    case 3:
      return r.invalid;
    case 4:
      return r.cancelled;
    case 5:
      return r.rejected;
    default:
      return r.other(result);
  }
}

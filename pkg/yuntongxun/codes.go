package yuntongxun

import (
	"fmt"
	"strings"
)

// The platform's statusCodes come in two generations. The 2013-03-22 API
// numbered everything 110xxx (the constants in errors.go). The 2013-12-26
// API, which this client speaks, answers authentication, account and app
// problems with 111xxx codes (published in a public cloopen SDK's table,
// listed below); its conference codes were never published, so the 110xxx
// conference codes are the only known ones and are recognised too.
// Classify maps either generation to what it means for a caller.

// 2013-12-26 codes (容云账号 block) the simulator answers with.
const (
	CodeAccountFormat       = "111100" // 请求URL账号格式不正确
	CodeAuthorizationEmpty  = "111101" // 请求包头Authorization参数为空
	CodeAuthorizationBase64 = "111102" // Authorization参数Base64解码失败
	CodeAuthorizationFormat = "111103" // Authorization参数解码后格式有误
	CodeAuthorizationSID    = "111104" // Authorization参数解码后账户ID为空
	CodeAuthorizationTSNone = "111105" // Authorization参数解码后时间戳为空
	CodeTimestampExpired    = "111106" // Authorization参数解码后时间戳过期
	CodeAuthorizationOther  = "111107" // Authorization参数中账户ID跟请求地址中的账户ID不一致
	CodeSigEmpty            = "111108" // 请求地址Sig参数为空
	CodeSigMismatch         = "111109" // 请求地址Sig校验失败
	CodeSoftVersion         = "111110" // 请求地址SoftVersion参数有误
	CodeConcurrency         = "111111" // 超过规定的并发数
	CodeTimestampFormat     = "111113" // Authorization参数中时间戳格式有误
	CodeAccountMissing      = "111141" // 主账户不存在
	CodeBalance             = "111142" // 主账户余额不足
	CodeAppIDMissing        = "111169" // 应用ID为空
	CodeAppMissing          = "111181" // 应用不存在
	CodeAppNotOwned         = "111182" // 应用不属于主账户
)

// Class is what a statusCode means to a caller, whichever generation it
// belongs to.
type Class int

const (
	// ClassRefused is every code not listed: the platform refused the
	// command (never success).
	ClassRefused Class = iota
	// ClassAuth: account, token, sig, timestamp or app problems. Nothing
	// will work until an operator fixes the configuration.
	ClassAuth
	// ClassBalance: the account cannot pay.
	ClassBalance
	// ClassBusy: an internal platform error or its concurrency limit; the
	// same command may succeed later.
	ClassBusy
	// ClassRequest: the request or a parameter was malformed.
	ClassRequest
	// ClassConfNotFound: the platform does not know the conference.
	ClassConfNotFound
	// ClassCallNotFound: the call is not (any more) in the conference.
	ClassCallNotFound
	// ClassConfFull: the conference is at its maxmember.
	ClassConfFull
)

// classNames are the names ParseStatusClasses takes.
var classNames = map[string]Class{
	"refused": ClassRefused, "auth": ClassAuth, "balance": ClassBalance, "busy": ClassBusy,
	"request": ClassRequest, "conf_not_found": ClassConfNotFound, "call_not_found": ClassCallNotFound,
	"conf_full": ClassConfFull,
}

// ParseStatusClasses parses "111314=conf_not_found, 111315=call_not_found"
// (a code of 6 digits = a class name: refused, auth, balance, busy,
// request, conf_not_found, call_not_found, conf_full) for
// Config.StatusClasses.
func ParseStatusClasses(s string) (map[string]Class, error) {
	out := map[string]Class{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		code, name, ok := strings.Cut(part, "=")
		cls, known := classNames[name]
		if !ok || len(code) != 6 || !digits(code) || !known {
			return nil, fmt.Errorf("status class %q: want <6-digit code>=<refused|auth|balance|busy|request|conf_not_found|call_not_found|conf_full>", part)
		}
		out[code] = cls
	}
	return out, nil
}

var classes = map[string]Class{
	// 2013-03-22
	"110000": ClassAuth, "110001": ClassAuth, "110006": ClassAuth, "110095": ClassAuth,
	"110051": ClassAuth, "110057": ClassAuth, "110074": ClassAuth,
	"110007": ClassBalance, "121002": ClassBalance,
	"110079": ClassRequest, "110127": ClassRequest, "110141": ClassRequest, "110093": ClassRequest,
	CodeBadConfID:  ClassConfNotFound,
	CodeQuitFailed: ClassCallNotFound,
	CodeConfFull:   ClassConfFull,
	// 2013-12-26
	CodeConcurrency: ClassBusy,
	CodeBalance:     ClassBalance,
}

// Classify returns the class of a statusCode of either generation.
func Classify(code string) Class {
	if c, ok := classes[code]; ok {
		return c
	}
	if len(code) == 6 && code[:4] == "1110" && digits(code) {
		return ClassBusy // 111000–111099: 容云内部错误 (internal errors)
	}
	if len(code) == 6 && code[:4] == "1111" && digits(code) {
		return ClassAuth // 111100–111199: the 容云账号 block
	}
	return ClassRefused
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

package yuntongxun

import (
	"context"
	"errors"
	"fmt"
)

// StatusOK is the statusCode of a successful answer.
const StatusOK = "000000"

// 2013-03-22 status codes. The simulator answers the conference ones
// (no 2013-12-26 conference code was ever published); for authentication
// and apps it answers the 2013-12-26 codes of codes.go. Callers should use
// Classify, which knows both generations, rather than compare codes;
// docs/yuntongxun.md has the tables.
const (
	CodeAccountNotFound = "110006" // 主账户不存在: unknown account SID in the path
	CodeBadToken        = "110001" // 主账户授权令牌错误: sig does not match (wrong token, or sig and Authorization built from different timestamps)
	CodeAuthFailed      = "110095" // 权限验证错误: Authorization missing, undecodable, for another account, or its timestamp malformed or older than 24 h; sig missing
	CodeAppIDEmpty      = "110051" // 应用Id为空: no <Appid>
	CodeAppNotFound     = "110057" // 应用不存在: unknown <Appid>
	CodeBadXML          = "110079" // 读取XML文档错误: the body is not well-formed XML
	CodeBadRequest      = "110141" // 请求格式错误: no command element, wrong root, or an unknown command
	CodeBadParam        = "110127" // 参数错误: a missing or invalid attribute (maxmember out of 3..300, no number, …)
	CodeBadConfID       = "110128" // 会议Id错误: no such conference (never existed, dismissed or deleted)
	CodeConfFull        = "110092" // 房间人数超过最大限制: the invitation would exceed maxmember
	CodeCreateFailed    = "110024" // 创建会议失败
	CodeInviteFailed    = "110026" // 邀请加入会议失败
	CodeQuitFailed      = "110027" // 退出会议失败: callid is not a current member or invitation of the conference
	CodeMuteFailed      = "110028" // 会议静音失败: callid is not a joined member
	CodeConfAPIFailed   = "110090" // 会议接口转发失败: other media command failures
)

// ErrInvalidArgument is wrapped by errors about a caller's arguments (an
// empty confid, callid, number or file name); nothing was sent.
var ErrInvalidArgument = errors.New("invalid argument")

// StatusError is an answer of the platform with a statusCode other than
// 000000: the platform received and refused the command.
type StatusError struct {
	Command    string // e.g. "CreateConf"
	StatusCode string // e.g. "110128"
	StatusMsg  string // as the platform sent it; may be empty
	// Class is what the code means (Classify, or Config.StatusClasses).
	Class Class
}

func (e *StatusError) Error() string {
	if e.StatusMsg == "" {
		return fmt.Sprintf("yuntongxun %s: statusCode %s", e.Command, e.StatusCode)
	}
	return fmt.Sprintf("yuntongxun %s: statusCode %s: %s", e.Command, e.StatusCode, e.StatusMsg)
}

// TransportError is a failure to get an answer from the platform: a network
// error, a timeout, an HTTP status other than 200, or a body that is not a
// platform answer. The command may or may not have been executed.
type TransportError struct {
	Command    string
	HTTPStatus int // 0 when no HTTP response was received
	Err        error
}

func (e *TransportError) Error() string {
	if e.HTTPStatus != 0 {
		return fmt.Sprintf("yuntongxun %s: HTTP %d: %v", e.Command, e.HTTPStatus, e.Err)
	}
	return fmt.Sprintf("yuntongxun %s: %v", e.Command, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// retryable says whether a QueryConfState attempt that failed with err may be
// repeated: transport failures other than the caller's own cancellation, and
// 5xx/429 answers. A StatusError is the platform's decision and is final.
func retryable(err error) bool {
	var te *TransportError
	if !errors.As(err, &te) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if te.HTTPStatus == 0 {
		return true
	}
	return te.HTTPStatus >= 500 || te.HTTPStatus == 429
}

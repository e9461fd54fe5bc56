package callback

import (
	"slices"
	"strings"

	"confapplet/pkg/contract"
)

// callbackPath splits a callback path into its secret and kind. The
// platform joins each command's relative URL to the notification address
// set in its console by a rule nobody documents, so every plausible result
// is accepted: /yt/<secret>/<kind>, /yt/<secret>//<kind> and
// /yt/<secret>/<anything>/<kind> (even a whole absolute URL appended to the
// address). The secret is the first non-empty segment after /yt/, the kind
// the last one; ok is false when there are not two segments or the kind is
// not a callback kind. docs/yuntongxun.md ("Callback addresses") has the
// table of joining rules.
func callbackPath(path string) (secret, kind string, ok bool) {
	rest, found := strings.CutPrefix(path, "/yt/")
	if !found {
		return "", "", false
	}
	rest = strings.Trim(rest, "/")
	secret, tail, found := strings.Cut(rest, "/")
	if !found || secret == "" {
		return secret, "", false
	}
	tail = strings.TrimRight(tail, "/")
	kind = tail[strings.LastIndexByte(tail, '/')+1:]
	return secret, kind, slices.Contains(contract.CallbackKinds, kind)
}

// otherKind stands for a callback with the right secret whose path names
// no callback kind: it is kept raw (subject callback.raw._other) and marked
// as not understood.
const otherKind = "_other"

// resolveKind is the kind of a kept callback: its route's kind, or for
// otherKind the last segment of the path after the secret if that has
// become a callback kind since.
func resolveKind(kind, pathRest string) string {
	if kind != otherKind {
		return kind
	}
	rest := strings.TrimRight(pathRest, "/")
	if last := rest[strings.LastIndexByte(rest, '/')+1:]; slices.Contains(contract.CallbackKinds, last) {
		return last
	}
	return otherKind
}

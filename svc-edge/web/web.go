// Package web holds confapplet's browser page: plain HTML, CSS and
// JavaScript modules, embedded in the binary and served by svc-edge at "/".
//
// The page speaks the JSON-RPC protocol of docs/protocol.md. Protocol logic
// (connect, reconnect with backoff, resume, de-duplication by seq) lives in
// rpc.js; the view in app.js; labels and error texts in i18n.js.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html style.css app.js rpc.js i18n.js favicon.svg
var files embed.FS

// FS is the page's file tree, rooted so that index.html is at "index.html".
var FS fs.FS = files

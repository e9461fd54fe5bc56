// Package web holds confapplet's browser page: plain HTML, CSS and
// JavaScript modules, embedded in the binary and served by svc-edge at "/".
//
// The page speaks the JSON-RPC protocol of docs/protocol.md through the
// JavaScript client package in client-js/ (connect, reconnect with backoff,
// resume, de-duplication by seq, token renewal), which is also what a
// customer's app installs; the view is app.js, labels and error texts
// i18n.js.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html style.css app.js i18n.js favicon.svg client-js/*.js client-js/package.json
var files embed.FS

// FS is the page's file tree, rooted so that index.html is at "index.html".
var FS fs.FS = files

// Package contract is the wire contract between confapplet's services: NATS
// subject names and headers, the request and reply types of the conference
// service, the event type published on conf.<id>.events, and the one table
// that maps service errors to JSON-RPC error codes.
//
// Nothing here talks to NATS; it only names things, so every service and
// every client agrees on them by importing one package.
package contract

import "strings"

// Conference service (nats.go micro).
const (
	ServiceName    = "conference"
	ServiceVersion = "1.0.0"
	// ServiceSubjectPrefix is the micro group prefix: endpoints are
	// "conference.<Method>", e.g. conference.CreateConf.
	ServiceSubjectPrefix = "conference"
	// ServiceQueueGroup is the queue group every instance joins, so any
	// number of instances share the load.
	ServiceQueueGroup = "conference"
)

// ServiceSubject is the NATS subject of one conference-service endpoint.
func ServiceSubject(method string) string { return ServiceSubjectPrefix + "." + method }

// Events.
const (
	// EventsStream is the JetStream stream that stores every conference
	// event; it captures EventsWildcard.
	EventsStream   = "CONF_EVENTS"
	EventsWildcard = "conf.*.events"
	// OwnedSubjectPrefix: svc-conference publishes an OwnedNotice on
	// "confapplet.owned.<client_id>" (core NATS) when a conference is created,
	// so every edge that holds a session of that client starts watching it,
	// even when it was created through another edge.
	OwnedSubjectPrefix = "confapplet.owned."
	OwnedWildcard      = "confapplet.owned.*"
	// SessionSubjectPrefix: an edge publishes a SessionNotice on
	// "confapplet.session.<client_id>" when a client connects, so an older
	// connection with the same client id on another edge is replaced.
	SessionSubjectPrefix = "confapplet.session."
	SessionWildcard      = "confapplet.session.*"
)

// EventsSubject is the subject of one conference's events.
func EventsSubject(confID string) string { return "conf." + confID + ".events" }

// ConfIDFromEventsSubject returns the conference id of an events subject, or
// "" when subj is not one.
func ConfIDFromEventsSubject(subj string) string {
	id, ok := strings.CutPrefix(subj, "conf.")
	if !ok {
		return ""
	}
	id, ok = strings.CutSuffix(id, ".events")
	if !ok || strings.Contains(id, ".") {
		return ""
	}
	return id
}

// Request headers the edge sets on every call to the conference service.
const (
	HeaderClientID = "Confapplet-Client-Id"
	HeaderReqID    = "Confapplet-Req-Id"
	// HeaderDeadline is the caller's deadline in Unix milliseconds; the
	// service gives up (and never starts a platform call) after it.
	HeaderDeadline = "Confapplet-Deadline"
	// HeaderOperator carries the operator token a browser presented, if any.
	HeaderOperator = "Confapplet-Operator"
	// HeaderRole is RoleOperator when the caller's verified connection token
	// has the operator role (pkg/token); only the edge sets it.
	HeaderRole = "Confapplet-Role"
	// HeaderWatch lists, joined by ',', the confids the caller's verified
	// token lets it watch and read without owning them.
	HeaderWatch = "Confapplet-Watch"
	// HeaderSource is the address the caller's connection came from (the
	// edge believes X-Forwarded-For only from its trusted proxies); the
	// per-source call budget is keyed by it.
	HeaderSource = "Confapplet-Source"
	// RoleOperator is the HeaderRole value (and the token's role claim) of
	// an operator: it may act on and read every conference.
	RoleOperator = "operator"
)

// JetStream key-value buckets owned by svc-conference.
const (
	ConfBucket        = "confapplet_conferences"
	OwnersBucket      = "confapplet_owners"
	IdempotencyBucket = "confapplet_idempotency"
	// FinishedBucket keeps each conference's last record once the
	// platform deleted it: the call records (svc-conference records).
	FinishedBucket = "confapplet_finished"
)

// TracesBucket keeps the trace context of platform commands for their
// callbacks (pkg/tracing, calls.go); written by svc-conference, read by
// svc-callback, only when tracing is on.
const TracesBucket = "confapplet_traces"

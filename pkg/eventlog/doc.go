// Package eventlog owns the conference event log, the stream
// CONF_EVENTS (its settings: pkg/streams) and its one rule: each
// conference's events carry a seq that starts at 1 and grows by one per
// stored event, with no gap and no duplicate, whatever the number of
// writers and however often the platform repeats a callback.
//
// Appending (Log.Append, svc-callback): the conference's latest stored
// event is taken from an in-process cache or read (the subject's last
// message); the new event is published with seq = latest + 1 on the
// condition Nats-Expected-Last-Subject-Sequence = the latest's stream
// sequence, so JetStream refuses it if any other event was stored
// meanwhile (another writer: read again, retry). Nats-Msg-Id (from the
// event's Identity) makes a repeated callback a duplicate that JetStream
// stores once; an event whose key is the latest's is confirmed by a read
// and answered as a duplicate without publishing. A recreated stream
// restarts every conference at seq 1 (the cache is cleared when the
// stream is found missing).
//
// Reading: StoredSeq gives a stored event's seq (HeaderSeq, else the
// body). The stream republishes every stored event (streams.LiveSubject),
// which the edges fan out; they read the stream only to replay, resume
// and repair.
package eventlog

package conference

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// owned lists the confids clientID owns.
func (s *store) owned(ctx context.Context, clientID string) ([]string, error) {
	prefix := "$KV." + contract.OwnersBucket + "." + clientID + "."
	var info *jetstream.StreamInfo
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		info, err = s.ownersStream.Info(ctx, jetstream.WithSubjectFilter(prefix+"*"))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list owner %s: %w", clientID, err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		ids = append(ids, strings.TrimPrefix(subj, prefix))
	}
	sort.Strings(ids)
	return ids, nil
}

// removeOwner drops the owner key of confID.
func (s *store) removeOwner(ctx context.Context, owner, confID string) error {
	subj := "$KV." + contract.OwnersBucket + "." + ownerKey(owner, confID)
	if err := retryJS(ctx, kvAttempt, func(ctx context.Context) error {
		return s.ownersStream.Purge(ctx, jetstream.WithPurgeSubject(subj))
	}); err != nil {
		return fmt.Errorf("purge owner key %s: %w", confID, err)
	}
	return nil
}

func ownerKey(clientID, confID string) string { return clientID + "." + confID }

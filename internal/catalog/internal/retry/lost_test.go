package retry_test

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
)

// lossy is the embedded catalog with a fault injected after the commit:
// the armed operation runs, commits, and then its caller gets a connection
// reset instead of the answer, as when a TDS connection drops after the
// server applied the statement.
type lossy struct {
	*sqlite.DB
	mu    sync.Mutex
	armed map[catalogtest.Op]bool
}

func (l *lossy) arm(t *testing.T, op catalogtest.Op) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed[op] = true
}

// after returns err, or the lost answer when op was armed.
func (l *lossy) after(op catalogtest.Op, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || !l.armed[op] {
		return err
	}
	delete(l.armed, op)
	return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

func (l *lossy) ClaimSegment(ctx context.Context, p catalog.ClaimSegmentParams) error {
	return l.after(catalogtest.OpClaim, l.DB.ClaimSegment(ctx, p))
}

func (l *lossy) RecordMigrated(ctx context.Context, p catalog.RecordMigratedParams) error {
	return l.after(catalogtest.OpMigrated, l.DB.RecordMigrated(ctx, p))
}

func (l *lossy) ReleasePayload(ctx context.Context, p catalog.ReleasePayloadParams) error {
	return l.after(catalogtest.OpRelease, l.DB.ReleasePayload(ctx, p))
}

func (l *lossy) RecordFailure(ctx context.Context, p catalog.RecordFailureParams) error {
	return l.after(catalogtest.OpFailure, l.DB.RecordFailure(ctx, p))
}

func (l *lossy) MarkOutboxSent(ctx context.Context, p catalog.MarkOutboxSentParams) (int64, error) {
	n, err := l.DB.MarkOutboxSent(ctx, p)
	if err = l.after(catalogtest.OpMarkSent, err); err != nil {
		return 0, err
	}
	return n, nil
}

// TestLostAnswersOnSQLite: each retried commit that did apply is
// recognised (catalogtest.RunLostAnswers), on the embedded catalog with
// the fault injected after its commit.
func TestLostAnswersOnSQLite(t *testing.T) {
	catalogtest.RunLostAnswers(t, func(t *testing.T) (catalog.Catalog, catalogtest.Loser) {
		l := &lossy{DB: sqlitetest.Open(t), armed: map[catalogtest.Op]bool{}}
		noWait := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		r := retry.New(retry.Policy{Classify: sqlite.Classify, Sleep: noWait})
		return retry.Wrap(l, r, retry.Options{}), l.arm
	})
}

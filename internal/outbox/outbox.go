// Package outbox drains dbo.OffloadOutbox, the transactional outbox that
// keeps Service Broker's promise on Azure SQL: a message published with
// dbo.usp_PublishMessage inside a transaction reaches its Storage Queue if
// and only if the transaction commits, in order within its conversation,
// and exactly once in effect.
//
// A drain pass (Service.Drain runs passes until nothing is left to do):
//
//  1. Sequence. Read committed rows that have no sequence yet, oldest
//     first. A row that can never be sent (its queue is not in
//     PUBLISH_QUEUES, it is not JSON, it is too large for a queue message)
//     is marked failed with the reason, once. The others get the next
//     numbers of their conversation and are claimed by this pass, in one
//     statement. The order is the order rows become visible to the drain,
//     i.e. commit order (see catalog/outbox.go).
//  2. Claim. Sequenced rows left by earlier passes (a crash, a back-off, a
//     claim that expired) are claimed too, conversation heads first.
//  3. Send. For each conversation, the claimed rows that follow its head
//     without a gap are sent one after the other, conversations in
//     parallel (Config.Concurrency). A row is sent only after the one
//     before it was accepted by the queue. A failed send is retried a few
//     times, then the row is put in back-off and its conversation stops
//     there until the next try: a retry never breaks the order.
//  4. Mark. Accepted rows are marked sent in batches. A crash between the
//     send and the mark leaves the row pending under a claim that expires;
//     the next drainer sends it again with the same id and sequence (both
//     were stored before the first send), so the consumer sees an equal
//     duplicate and drops it (inbox.Buffer).
//  5. Purge. Sent rows older than the retention are deleted, every so
//     often, except the last one of each conversation, which carries its
//     sequence on.
//
// The queue message is the published JSON document, base64-encoded as the
// Functions queue trigger expects. A CloudEvent (an object with
// specversion) also gets, where it lacks them, id (the row's message id),
// sequence (its number in the conversation, 20 digits so that it sorts as
// text) and conversation (the row's conversation id, when it has one).
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// Defaults of Config.
const (
	DefaultRetention   = 7 * 24 * time.Hour
	DefaultBatch       = 500
	DefaultConcurrency = 8
	DefaultClaimTTL    = 2 * time.Minute
	DefaultSendTries   = 3
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = 5 * time.Minute
	DefaultPurgeEvery  = 10 * time.Minute
	DefaultPurgeBatch  = 1000
	// DefaultBudget bounds one Drain (the timer's and the kick's).
	DefaultBudget = 4 * time.Minute
)

// Sender puts a message on a Storage Queue (broker.Client).
type Sender interface {
	Ensure(ctx context.Context, queue string) error
	Publish(ctx context.Context, queue string, body []byte, delay time.Duration) (string, error)
}

// Config configures a Service. Catalog and Sender are required; zero
// values take the defaults.
type Config struct {
	Catalog catalog.Outbox
	Sender  Sender
	// Allowed are the queues the drain may write (PUBLISH_QUEUES).
	Allowed []string
	// Retention keeps sent rows this long (OUTBOX_RETENTION).
	Retention time.Duration
	// Batch is the rows one pass reads and claims (at most 500).
	Batch int
	// Concurrency is how many conversations send at once. The default, 8,
	// stays under the 10 idle connections per host the Azure SDK's
	// transport keeps: more sends in flight open and close a connection
	// each, and measured slower (see BenchmarkDrain).
	Concurrency int
	// ClaimTTL is how long a pass's claims last: a killed drainer's rows
	// wait this long before another drainer sends them again. A pass
	// starts no send after half of it.
	ClaimTTL time.Duration
	// SendTries is how often a pass tries one send before it puts the row
	// in back-off.
	SendTries int
	// RetryMin and RetryMax bound the back-off between passes of a row
	// whose sends fail (doubling per attempt).
	RetryMin, RetryMax time.Duration
	// PurgeEvery is how often the drain purges; PurgeBatch the rows per
	// statement.
	PurgeEvery time.Duration
	PurgeBatch int

	Logger *slog.Logger
	Now    func() time.Time
	// Hooks inject faults in tests; nil in production.
	Hooks Hooks
}

// Hooks are called where a crash is most interesting. An error from a hook
// behaves like a crash at that line: the pass stops at once, marking and
// releasing nothing.
type Hooks struct {
	AfterSend func(row catalog.OutboxRow) error // the queue accepted the row; it is not marked yet
}

// Service drains the outbox. It is safe for concurrent use, and any number
// of Services (processes) may drain one outbox at once.
type Service struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	lastPurge time.Time
}

// errCrash is a hook's simulated crash.
var errCrash = errors.New("outbox: stopped by a test hook")

// New applies the defaults.
func New(cfg Config) (*Service, error) {
	if cfg.Catalog == nil || cfg.Sender == nil {
		return nil, errors.New("outbox: Catalog and Sender are required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Batch <= 0 || cfg.Batch > DefaultBatch {
		cfg.Batch = DefaultBatch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = DefaultClaimTTL
	}
	if cfg.SendTries <= 0 {
		cfg.SendTries = DefaultSendTries
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.PurgeEvery <= 0 {
		cfg.PurgeEvery = DefaultPurgeEvery
	}
	if cfg.PurgeBatch <= 0 {
		cfg.PurgeBatch = DefaultPurgeBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Allowed = slices.Clone(cfg.Allowed)
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// newToken names one pass's claims.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "drain-" + hex.EncodeToString(b[:])
}

// backoff is the wait before attempt n+1 of a row whose n sends failed.
func (s *Service) backoff(attempts int64) time.Duration {
	d := s.cfg.RetryMin
	for i := int64(1); i < attempts && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

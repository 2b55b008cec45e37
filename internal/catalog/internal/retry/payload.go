package retry

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/hartonomous/offload/internal/catalog"
)

// Resumer is a payload reader that can go on after its connection broke.
// Resume opens a new connection and snapshot and proves that the bytes
// already read are those of the row as it is now (same length, same bytes
// so far, checked by the server); it returns catalog.ErrConflict when they
// are not, and the reader must then be started over from byte zero.
type Resumer interface {
	Resume(ctx context.Context) error
}

// OpenPayload waits for a reader slot (Options.PayloadReaders), opens the
// payload with retries, and returns a reader that resumes where it was cut
// when the dialect's reader is a Resumer.
func (c *Catalog) OpenPayload(ctx context.Context, p catalog.OpenPayloadParams) (catalog.PayloadReader, error) {
	release, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	r, err := value(ctx, c.r, Repeatable, func(ctx context.Context) (catalog.PayloadReader, error) {
		return c.inner.OpenPayload(ctx, p)
	})
	if err != nil {
		release()
		return nil, err
	}
	return &payload{PayloadReader: r, ctx: ctx, r: c.r, release: sync.OnceFunc(release)}, nil
}

// acquire takes a payload reader slot; release gives it back.
func (c *Catalog) acquire(ctx context.Context) (release func(), err error) {
	if c.readers == nil {
		return func() {}, nil
	}
	select {
	case c.readers <- struct{}{}:
		return func() { <-c.readers }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

type payload struct {
	catalog.PayloadReader
	ctx     context.Context
	r       *Retrier
	release func()
}

// Read reads on; after a transient fault it resumes the reader (at once on
// a fresh connection, then with back-off while the fault lasts) and reads
// again from the same offset.
func (p *payload) Read(b []byte) (int, error) {
	n, err := p.PayloadReader.Read(b)
	if err == nil || n > 0 || errors.Is(err, io.EOF) {
		return n, err
	}
	rs, ok := p.PayloadReader.(Resumer)
	if !ok || p.r.p.Classify(err).Class == Permanent {
		return n, err
	}
	rerr := p.r.Do(p.ctx, Repeatable, func(ctx context.Context) error {
		if err := rs.Resume(ctx); err != nil {
			return err
		}
		n, err = p.PayloadReader.Read(b)
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	})
	if rerr != nil {
		return n, rerr
	}
	return n, err
}

// Close closes the reader and frees its slot.
func (p *payload) Close() error {
	defer p.release()
	return p.PayloadReader.Close()
}

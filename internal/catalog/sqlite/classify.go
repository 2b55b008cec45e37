package sqlite

import (
	"errors"

	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	msqlite "modernc.org/sqlite"
)

// SQLite's primary result codes for a locked database
// (https://www.sqlite.org/rescode.html): SQLITE_BUSY, another connection
// holds the lock (in WAL mode also a read transaction whose snapshot went
// stale, SQLITE_BUSY_SNAPSHOT); SQLITE_LOCKED, a conflict inside this
// process's shared cache.
const (
	codeBusy   = 5
	codeLocked = 6
)

// Classify is the catalog's retry classifier for the embedded catalog: a
// locked database (beyond busy_timeout, or a snapshot that cannot be
// upgraded to write) is Busy and Unsent, since the statement that met it
// did not run; anything else is permanent, but for the generic network
// faults (never raised by SQLite itself, kept so one fault injector serves
// both dialects in tests).
func Classify(err error) retry.Fault {
	var e *msqlite.Error
	if errors.As(err, &e) {
		switch code := e.Code() & 0xff; code { // extended codes keep the primary in the low byte
		case codeBusy, codeLocked:
			return retry.Fault{Class: retry.Busy, Number: code, Unsent: true}
		}
		return retry.Fault{Number: e.Code()}
	}
	return retry.Network(err)
}

package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// timeLayout is how every Offload time column is stored: UTC, fixed width,
// microseconds, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// ts formats t for a bound parameter; the zero time is NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return dialect.Time(t).Format(timeLayout)
}

// parseTime reads a stored time. It accepts the catalog's own layout and
// the RFC 3339 / SQLite forms a person may have typed.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{timeLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s.String, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("sqlite: cannot parse time %q", s.String)
}

// nullStr is "" for NULL.
func nullStr(s sql.NullString) string { return s.String }

// str is NULL for "".
func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

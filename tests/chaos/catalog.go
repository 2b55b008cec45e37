package chaos

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hartonomous/offload/tests/tdsproxy"
)

// CatalogFaults put the TDS fault proxy between the offload processes and
// a T-SQL catalog: resets before a request, after the server applied it
// and in the middle of a reply, delays, and Azure SQL's transient errors,
// at Rate of the catalog requests, plus one outage of Outage (every
// connection reset and refused) starting at the first claim of a segment.
// Seeding, the schema step and the final checks go to the catalog
// directly.
type CatalogFaults struct {
	Rate   float64
	Outage time.Duration
}

func (f CatalogFaults) on() bool { return f.Rate > 0 || f.Outage > 0 }

// catalogProxy starts the proxy f asks for in front of dsn and returns the
// connection string the processes use (dsn itself when f asks for none).
func catalogProxy(f CatalogFaults, dsn string, seed int64, maxDelay time.Duration) (*tdsproxy.Proxy, string, error) {
	if !f.on() {
		return nil, dsn, nil
	}
	if !strings.HasPrefix(strings.ToLower(dsn), "sqlserver://") {
		return nil, "", errors.New("chaos: catalog faults need a T-SQL catalog (a sqlserver:// CatalogDSN)")
	}
	p, via, err := tdsproxy.StartFor(dsn, tdsproxy.Config{Seed: seed, Rate: f.Rate, MaxDelay: maxDelay})
	if err != nil {
		return nil, "", err
	}
	if f.Outage > 0 {
		p.DownAt("LayerTensorSegments SET ClaimToken", f.Outage)
	}
	return p, via, nil
}

// CatalogReport is what the TDS proxy did.
type CatalogReport struct {
	Rate                  float64
	Outage                time.Duration
	Requests, Connections int64
	Refused, Outages      int64
	Faults                map[string]int64
	Errors                map[int32]int64
}

func catalogReport(f CatalogFaults, p *tdsproxy.Proxy) *CatalogReport {
	if p == nil {
		return nil
	}
	s := p.Stats()
	r := &CatalogReport{Rate: f.Rate, Outage: f.Outage, Requests: s.Requests, Connections: s.Connections,
		Refused: s.Refused, Outages: s.Outages, Faults: map[string]int64{}, Errors: s.Errors}
	for k, n := range s.Faults {
		r.Faults[k.String()] = n
	}
	return r
}

// rows are the report's lines about the catalog's faults.
func (r *CatalogReport) rows(row func(k, format string, args ...any)) {
	if r == nil {
		return
	}
	kinds := make([]string, 0, len(r.Faults))
	for _, k := range tdsproxy.AllKinds() {
		if n := r.Faults[k.String()]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	nums := make([]string, 0, len(r.Errors))
	for n, c := range r.Errors {
		nums = append(nums, fmt.Sprintf("%d×%d", n, c))
	}
	sort.Strings(nums)
	row("catalog (T-SQL) requests through the TDS proxy, connections", "%d, %d", r.Requests, r.Connections)
	row("catalog faults injected", "%.0f%% of requests: %s; Azure errors %s", r.Rate*100, strings.Join(kinds, ", "), strings.Join(nums, " "))
	if r.Outage > 0 {
		row("catalog outages (connections refused during them)", "%d of %s (%d)", r.Outages, r.Outage, r.Refused)
	}
}

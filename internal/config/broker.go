package config

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// ParseBrokerQueues reads BROKER_SERVICE_QUEUES: service=queue pairs
// separated by ";", e.g. "//Hartonomous/Neo4jSyncService=neo4j-sync". A
// service name may hold "=" and "/" (the last "=" splits); a queue must be
// a storage queue name in PUBLISH_QUEUES, or the drain would refuse the
// messages cutover moves there.
func ParseBrokerQueues(s string, publish []string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ";") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		i := strings.LastIndexByte(pair, '=')
		if i <= 0 {
			return nil, fmt.Errorf("%q is not service=queue", pair)
		}
		svc, q := strings.TrimSpace(pair[:i]), strings.TrimSpace(pair[i+1:])
		if len(svc) > 256 || strings.IndexFunc(svc, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("service %q: at most 256 characters, no control characters", svc)
		}
		if err := ValidQueueName(q); err != nil {
			return nil, fmt.Errorf("service %s: %w", svc, err)
		}
		if !slices.Contains(publish, q) {
			return nil, fmt.Errorf("service %s: queue %q is not in %s (the drain would refuse its messages)", svc, q, SettingPublishQueues)
		}
		if _, dup := out[svc]; dup {
			return nil, fmt.Errorf("service %s is mapped twice", svc)
		}
		out[svc] = q
	}
	return out, nil
}

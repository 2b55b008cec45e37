// Package config turns the settings of REFERENCE §2 (environment variables, or
// local.settings.json Values under the Functions host) into a typed Config.
//
// It is the only place that reads those settings. Every bad or missing setting
// yields one error line that names it; secrets never appear in those lines.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Setting names, exactly as REFERENCE §2 spells them.
const (
	SettingSQL             = "SQL_CONNECTION_STRING"
	SettingStorage         = "AzureWebJobsStorage"
	SettingBlobServiceURI  = "AzureWebJobsStorage__blobServiceUri"
	SettingQueueServiceURI = "AzureWebJobsStorage__queueServiceUri"
	SettingAccountName     = "AzureWebJobsStorage__accountName"
	SettingClientID        = "AzureWebJobsStorage__clientId"
	SettingModelsContainer = "MODELS_CONTAINER"
	SettingAtomsContainer  = "ATOMS_CONTAINER"
	SettingTensors         = "TENSORS_CONTAINER"
	SettingSegmentQueue    = "SEGMENT_QUEUE"
	SettingVerifySchedule  = "VERIFY_SCHEDULE"
	SettingFilesRoots      = "FILES_ROOTS"
	SettingPublishQueues   = "PUBLISH_QUEUES"
	SettingOutboxSchedule  = "OUTBOX_SCHEDULE"
	SettingOutboxRetention = "OUTBOX_RETENTION"
	SettingBrokerQueues    = "BROKER_SERVICE_QUEUES"
	SettingPayloadReaders  = "SQL_PAYLOAD_READERS"
	SettingHandlerPort     = "FUNCTIONS_CUSTOMHANDLER_PORT"
)

// Defaults of REFERENCE §2.
const (
	DefaultModelsContainer  = "models"
	DefaultAtomsContainer   = "atoms"
	DefaultTensorsContainer = "tensors"
	DefaultSegmentQueue     = "segment-migration"
	DefaultVerifySchedule   = "0 */10 * * * *"
	DefaultFilesRoots       = `D:\Models\=models`
	DefaultPublishQueues    = "neo4j-sync"
	DefaultOutboxSchedule   = "*/10 * * * * *"
	DefaultOutboxRetention  = "7d"
	// DefaultPayloadReaders: docs/RETRIES.md has the arithmetic.
	DefaultPayloadReaders = 4
)

// Config is the typed form of every setting Offload reads.
type Config struct {
	// SQL is the catalog connection string: "sqlite:PATH" for the embedded
	// catalog, anything else is handed to go-mssqldb. It may hold a password:
	// never log it (use Redacted).
	SQL string

	Storage Storage

	ModelsContainer  string
	AtomsContainer   string
	TensorsContainer string
	// SegmentQueue is lower-cased, as the host normalises a queue
	// trigger's queue name.
	SegmentQueue   string
	VerifySchedule string
	FilesRoots     []Root
	PublishQueues  []string
	// OutboxSchedule is the DrainOutbox timer; OutboxRetention how long
	// sent outbox rows are kept.
	OutboxSchedule  string
	OutboxRetention time.Duration
	// BrokerQueues maps a Service Broker service to the Storage Queue its
	// waiting messages move to at cutover (BROKER_SERVICE_QUEUES).
	BrokerQueues map[string]string
	// PayloadReaders caps the segment payloads this instance reads from
	// the catalog at once (SQL_PAYLOAD_READERS).
	PayloadReaders int

	// HandlerPort is FUNCTIONS_CUSTOMHANDLER_PORT: set by the Functions host
	// when it starts us as a custom handler, empty on the command line.
	HandlerPort string
}

// PoisonQueue is the queue the Functions host (and our local worker) moves a
// message to after maxDequeueCount failed deliveries.
func (c Config) PoisonQueue() string { return c.SegmentQueue + "-poison" }

// SQLIsEmbedded reports whether the catalog is the embedded SQLite one.
func (c Config) SQLIsEmbedded() bool { return strings.HasPrefix(c.SQL, "sqlite:") }

// SQLitePath is the file of the embedded catalog ("" when not embedded).
func (c Config) SQLitePath() string {
	if !c.SQLIsEmbedded() {
		return ""
	}
	return strings.TrimPrefix(c.SQL, "sqlite:")
}

// Root maps a local path prefix (as T-SQL and PayloadLocator spell paths) to
// a blob container. Prefix is kept as written in FILES_ROOTS, with its
// separators normalised to "/" and a trailing "/".
type Root struct {
	Prefix    string
	Container string
}

// Getenv is os.Getenv's shape, injected so tests need no process environment.
type Getenv func(string) string

// Load reads every setting. It returns all problems at once, one line each.
func Load(getenv Getenv) (Config, error) {
	var errs []error
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		SQL:              get(SettingSQL, ""),
		ModelsContainer:  get(SettingModelsContainer, DefaultModelsContainer),
		AtomsContainer:   get(SettingAtomsContainer, DefaultAtomsContainer),
		TensorsContainer: get(SettingTensors, DefaultTensorsContainer),
		SegmentQueue:     strings.ToLower(get(SettingSegmentQueue, DefaultSegmentQueue)),
		VerifySchedule:   get(SettingVerifySchedule, DefaultVerifySchedule),
		OutboxSchedule:   get(SettingOutboxSchedule, DefaultOutboxSchedule),
		HandlerPort:      get(SettingHandlerPort, ""),
	}
	if c.SQL == "" {
		errs = append(errs, fmt.Errorf("%s is not set: use sqlite:PATH for the embedded catalog or a sqlserver:// / ADO connection string for Azure SQL", SettingSQL))
	} else if c.SQLIsEmbedded() && c.SQLitePath() == "" {
		errs = append(errs, fmt.Errorf("%s: sqlite: needs a file path, e.g. sqlite:./offload.db", SettingSQL))
	}

	st, err := loadStorage(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c.Storage = st

	for _, s := range []struct{ name, v string }{
		{SettingModelsContainer, c.ModelsContainer},
		{SettingAtomsContainer, c.AtomsContainer},
		{SettingTensors, c.TensorsContainer},
	} {
		if err := ValidContainerName(s.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if err := ValidQueueName(c.SegmentQueue); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", SettingSegmentQueue, err))
	} else if len(c.PoisonQueue()) > 63 {
		errs = append(errs, fmt.Errorf("%s: %q leaves no room for the -poison suffix (63 characters at most)", SettingSegmentQueue, c.SegmentQueue))
	}
	for _, sc := range []struct{ name, v string }{
		{SettingVerifySchedule, c.VerifySchedule},
		{SettingOutboxSchedule, c.OutboxSchedule},
	} {
		if err := ValidSchedule(sc.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sc.name, err))
		}
	}
	if c.OutboxRetention, err = ParseRetention(get(SettingOutboxRetention, DefaultOutboxRetention)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", SettingOutboxRetention, err))
	}
	if c.PayloadReaders, err = parseReaders(get(SettingPayloadReaders, strconv.Itoa(DefaultPayloadReaders))); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", SettingPayloadReaders, err))
	}
	roots, err := ParseRoots(get(SettingFilesRoots, DefaultFilesRoots))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", SettingFilesRoots, err))
	}
	c.FilesRoots = roots
	for _, q := range splitList(get(SettingPublishQueues, DefaultPublishQueues)) {
		if err := ValidQueueName(q); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", SettingPublishQueues, err))
			continue
		}
		c.PublishQueues = append(c.PublishQueues, q)
	}
	if c.BrokerQueues, err = ParseBrokerQueues(get(SettingBrokerQueues, ""), c.PublishQueues); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", SettingBrokerQueues, err))
	}
	if c.HandlerPort != "" && !regexp.MustCompile(`^[0-9]{1,5}$`).MatchString(c.HandlerPort) {
		errs = append(errs, fmt.Errorf("%s: %q is not a port number", SettingHandlerPort, c.HandlerPort))
	}
	return c, errors.Join(errs...)
}

// parseReaders reads SQL_PAYLOAD_READERS: a whole number from 1 to 256.
func parseReaders(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 256 {
		return 0, fmt.Errorf("%q is not a number of readers from 1 to 256", s)
	}
	return n, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var (
	containerRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)
	queueRE     = containerRE // same rules: 3-63, lowercase letters, digits, single dashes
)

// ValidContainerName checks Azure's container naming rules.
func ValidContainerName(s string) error {
	if len(s) < 3 || len(s) > 63 || !containerRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid container name (3-63 lowercase letters, digits and single dashes)", s)
	}
	return nil
}

// ValidQueueName checks Azure's queue naming rules.
func ValidQueueName(s string) error {
	if len(s) < 3 || len(s) > 63 || !queueRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid queue name (3-63 lowercase letters, digits and single dashes)", s)
	}
	return nil
}

// ParseRetention reads a duration such as 7d, 36h, 90m or 1h30m (Go's
// units plus d for days). It must be positive.
func ParseRetention(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n <= 0 || n > 36500 {
			return 0, fmt.Errorf("%q is not a duration (e.g. 7d, 36h, 90m)", s)
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(t); err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 7d, 36h, 90m)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be longer than zero", s)
	}
	return d, nil
}

// SplitPairs splits "KEY=VALUE;KEY=VALUE" into trimmed pairs, skipping
// empty parts. The last "=" of a part separates the two, so a key may
// itself hold "=" (a path can); a part without a key or a value is an
// error that names it and the expected form (e.g. "PATH=container").
func SplitPairs(s, form string) ([][2]string, error) {
	var pairs [][2]string
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndex(part, "=")
		if i <= 0 || i == len(part)-1 {
			return nil, fmt.Errorf("%q is not %s", part, form)
		}
		pairs = append(pairs, [2]string{strings.TrimSpace(part[:i]), strings.TrimSpace(part[i+1:])})
	}
	return pairs, nil
}

// ParseRoots parses "PREFIX=container;PREFIX=container". Prefixes may be
// Windows (D:\Models\) or POSIX (/srv/models/) paths.
func ParseRoots(s string) ([]Root, error) {
	pairs, err := SplitPairs(s, "PATH=container")
	if err != nil {
		return nil, err
	}
	var roots []Root
	for _, pair := range pairs {
		prefix, container := pair[0], pair[1]
		if err := ValidContainerName(container); err != nil {
			return nil, err
		}
		if strings.Contains(prefix, "..") {
			return nil, fmt.Errorf("root %q must not contain ..", prefix)
		}
		prefix = strings.ReplaceAll(prefix, `\`, "/")
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		roots = append(roots, Root{Prefix: prefix, Container: container})
	}
	if len(roots) == 0 {
		return nil, errors.New("no root given (expected PATH=container;…)")
	}
	return roots, nil
}

// Redacted returns a connection string with every secret-bearing part
// replaced, safe for logs.
func Redacted(conn string) string {
	if conn == "" {
		return ""
	}
	if u, err := url.Parse(conn); err == nil && u.Scheme != "" && u.User != nil {
		u.User = url.User(u.User.Username())
		q := u.Query()
		for k := range q {
			if isSecretKey(k) {
				q.Set(k, "REDACTED")
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	parts := strings.Split(conn, ";")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && isSecretKey(k) {
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, ";")
}

func isSecretKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	for _, s := range []string{"password", "pwd", "accountkey", "sharedaccesssignature", "sig", "secret", "token", "key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

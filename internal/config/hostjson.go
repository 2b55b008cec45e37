package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostFile is the Function App's host.json, beside the executable under the
// host (its working directory is the script root).
const HostFile = "host.json"

// Host is what Offload needs to know of host.json: the limits the Functions
// host enforces on the handler, and the queue trigger's delivery rules.
type Host struct {
	// FunctionTimeout is functionTimeout: the host kills the worker (and
	// every invocation in it) when one invocation runs longer. 0 means
	// unlimited ("-1").
	FunctionTimeout time.Duration
	// RoutePrefix is extensions.http.routePrefix ("api").
	RoutePrefix string
	Queues      HostQueues
	// Executable, Arguments and WorkingDirectory are customHandler.description.
	Executable       string
	Arguments        []string
	WorkingDirectory string
	// EnableForwardingHttpRequest is customHandler.enableForwardingHttpRequest.
	EnableForwardingHttpRequest bool
}

// HostQueues is extensions.queues (QueuesOptions), with its defaults.
type HostQueues struct {
	BatchSize          int
	NewBatchThreshold  int
	MaxDequeueCount    int
	VisibilityTimeout  time.Duration
	MaxPollingInterval time.Duration
	// MessageEncoding is "base64" (the default) or "none".
	MessageEncoding string
}

// Defaults the host applies when host.json is silent: functionTimeout is
// 5 minutes on the Consumption plan (the smallest of the plans' defaults,
// so the safe one to assume), the QueuesOptions defaults otherwise.
const (
	DefaultFunctionTimeout    = 5 * time.Minute
	DefaultQueueBatchSize     = 16
	DefaultMaxDequeueCount    = 5
	DefaultMaxPollingInterval = time.Minute
	DefaultRoutePrefix        = "api"
)

// HostOverridePrefix is how an app setting overrides a host.json value
// (AzureFunctionsJobHost__functionTimeout, …), which the host reads before
// host.json.
const HostOverridePrefix = "AzureFunctionsJobHost__"

// LoadHost reads dir/host.json and the AzureFunctionsJobHost__ overrides
// from getenv (nil: none). A missing file yields the defaults; a file that
// is not JSON or holds a bad duration is an error naming the key.
func LoadHost(dir string, getenv Getenv) (Host, error) {
	path := filepath.Join(dir, HostFile)
	raw, err := readHostJSON(path)
	if err != nil {
		return Host{}, err
	}
	if getenv != nil {
		if err := raw.override(getenv); err != nil {
			return Host{}, err
		}
	}
	h := Host{
		FunctionTimeout:             DefaultFunctionTimeout,
		RoutePrefix:                 DefaultRoutePrefix,
		Executable:                  raw.CustomHandler.Description.DefaultExecutablePath,
		Arguments:                   raw.CustomHandler.Description.Arguments,
		WorkingDirectory:            raw.CustomHandler.Description.WorkingDirectory,
		EnableForwardingHttpRequest: raw.CustomHandler.EnableForwardingHttpRequest,
	}
	if v := raw.FunctionTimeout; v != nil {
		if strings.TrimSpace(*v) == "-1" {
			h.FunctionTimeout = 0
		} else if err := hostDuration(path, "functionTimeout", v, &h.FunctionTimeout); err != nil {
			return Host{}, err
		} else if h.FunctionTimeout <= 0 {
			return Host{}, fmt.Errorf("%s: functionTimeout %q must be positive (or -1 for unlimited)", path, *v)
		}
	}
	if v := raw.Extensions.HTTP.RoutePrefix; v != nil {
		h.RoutePrefix = strings.Trim(*v, "/")
	}
	if h.Queues, err = raw.Extensions.Queues.settings(path); err != nil {
		return Host{}, err
	}
	return h, nil
}

// hostJSON is what Offload reads of host.json; nil is a value not given.
type hostJSON struct {
	FunctionTimeout *string `json:"functionTimeout"`
	Extensions      struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
		Queues hostJSONQueues `json:"queues"`
	} `json:"extensions"`
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			WorkingDirectory      string   `json:"workingDirectory"`
			Arguments             []string `json:"arguments"`
		} `json:"description"`
		EnableForwardingHttpRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
}

type hostJSONQueues struct {
	BatchSize          *int    `json:"batchSize"`
	NewBatchThreshold  *int    `json:"newBatchThreshold"`
	MaxDequeueCount    *int    `json:"maxDequeueCount"`
	VisibilityTimeout  *string `json:"visibilityTimeout"`
	MaxPollingInterval *string `json:"maxPollingInterval"`
	MessageEncoding    *string `json:"messageEncoding"`
}

// readHostJSON reads path; a missing file gives every value unset.
func readHostJSON(path string) (hostJSON, error) {
	var raw hostJSON
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return raw, fmt.Errorf("%s: %w", path, err)
	default:
		if err := json.Unmarshal(b, &raw); err != nil {
			return raw, fmt.Errorf("%s is not valid JSON: %w", path, err)
		}
	}
	return raw, nil
}

// override applies the AzureFunctionsJobHost__ app settings Offload reads,
// which win over host.json.
func (raw *hostJSON) override(getenv Getenv) error {
	str := func(key string, dst **string) {
		if v := strings.TrimSpace(getenv(HostOverridePrefix + key)); v != "" {
			*dst = &v
		}
	}
	str("functionTimeout", &raw.FunctionTimeout)
	str("extensions__queues__visibilityTimeout", &raw.Extensions.Queues.VisibilityTimeout)
	if v := strings.TrimSpace(getenv(HostOverridePrefix + "extensions__queues__maxDequeueCount")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%sextensions__queues__maxDequeueCount: %q is not a number", HostOverridePrefix, v)
		}
		raw.Extensions.Queues.MaxDequeueCount = &n
	}
	return nil
}

// settings checks extensions.queues of path and fills in the defaults.
func (q hostJSONQueues) settings(path string) (HostQueues, error) {
	hq := HostQueues{
		BatchSize:          DefaultQueueBatchSize,
		MaxDequeueCount:    DefaultMaxDequeueCount,
		MaxPollingInterval: DefaultMaxPollingInterval,
		MessageEncoding:    "base64",
	}
	if q.BatchSize != nil {
		if *q.BatchSize < 1 || *q.BatchSize > 32 {
			return hq, fmt.Errorf("%s: extensions.queues.batchSize %d is outside 1-32", path, *q.BatchSize)
		}
		hq.BatchSize = *q.BatchSize
	}
	hq.NewBatchThreshold = hq.BatchSize / 2
	if q.NewBatchThreshold != nil {
		hq.NewBatchThreshold = max(*q.NewBatchThreshold, 0)
	}
	if q.MaxDequeueCount != nil {
		if *q.MaxDequeueCount < 1 {
			return hq, fmt.Errorf("%s: extensions.queues.maxDequeueCount %d must be at least 1", path, *q.MaxDequeueCount)
		}
		hq.MaxDequeueCount = *q.MaxDequeueCount
	}
	if err := hostDuration(path, "extensions.queues.visibilityTimeout", q.VisibilityTimeout, &hq.VisibilityTimeout); err != nil {
		return hq, err
	}
	if err := hostDuration(path, "extensions.queues.maxPollingInterval", q.MaxPollingInterval, &hq.MaxPollingInterval); err != nil {
		return hq, err
	}
	if v := q.MessageEncoding; v != nil {
		switch e := strings.ToLower(strings.TrimSpace(*v)); e {
		case "base64", "none":
			hq.MessageEncoding = e
		default:
			return hq, fmt.Errorf("%s: extensions.queues.messageEncoding %q is neither base64 nor none", path, *v)
		}
	}
	return hq, nil
}

// hostDuration parses v (a TimeSpan) into dst when it is set.
func hostDuration(path, key string, v *string, dst *time.Duration) error {
	if v == nil {
		return nil
	}
	d, err := ParseTimeSpan(*v)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", path, key, err)
	}
	*dst = d
	return nil
}

// InvocationDeadline is how long one invocation may run in the handler: a
// margin below functionTimeout, so that it records its failure, drops its
// claim and answers before the host kills the worker. The margin is a
// tenth of functionTimeout, at least 1 s and at most 30 s, and never more
// than half of it. 0 (no deadline) when functionTimeout is unlimited.
func (h Host) InvocationDeadline() time.Duration {
	t := h.FunctionTimeout
	if t <= 0 {
		return 0
	}
	margin := min(max(t/10, time.Second), 30*time.Second)
	if margin > t/2 {
		margin = t / 2
	}
	return t - margin
}

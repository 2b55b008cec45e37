package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// LocalSettingsFile is where `func start` reads the app settings of a local
// run (its Values), and so do Offload's commands for settings the
// environment lacks.
const LocalSettingsFile = "local.settings.json"

// LocalSettings reads the Values of a local.settings.json. A missing file
// is no error (nil map); an encrypted one (IsEncrypted true, which `func
// settings encrypt` writes) is refused, since its values are not usable.
// Non-string values are taken as their JSON text, as the host does.
func LocalSettings(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var f struct {
		IsEncrypted bool                       `json:"IsEncrypted"`
		Values      map[string]json.RawMessage `json:"Values"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	if f.IsEncrypted {
		return nil, fmt.Errorf("%s is encrypted (IsEncrypted: true): run `func settings decrypt` or set the settings in the environment", path)
	}
	out := make(map[string]string, len(f.Values))
	for k, raw := range f.Values {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		out[k] = s
	}
	return out, nil
}

// Overlay is getenv, falling back to values for the settings getenv does
// not set (empty counts as unset, as everywhere in Load).
func Overlay(getenv Getenv, values map[string]string) Getenv {
	if len(values) == 0 {
		return getenv
	}
	return func(k string) string {
		if v := getenv(k); strings.TrimSpace(v) != "" {
			return v
		}
		return values[k]
	}
}

// TriggerSetting is one %NAME% a trigger binding resolves: the host does
// not index the function unless the app's settings hold NAME.
type TriggerSetting struct {
	Name     string // the setting, e.g. SEGMENT_QUEUE
	Function string // the function whose binding names it
	Property string // the binding property, e.g. queueName or schedule
}

// RequireTriggerSettings returns one error line per setting of refs that
// getenv does not set, naming the functions that resolve it. Serve mode
// calls it before anything else: the handler's own defaults never reach
// the host, so a setting the host cannot resolve leaves its function
// unindexed (a queue that fills with nothing listening).
func RequireTriggerSettings(getenv Getenv, refs []TriggerSetting) error {
	users := map[string][]string{}
	var missing []string
	for _, r := range refs {
		if strings.TrimSpace(getenv(r.Name)) != "" {
			continue
		}
		if _, seen := users[r.Name]; !seen {
			missing = append(missing, r.Name)
		}
		users[r.Name] = append(users[r.Name], fmt.Sprintf("%s (%s)", r.Function, r.Property))
	}
	slices.Sort(missing)
	var errs []error
	for _, name := range missing {
		errs = append(errs, fmt.Errorf("%s is not set: %s resolve%s %%%s%%, and the Functions host does not index a function whose trigger setting is missing; set it in the app settings (locally: local.settings.json Values)",
			name, strings.Join(users[name], ", "), plural(len(users[name])), name))
	}
	return errors.Join(errs...)
}

func plural(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

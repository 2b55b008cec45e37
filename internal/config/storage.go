package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DevelopmentStorage is the well-known Azurite / storage emulator account.
// The key is public (it is printed in Microsoft's docs), not a secret.
const (
	DevAccountName = "devstoreaccount1"
	DevAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// DevConnectionString returns the full devstoreaccount1 connection string for
// an Azurite listening on host with the given blob and queue ports.
func DevConnectionString(host string, blobPort, queuePort int) string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://%s:%d/%s;QueueEndpoint=http://%s:%d/%s;",
		DevAccountName, DevAccountKey, host, blobPort, DevAccountName, host, queuePort, DevAccountName)
}

// Storage says how to reach Blob and Queue storage: by connection string, or
// by identity (service URIs + DefaultAzureCredential / managed identity).
type Storage struct {
	// ConnectionString is the full account connection string (it holds the
	// account key or a SAS: never log it). Empty with identity-based access.
	ConnectionString string

	BlobServiceURL  string
	QueueServiceURL string
	AccountName     string
	// ClientID selects a user-assigned managed identity; empty for the
	// system-assigned one or the developer's own credential.
	ClientID string
}

// UsesIdentity reports whether storage is reached with Entra ID credentials.
func (s Storage) UsesIdentity() bool { return s.ConnectionString == "" && s.BlobServiceURL != "" }

// String is safe to log.
func (s Storage) String() string {
	if s.UsesIdentity() {
		return fmt.Sprintf("identity(blob=%s queue=%s clientId=%s)", s.BlobServiceURL, s.QueueServiceURL, s.ClientID)
	}
	return Redacted(s.ConnectionString)
}

func loadStorage(getenv Getenv) (Storage, error) {
	s := Storage{
		ConnectionString: strings.TrimSpace(getenv(SettingStorage)),
		BlobServiceURL:   strings.TrimSpace(getenv(SettingBlobServiceURI)),
		QueueServiceURL:  strings.TrimSpace(getenv(SettingQueueServiceURI)),
		AccountName:      strings.TrimSpace(getenv(SettingAccountName)),
		ClientID:         strings.TrimSpace(getenv(SettingClientID)),
	}
	if s.ConnectionString != "" {
		if strings.EqualFold(strings.ReplaceAll(s.ConnectionString, " ", ""), "UseDevelopmentStorage=true") ||
			strings.EqualFold(strings.ReplaceAll(s.ConnectionString, " ", ""), "UseDevelopmentStorage=true;") {
			s.ConnectionString = DevConnectionString("127.0.0.1", 10000, 10001)
			return s, nil
		}
		if err := checkConnectionString(s.ConnectionString); err != nil {
			return s, fmt.Errorf("%s: %w", SettingStorage, err)
		}
		return s, nil
	}
	if s.AccountName != "" {
		if s.BlobServiceURL == "" {
			s.BlobServiceURL = "https://" + s.AccountName + ".blob.core.windows.net/"
		}
		if s.QueueServiceURL == "" {
			s.QueueServiceURL = "https://" + s.AccountName + ".queue.core.windows.net/"
		}
	}
	if s.BlobServiceURL == "" && s.QueueServiceURL == "" {
		return s, fmt.Errorf("%s is not set: give a storage connection string, or %s and %s (or %s) for identity-based access",
			SettingStorage, SettingBlobServiceURI, SettingQueueServiceURI, SettingAccountName)
	}
	var errs []error
	for _, u := range []struct{ name, v string }{{SettingBlobServiceURI, s.BlobServiceURL}, {SettingQueueServiceURI, s.QueueServiceURL}} {
		if u.v == "" {
			errs = append(errs, fmt.Errorf("%s is not set (needed with identity-based storage)", u.name))
			continue
		}
		pu, err := url.Parse(u.v)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) service URL", u.name, u.v))
		}
	}
	return s, errors.Join(errs...)
}

// checkConnectionString validates the Key=Value;… shape without echoing it.
func checkConnectionString(cs string) error {
	keys := map[string]string{}
	for _, p := range strings.Split(cs, ";") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return errors.New("not a Key=Value;… connection string")
		}
		keys[strings.ToLower(strings.TrimSpace(k))] = v
	}
	_, hasKey := keys["accountkey"]
	_, hasSAS := keys["sharedaccesssignature"]
	if keys["accountname"] == "" && keys["blobendpoint"] == "" {
		return errors.New("connection string has neither AccountName nor BlobEndpoint")
	}
	if !hasKey && !hasSAS {
		return errors.New("connection string has neither AccountKey nor SharedAccessSignature")
	}
	if keys["blobendpoint"] == "" && keys["accountname"] != "" && keys["queueendpoint"] != "" {
		return errors.New("connection string has QueueEndpoint but no BlobEndpoint")
	}
	return nil
}

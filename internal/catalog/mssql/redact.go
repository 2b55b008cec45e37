package mssql

import (
	"net/url"
	"strings"
)

// Redact keeps secrets of the connection string out of an error: the whole
// string and every password-like value in it are replaced by "***". Driver
// errors rarely echo them, but an error must never be the way a password
// reaches a log.
func Redact(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range append([]string{dsn}, secrets(dsn)...) {
		if len(s) >= 3 {
			clean = strings.ReplaceAll(clean, s, "***")
		}
	}
	if clean == msg {
		return err
	}
	return redactedError(clean)
}

// redactedError carries only the cleaned text: it deliberately does not
// unwrap to the original error.
type redactedError string

func (e redactedError) Error() string { return string(e) }

// secretKeys are connection-string keys whose values are secrets.
var secretKeys = map[string]bool{
	"password": true, "pwd": true, "client secret": true, "clientsecret": true,
	"client_secret": true, "accesstoken": true, "access token": true,
}

// secrets extracts secret values from a sqlserver:// URL (userinfo password
// and query parameters) or an ADO / ODBC "key=value;" string.
func secrets(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if p, ok := u.User.Password(); ok {
			out = append(out, p, url.UserPassword("", p).String()[1:])
		}
		for k, vs := range u.Query() {
			if secretKeys[strings.ToLower(k)] {
				out = append(out, vs...)
			}
		}
		return out
	}
	for _, part := range strings.Split(dsn, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		if secretKeys[strings.ToLower(strings.TrimSpace(k))] {
			v = strings.TrimSpace(v)
			out = append(out, v, strings.Trim(v, "{}\"'"))
		}
	}
	return out
}

package hostsim_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/tests/hostsim"
)

// testPKI is a certificate authority made for one test and a server
// certificate it issued for 127.0.0.1: the host serves HTTPS with it, and
// a client trusts it through CAPEM alone. Nothing is written to disk here.
type testPKI struct {
	Server *tls.Config
	CAPEM  []byte
	Client *http.Client
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "offload hostsim test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p := &testPKI{
		// TLS 1.2 at least, as sp_invoke_external_rest_endpoint requires.
		Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{
			Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}}},
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	p.Client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return p
}

// The host checks function keys as Azure does, over HTTPS: the key in the
// x-functions-key header or the code query parameter; a host key or the
// function's own key opens an authLevel function trigger, the master key
// any; no key, a wrong key or another function's key is a 401 that never
// reaches the worker. FUNCTIONS_REQUEST_BODY_SIZE_LIMIT lowers the body
// limit.
func TestFunctionKeysOverTLS(t *testing.T) {
	a := newApp(t, nil)
	a.settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"] = "4096"
	pki := newPKI(t)
	h := a.mustStart(hostsim.Config{NoQueues: true, TLS: pki.Server, Keys: &hostsim.Keys{
		Master:   "master-key",
		Host:     []string{"host-default-key"},
		Function: map[string][]string{"Files": {"files-key"}, "PublishMessage": {"publish-key"}},
	}})
	if !strings.HasPrefix(h.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s is not https", h.URL())
	}
	body := `{"path":"D:\\Models\\none.bin"}`
	call := func(query, header string, body string) int {
		t.Helper()
		req, err := http.NewRequest("POST", h.URL()+"/api/files/exists"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("x-functions-key", header)
		}
		resp, err := pki.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusUnauthorized && len(b) != 0 {
			t.Errorf("401 with a body: %q", b)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		query, header string
		want          int
	}{
		{"", "", 401},
		{"", "wrong", 401},
		{"", "publish-key", 401}, // another function's key
		{"?code=wrong", "", 401},
		{"", "files-key", 200},
		{"", "host-default-key", 200},
		{"", "master-key", 200},
		{"?code=files-key", "", 200},
		{"?code=files-key", "wrong", 401}, // the header wins
	} {
		before := len(h.Invocations("Files"))
		got := call(tc.query, tc.header, body)
		if got != tc.want {
			t.Errorf("query %q header %q: %d, want %d", tc.query, tc.header, got, tc.want)
		}
		if invoked := len(h.Invocations("Files")) > before; invoked != (tc.want == 200) {
			t.Errorf("query %q header %q: worker invoked %v", tc.query, tc.header, invoked)
		}
	}
	big := fmt.Sprintf(`{"path":"D:\\Models\\a.bin","text":%q}`, bytes.Repeat([]byte("x"), 5000))
	if got := call("", "files-key", big); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: %d, want 413", got)
	}
	// A plain-HTTP client gets no answer from an HTTPS endpoint.
	if resp, err := http.Post("http"+strings.TrimPrefix(h.URL(), "https")+"/api/files/exists", "application/json", strings.NewReader(body)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP reached the function")
		}
	}
}

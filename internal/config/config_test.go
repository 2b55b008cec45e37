package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{SettingSQL: "sqlite:/tmp/x.db", SettingStorage: "UseDevelopmentStorage=true"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ModelsContainer != "models" || c.AtomsContainer != "atoms" || c.TensorsContainer != "tensors" ||
		c.SegmentQueue != "segment-migration" || c.VerifySchedule != "0 */10 * * * *" || c.PoisonQueue() != "segment-migration-poison" {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.FilesRoots) != 1 || c.FilesRoots[0] != (Root{Prefix: "D:/Models/", Container: "models"}) {
		t.Fatalf("FILES_ROOTS default: %+v", c.FilesRoots)
	}
	if len(c.PublishQueues) != 1 || c.PublishQueues[0] != "neo4j-sync" {
		t.Fatalf("PUBLISH_QUEUES default: %v", c.PublishQueues)
	}
	if !strings.Contains(c.Storage.ConnectionString, "AccountName=devstoreaccount1") ||
		!strings.Contains(c.Storage.ConnectionString, "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1") {
		t.Fatalf("UseDevelopmentStorage=true not expanded: %s", c.Storage)
	}
	if !c.SQLIsEmbedded() || c.SQLitePath() != "/tmp/x.db" {
		t.Fatalf("sqlite path %q", c.SQLitePath())
	}
}

func TestEveryBadSettingNamed(t *testing.T) {
	secret := "s3cr3tAccountKeyValue=="
	_, err := Load(env(map[string]string{
		SettingStorage:         "AccountName=x;NoKeyHere=" + secret,
		SettingModelsContainer: "Bad_Name",
		SettingSegmentQueue:    "q",
		SettingVerifySchedule:  "every five minutes",
		SettingFilesRoots:      `D:\Models`,
		SettingPublishQueues:   "ok-queue,Not_Ok",
	}))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, name := range []string{SettingSQL, SettingStorage, SettingModelsContainer, SettingSegmentQueue, SettingVerifySchedule, SettingFilesRoots, SettingPublishQueues} {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	if strings.Contains(msg, secret) {
		t.Fatalf("error leaks the connection string:\n%s", msg)
	}
	if n := len(strings.Split(msg, "\n")); n != 7 {
		t.Errorf("want one line per bad setting (7), got %d:\n%s", n, msg)
	}
}

func TestIdentityStorage(t *testing.T) {
	c, err := Load(env(map[string]string{SettingSQL: "sqlserver://srv.database.windows.net?database=h&fedauth=ActiveDirectoryManagedIdentity",
		SettingAccountName: "hartostore", SettingClientID: "1111-2222"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Storage.UsesIdentity() || c.Storage.BlobServiceURL != "https://hartostore.blob.core.windows.net/" ||
		c.Storage.QueueServiceURL != "https://hartostore.queue.core.windows.net/" || c.Storage.ClientID != "1111-2222" {
		t.Fatalf("identity storage: %+v", c.Storage)
	}
	_, err = Load(env(map[string]string{SettingSQL: "sqlite:x", SettingBlobServiceURI: "https://a.blob.core.windows.net"}))
	if err == nil || !strings.Contains(err.Error(), SettingQueueServiceURI) {
		t.Fatalf("missing queue URI must be named: %v", err)
	}
}

func TestParseRoots(t *testing.T) {
	roots, err := ParseRoots(`D:\Models\=models;D:\Repositories\Hartonomous\=repo; /srv/share=share-files`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Root{{"D:/Models/", "models"}, {"D:/Repositories/Hartonomous/", "repo"}, {"/srv/share/", "share-files"}}
	if len(roots) != len(want) {
		t.Fatalf("%+v", roots)
	}
	for i := range want {
		if roots[i] != want[i] {
			t.Errorf("root %d = %+v, want %+v", i, roots[i], want[i])
		}
	}
	for _, bad := range []string{"", "=models", `D:\x=`, `D:\x=UPPER`, `D:\..\x=models`, "noequals"} {
		if _, err := ParseRoots(bad); err == nil {
			t.Errorf("ParseRoots(%q) accepted", bad)
		}
	}
}

func TestRedacted(t *testing.T) {
	for in, leak := range map[string]string{
		"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SECRETKEY;EndpointSuffix=core.windows.net": "SECRETKEY",
		"BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2022&sig=SECRETSIG":          "SECRETSIG",
		"sqlserver://user:SECRETPW@host:1433?database=h":                                                    "SECRETPW",
		"Server=tcp:h.database.windows.net;Database=h;User ID=u;Password=SECRETPW;":                         "SECRETPW",
	} {
		out := Redacted(in)
		if strings.Contains(out, leak) {
			t.Errorf("Redacted(%q) = %q leaks", in, out)
		}
	}
}

func TestOutboxSettings(t *testing.T) {
	base := map[string]string{SettingSQL: "sqlite:/tmp/x.db", SettingStorage: "UseDevelopmentStorage=true"}
	c, err := Load(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.OutboxSchedule != "*/10 * * * * *" || c.OutboxRetention != 7*24*time.Hour {
		t.Fatalf("outbox defaults: %q %s", c.OutboxSchedule, c.OutboxRetention)
	}
	base[SettingOutboxRetention] = "36h"
	if c, err := Load(env(base)); err != nil || c.OutboxRetention != 36*time.Hour {
		t.Fatalf("36h: %s, %v", c.OutboxRetention, err)
	}
	base[SettingOutboxRetention] = "0d"
	base[SettingOutboxSchedule] = "often"
	_, err = Load(env(base))
	if err == nil || !strings.Contains(err.Error(), SettingOutboxRetention) || !strings.Contains(err.Error(), SettingOutboxSchedule) {
		t.Fatalf("bad outbox settings: %v", err)
	}
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "0.5d": 12 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute} {
		if d, err := ParseRetention(in); err != nil || d != want {
			t.Errorf("ParseRetention(%q) = %s, %v", in, d, err)
		}
	}
	for _, bad := range []string{"", "7", "-1h", "d", "7 days", "0s"} {
		if _, err := ParseRetention(bad); err == nil {
			t.Errorf("ParseRetention(%q) accepted", bad)
		}
	}
}

func TestBrokerQueues(t *testing.T) {
	m, err := ParseBrokerQueues(" //Hart/Sync=neo4j-sync ; a=b=neo4j-sync", []string{"neo4j-sync"})
	if err != nil || len(m) != 2 || m["//Hart/Sync"] != "neo4j-sync" || m["a=b"] != "neo4j-sync" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"noqueue", "=neo4j-sync", "s=Bad_Queue", "s=other-queue", "s=neo4j-sync;s=neo4j-sync", "s\x01=neo4j-sync"} {
		if _, err := ParseBrokerQueues(bad, []string{"neo4j-sync"}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	env := map[string]string{SettingSQL: "sqlite:x.db", SettingStorage: "UseDevelopmentStorage=true", SettingBrokerQueues: "s=elsewhere"}
	if _, err := Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), SettingBrokerQueues) {
		t.Fatalf("Load: %v", err)
	}
}

func TestPayloadReaders(t *testing.T) {
	base := map[string]string{SettingSQL: "sqlite:x.db", SettingStorage: "UseDevelopmentStorage=true"}
	if c, err := Load(env(base)); err != nil || c.PayloadReaders != DefaultPayloadReaders {
		t.Fatalf("default: %d, %v", c.PayloadReaders, err)
	}
	base[SettingPayloadReaders] = "12"
	if c, err := Load(env(base)); err != nil || c.PayloadReaders != 12 {
		t.Fatalf("12: %d, %v", c.PayloadReaders, err)
	}
	for _, bad := range []string{"0", "-1", "many", "1000"} {
		base[SettingPayloadReaders] = bad
		if _, err := Load(env(base)); err == nil || !strings.Contains(err.Error(), SettingPayloadReaders) {
			t.Errorf("%q: %v, want an error naming the setting", bad, err)
		}
	}
}

// Package mssqltest gives tests a throwaway schema on the T-SQL server
// named by MSSQL_TEST_DSN, holding the Hartonomous tables as production has
// them. It imports no catalog code, so that the dialect's own tests can use
// it too.
package mssqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb" // driver "sqlserver"
)

// The SQL Server tests need a server: set MSSQL_TEST_DSN to a login that may
// CREATE SCHEMA and CREATE TABLE in a scratch database. Each test creates the
// Hartonomous tables (as EF Core's InitialBaseline declares them, without
// FILESTREAM) in a throwaway schema and drops it afterwards.
const DSNEnv = "MSSQL_TEST_DSN"

// hartonomousDDL creates the §1.1 tables in schema {{s}}, with the
// constraint shapes production has (ROWGUIDCOL, unique PayloadRowGuid with a
// NEWSEQUENTIALID() default) so that Finalize meets them.
const hartonomousDDL = `
CREATE TABLE {{s}}.Models (
    ModelId int IDENTITY(1,1) NOT NULL CONSTRAINT PK_Models PRIMARY KEY,
    ModelName nvarchar(200) NOT NULL,
    ModelType nvarchar(100) NOT NULL,
    CreatedAt datetime2 NOT NULL CONSTRAINT DF_Models_CreatedAt DEFAULT (SYSUTCDATETIME()));
CREATE TABLE {{s}}.ModelLayers (
    LayerId bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_ModelLayers PRIMARY KEY,
    ModelId int NOT NULL CONSTRAINT FK_ModelLayers_Models REFERENCES {{s}}.Models (ModelId) ON DELETE CASCADE,
    LayerIdx int NOT NULL,
    LayerName nvarchar(100) NULL,
    QuantizationType nvarchar(20) NULL);
CREATE TABLE {{s}}.LayerTensorSegments (
    LayerTensorSegmentId bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_LayerTensorSegments PRIMARY KEY,
    LayerId bigint NOT NULL CONSTRAINT FK_LayerTensorSegments_ModelLayers REFERENCES {{s}}.ModelLayers (LayerId) ON DELETE CASCADE,
    SegmentOrdinal int NOT NULL,
    PointOffset bigint NULL,
    PointCount int NULL,
    QuantizationType nvarchar(20) NOT NULL,
    RawPayload varbinary(max) NOT NULL,
    PayloadRowGuid uniqueidentifier ROWGUIDCOL NOT NULL
        CONSTRAINT DF_LayerTensorSegments_PayloadRowGuid DEFAULT (NEWSEQUENTIALID())
        CONSTRAINT UQ_LayerTensorSegments_PayloadRowGuid UNIQUE,
    CreatedAt datetime2 NOT NULL CONSTRAINT DF_LayerTensorSegments_CreatedAt DEFAULT (SYSUTCDATETIME()),
    CONSTRAINT UQ_LayerTensorSegments_Layer_Ordinal UNIQUE (LayerId, SegmentOrdinal));
CREATE TABLE {{s}}.Atoms (
    AtomId bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_Atoms PRIMARY KEY,
    ContentHash binary(32) NOT NULL CONSTRAINT UQ_Atoms_ContentHash UNIQUE,
    Modality nvarchar(64) NOT NULL,
    SourceType nvarchar(128) NULL,
    PayloadLocator nvarchar(1024) NULL,
    Metadata nvarchar(max) NULL,
    CreatedAt datetime2 NOT NULL CONSTRAINT DF_Atoms_CreatedAt DEFAULT (SYSUTCDATETIME()),
    UpdatedAt datetime2 NOT NULL CONSTRAINT DF_Atoms_UpdatedAt DEFAULT (SYSUTCDATETIME()));`

// Server returns MSSQL_TEST_DSN, a fresh schema holding the Hartonomous
// tables, and a connection; the schema (with Offload's table and procedure
// in it) goes away with the test. It skips the test when the setting is
// missing.
func Server(t testing.TB) (dsn, schema string, raw *sql.DB) {
	t.Helper()
	dsn = os.Getenv(DSNEnv)
	if dsn == "" {
		t.Skipf("%s is not set: SQL Server catalog tests skipped (set it to a login that may CREATE SCHEMA and CREATE TABLE in a scratch database)", DSNEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(redact(err, dsn))
	}
	t.Cleanup(func() { raw.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "offload_t_" + hex.EncodeToString(b[:])
	if _, err := raw.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(redact(err, dsn))
	}
	t.Cleanup(func() { dropSchema(t, raw, schema) })
	if _, err := raw.ExecContext(ctx, strings.ReplaceAll(hartonomousDDL, "{{s}}", schema)); err != nil {
		t.Fatal(redact(err, dsn))
	}
	return dsn, schema, raw
}

func dropSchema(t testing.TB, raw *sql.DB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := raw.ExecContext(ctx, "DROP PROCEDURE IF EXISTS "+schema+".usp_PublishMessage"); err != nil {
		t.Errorf("cleanup: drop %s.usp_PublishMessage: %v", schema, err)
	}
	for _, tbl := range []string{"OffloadOutbox", "Atoms", "LayerTensorSegments", "ModelLayers", "Models"} {
		if _, err := raw.ExecContext(ctx, "DROP TABLE IF EXISTS "+schema+"."+tbl); err != nil {
			t.Errorf("cleanup: drop %s.%s: %v", schema, tbl, err)
		}
	}
	if _, err := raw.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema); err != nil {
		t.Errorf("cleanup: drop schema %s: %v", schema, err)
	}
}

// redact keeps the connection string and its password out of test output.
func redact(err error, dsn string) error {
	msg := strings.ReplaceAll(err.Error(), dsn, "<MSSQL_TEST_DSN>")
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "<password>")
		}
	}
	return errors.New(msg)
}

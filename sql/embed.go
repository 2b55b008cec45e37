// Package sql holds the T-SQL scripts Offload ships for Azure SQL Database:
// the file procedures replacing the SQL CLR functions (file-procs.sql,
// after base64-builtin.sql or base64-xml.sql, whichever the database can
// run), the module signing that gives their callers EXECUTE and nothing
// else (signing.sql),
// dbo.usp_PublishMessage, the transactional outbox (publish-procs.sql, run
// by `offload schema apply`: it needs no Function App),
// dbo.usp_PublishMessageNow, the immediate publish over HTTP
// (publish-now-procs.sql) and the credential template
// (credential-template.sql). internal/files renders file-procs.sql and
// publish-now-procs.sql with the Function App's URL (files.ProcsSQL) and
// signing.sql with the credential's name (files.SigningSQL); the template
// holds a secret and is only ever run by hand.
//
// The scripts use sqlcmd variables ($(FunctionUrl), $(FunctionCredential)),
// so they also run as they are with `sqlcmd -v`.
package sql

import "embed"

// Scripts are the *.sql files of this directory.
//
//go:embed *.sql
var Scripts embed.FS

// Script names.
const (
	Base64Builtin      = "base64-builtin.sql"
	Base64XML          = "base64-xml.sql"
	FileProcs          = "file-procs.sql"
	Signing            = "signing.sql"
	PublishProcs       = "publish-procs.sql"
	PublishNowProcs    = "publish-now-procs.sql"
	CredentialTemplate = "credential-template.sql"
)

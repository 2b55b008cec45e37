// Package sql holds the T-SQL scripts Offload ships for Azure SQL Database:
// the file procedures replacing the SQL CLR functions (file-procs.sql),
// dbo.usp_PublishMessage (publish-procs.sql) and the credential template
// (credential-template.sql). internal/files renders the first two with the
// Function App's URL (files.ProcsSQL); the template holds a secret and is
// only ever run by hand.
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
	FileProcs          = "file-procs.sql"
	PublishProcs       = "publish-procs.sql"
	CredentialTemplate = "credential-template.sql"
)

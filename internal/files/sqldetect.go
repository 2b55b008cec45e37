package files

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// base64Probe round-trips two bytes through both functions.
const base64Probe = "SELECT BASE64_DECODE(BASE64_ENCODE(0x0AFF));"

// DetectBase64 asks the database whether it has BASE64_ENCODE and
// BASE64_DECODE (Azure SQL Database and SQL Server 2025 do; sql-docs
// t-sql/functions/base64-encode-transact-sql.md): Base64Builtin when they
// answer correctly, Base64XML when the database does not know them
// (error 195, "is not a recognized built-in function name"). Any other
// failure is returned: a lost connection must not pick the form.
func DetectBase64(ctx context.Context, db *sql.DB) (Base64Form, error) {
	var got []byte
	err := db.QueryRowContext(ctx, base64Probe).Scan(&got)
	switch {
	case err == nil && bytes.Equal(got, []byte{0x0a, 0xff}):
		return Base64Builtin, nil
	case err == nil:
		return 0, fmt.Errorf("files: BASE64_DECODE(BASE64_ENCODE(0x0AFF)) gave 0x%X", got)
	case unknownFunction(err):
		return Base64XML, nil
	}
	return 0, fmt.Errorf("files: probing for BASE64_ENCODE: %w", err)
}

// unknownFunction reports the error of a call to a function the database
// does not have.
func unknownFunction(err error) bool {
	var num interface{ SQLErrorNumber() int32 }
	if errors.As(err, &num) && num.SQLErrorNumber() == 195 {
		return true
	}
	// Engines that speak T-SQL over another core name the function in
	// lower case ("function base64_encode(...) does not exist").
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "base64_") && (strings.Contains(msg, "does not exist") || strings.Contains(msg, "not a recognized"))
}

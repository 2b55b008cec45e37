package cutover

import "strings"

// Names read from the catalog views go into the generated T-SQL as
// bracketed identifiers and N'…' literals, quoted as QUOTENAME does. The
// script must be readable and runnable as text by a DBA, so it cannot bind
// parameters; every value in it comes from the catalog or from a checked
// setting.

// qn quotes an identifier: [name], with ] doubled.
func qn(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

// qn2 is [schema].[name].
func qn2(schema, name string) string { return qn(schema) + "." + qn(name) }

// nlit is an N'…' literal, with ' doubled.
func nlit(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

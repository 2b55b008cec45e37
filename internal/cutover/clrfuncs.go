package cutover

import "strings"

// fileFunc is one of the eight CLR file functions Offload replaces with a
// procedure of sql/file-procs.sql that calls the Function App.
type fileFunc struct {
	CLR  string // dbo.clr_*
	Proc string // dbo.usp_*
	// Out is the procedure's OUTPUT parameter and its type.
	Out, OutType string
	// Table: the CLR function is table-valued (clr_ListDirectory); the
	// procedure also returns its rows as a result set.
	Table bool
}

// FileFuncs are the CLR functions Offload replaces (README, docs/FILES.md).
var FileFuncs = []fileFunc{
	{"clr_ReadFileBytes", "usp_ReadFileBytes", "@Content", "varbinary(max)", false},
	{"clr_ReadFileText", "usp_ReadFileText", "@Content", "nvarchar(max)", false},
	{"clr_WriteFileBytes", "usp_WriteFileBytes", "@BytesWritten", "bigint", false},
	{"clr_WriteFileText", "usp_WriteFileText", "@BytesWritten", "bigint", false},
	{"clr_FileExists", "usp_FileExists", "@Exists", "bit", false},
	{"clr_DirectoryExists", "usp_DirectoryExists", "@Exists", "bit", false},
	{"clr_DeleteFile", "usp_DeleteFile", "@Deleted", "bit", false},
	{"clr_ListDirectory", "usp_ListDirectory", "@Entries", "nvarchar(max)", true},
}

// shellFunc is the CLR function Offload deliberately does not replace.
const shellFunc = "clr_ExecuteShellCommand"

func fileFuncNamed(name string) (fileFunc, bool) {
	for _, f := range FileFuncs {
		if sameName(f.CLR, name) {
			return f, true
		}
	}
	return fileFunc{}, false
}

// isVectorMath guesses from its name that a CLR function computes a vector
// distance or similarity, which Azure SQL Database computes natively with
// VECTOR_DISTANCE on a vector column.
func isVectorMath(name string) (metric string, ok bool) {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "cosine"):
		return "cosine", true
	case strings.Contains(n, "euclid") || strings.Contains(n, "l2distance"):
		return "euclidean", true
	case strings.Contains(n, "dotproduct") || strings.Contains(n, "innerproduct"):
		return "dot", true
	case strings.Contains(n, "vector") && (strings.Contains(n, "distance") || strings.Contains(n, "similarity")):
		return "cosine", true
	}
	return "", false
}

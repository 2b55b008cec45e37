package functions

import "github.com/hartonomous/offload/internal/server"

func init() { register("Files", Files) }

// Files is POST api/files/{op}: the file operations T-SQL calls through
// sp_invoke_external_rest_endpoint (read, write, exists, delete, list),
// with bodies up to what that procedure sends.
func Files(d Deps) server.Entry {
	if d.Files == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: lowerParam("op", d.Files.Handler()), BodyLimit: server.FilesBodyLimit, BodyRequired: true}
}

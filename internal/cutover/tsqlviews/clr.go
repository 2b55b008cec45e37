package tsqlviews

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/cutover"
)

// CLR implements cutover.Views: user assemblies (is_user_defined = 1, so
// Microsoft.SqlServer.Types and its geometry, geography and hierarchyid
// are not counted), the objects and types they define, and the columns
// typed by those types.
func (v *Views) CLR(ctx context.Context) (cutover.CLR, error) {
	var c cutover.CLR
	for _, view := range []string{"assemblies", "assembly_modules", "assembly_types"} {
		if ok, err := v.has(ctx, view); err != nil || !ok {
			return c, err
		}
	}
	var err error
	c.Assemblies, err = collect(ctx, v.db, `SELECT assembly_id, name, permission_set_desc, clr_name FROM sys.assemblies
WHERE CONVERT(int, is_user_defined) = 1 ORDER BY name`, func(r *sql.Rows) (cutover.Assembly, error) {
		var a cutover.Assembly
		return a, r.Scan(&a.AssemblyID, &a.Name, &a.PermissionSetDesc, &a.ClrName)
	})
	if err != nil {
		return c, fmt.Errorf("tsqlviews: sys.assemblies: %w", err)
	}
	c.Modules, err = collect(ctx, v.db, `SELECT am.object_id, am.assembly_id, s.name, o.name, o.type, o.type_desc,
    COALESCE(am.assembly_class, N''), COALESCE(am.assembly_method, N'')
FROM sys.assembly_modules AS am
JOIN sys.assemblies AS a ON a.assembly_id = am.assembly_id AND CONVERT(int, a.is_user_defined) = 1
JOIN sys.objects AS o ON o.object_id = am.object_id JOIN sys.schemas AS s ON s.schema_id = o.schema_id
ORDER BY s.name, o.name`, func(r *sql.Rows) (cutover.AssemblyModule, error) {
		var m cutover.AssemblyModule
		err := r.Scan(&m.ObjectID, &m.AssemblyID, &m.SchemaName, &m.Name, &m.Type, &m.TypeDesc, &m.AssemblyClass, &m.AssemblyMethod)
		m.Type = strings.TrimSpace(m.Type)
		return m, err
	})
	if err != nil {
		return c, fmt.Errorf("tsqlviews: sys.assembly_modules: %w", err)
	}
	c.Types, err = collect(ctx, v.db, `SELECT t.user_type_id, t.assembly_id, s.name, t.name, COALESCE(t.assembly_class, N'')
FROM sys.assembly_types AS t
JOIN sys.assemblies AS a ON a.assembly_id = t.assembly_id AND CONVERT(int, a.is_user_defined) = 1
JOIN sys.schemas AS s ON s.schema_id = t.schema_id ORDER BY s.name, t.name`, func(r *sql.Rows) (cutover.AssemblyType, error) {
		var t cutover.AssemblyType
		return t, r.Scan(&t.UserTypeID, &t.AssemblyID, &t.SchemaName, &t.Name, &t.AssemblyClass)
	})
	if err != nil {
		return c, fmt.Errorf("tsqlviews: sys.assembly_types: %w", err)
	}
	c.Columns, err = collect(ctx, v.db, `SELECT s.name, o.name, c.name, c.user_type_id
FROM sys.columns AS c
JOIN sys.assembly_types AS t ON t.user_type_id = c.user_type_id
JOIN sys.assemblies AS a ON a.assembly_id = t.assembly_id AND CONVERT(int, a.is_user_defined) = 1
JOIN sys.objects AS o ON o.object_id = c.object_id AND o.type = 'U'
JOIN sys.schemas AS s ON s.schema_id = o.schema_id ORDER BY s.name, o.name, c.name`, func(r *sql.Rows) (cutover.TypedColumn, error) {
		var tc cutover.TypedColumn
		return tc, r.Scan(&tc.SchemaName, &tc.TableName, &tc.ColumnName, &tc.UserTypeID)
	})
	if err != nil {
		return c, fmt.Errorf("tsqlviews: CLR-typed columns: %w", err)
	}
	return c, nil
}

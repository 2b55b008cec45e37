// Package cutovertest holds catalog-view fixtures for the cutover tests:
// rows shaped as Microsoft documents sys.assemblies, sys.assembly_modules,
// sys.service_queues, sys.transmission_queue, sys.database_files and the
// rest, for the features no engine here has (FILESTREAM, Service Broker,
// CLR).
package cutovertest

import (
	"context"

	"github.com/hartonomous/offload/internal/cutover"
)

// Fixture implements cutover.Views from fields.
type Fixture struct {
	DB    cutover.Database
	Mods  []cutover.Module
	Clr   cutover.CLR
	Brk   cutover.Broker
	FS    cutover.Filestream
	Ready cutover.Readiness
}

var _ cutover.Views = (*Fixture)(nil)

func (f *Fixture) Database(context.Context) (cutover.Database, error)     { return f.DB, nil }
func (f *Fixture) Modules(context.Context) ([]cutover.Module, error)      { return f.Mods, nil }
func (f *Fixture) CLR(context.Context) (cutover.CLR, error)               { return f.Clr, nil }
func (f *Fixture) Broker(context.Context) (cutover.Broker, error)         { return f.Brk, nil }
func (f *Fixture) Filestream(context.Context) (cutover.Filestream, error) { return f.FS, nil }
func (f *Fixture) Readiness(context.Context) (cutover.Readiness, error)   { return f.Ready, nil }

// Module is a T-SQL module row.
func Module(id int64, schema, name, typ, def string) cutover.Module {
	desc := map[string]string{"P": "SQL_STORED_PROCEDURE", "FN": "SQL_SCALAR_FUNCTION", "IF": "SQL_INLINE_TABLE_VALUED_FUNCTION",
		"TF": "SQL_TABLE_VALUED_FUNCTION", "V": "VIEW", "TR": "SQL_TRIGGER"}[typ]
	return cutover.Module{ObjectID: id, SchemaName: schema, Name: name, Type: typ, TypeDesc: desc, Definition: &def}
}

// Clean is a database Offload has finished with and that holds nothing
// Azure SQL Database lacks.
func Clean() *Fixture {
	return &Fixture{
		DB:    cutover.Database{Name: "Hartonomous", CompatibilityLevel: 150, SizeBytes: 1 << 30, Schemas: []string{"dbo", "sys"}, Databases: []string{"master", "tempdb", "model", "msdb"}},
		Ready: cutover.Readiness{HasSegmentsTable: true, HasOutbox: true},
		FS:    cutover.Filestream{RecoveryModel: "SIMPLE"},
	}
}

// Hartonomous is the database as `schema finalize` leaves it: RawPayload
// gone, but the FILESTREAM reference, filegroup and file still there, the
// Neo4j sync on Service Broker with messages in flight, and the CLR
// assembly with its file functions, vector math, a TVF, an aggregate, a
// procedure and a type.
func Hartonomous() *Fixture {
	f := Clean()
	f.FS = hartonomousFilestream()
	f.Brk = hartonomousBroker()
	f.Clr = hartonomousCLR()
	f.Mods = hartonomousModules()
	return f
}

// hartonomousFilestream: the FILESTREAM reference, filegroup and file.
func hartonomousFilestream() cutover.Filestream {
	return cutover.Filestream{
		RecoveryModel: "FULL",
		Tables:        []cutover.FilestreamTable{{SchemaName: "dbo", Name: "LayerTensorSegments", DataSpace: "HartonomousFS"}},
		Filegroups:    []string{"HartonomousFS"},
		Files:         []cutover.DatabaseFile{{Name: "HartonomousFS_Data", FilegroupName: "HartonomousFS", PhysicalName: `D:\SQLData\HartonomousFS`}},
	}
}

// hartonomousBroker: the Neo4j sync on Service Broker, messages in flight.
func hartonomousBroker() cutover.Broker {
	return cutover.Broker{
		MessageTypes: []cutover.Named{{ID: 65536, Name: "//Hartonomous/AtomChanged"}},
		Contracts:    []cutover.Named{{ID: 65536, Name: "//Hartonomous/SyncContract"}},
		Queues: []cutover.ServiceQueue{
			{ObjectID: 901, SchemaName: "dbo", Name: "Neo4jSyncQueue", ActivationProcedure: "[dbo].[usp_Neo4jSyncActivation]",
				IsActivationEnabled: true, IsReceiveEnabled: true, Waiting: []cutover.ServiceCount{{ServiceName: "//Hartonomous/Neo4jSyncService", Messages: 3}}},
			{ObjectID: 902, SchemaName: "dbo", Name: "Neo4jSyncInitiatorQueue", IsReceiveEnabled: true},
		},
		Services: []cutover.Service{
			{ServiceID: 65536, Name: "//Hartonomous/Neo4jSyncService", ServiceQueueID: 901},
			{ServiceID: 65537, Name: "//Hartonomous/Neo4jSyncInitiator", ServiceQueueID: 902},
		},
		Conversations: []cutover.Conversation{
			{ConversationHandle: "6c1f1a0e-0000-0000-0000-000000000001", ConversationID: "a0000000-0000-0000-0000-000000000001", ServiceName: "//Hartonomous/Neo4jSyncService", StateDesc: "CONVERSING"},
			{ConversationHandle: "6c1f1a0e-0000-0000-0000-000000000002", ConversationID: "a0000000-0000-0000-0000-000000000001", ServiceName: "//Hartonomous/Neo4jSyncInitiator", StateDesc: "CONVERSING", FarService: "//Hartonomous/Neo4jSyncService"},
		},
		Transmission: []cutover.ServiceCount{{ServiceName: "//Hartonomous/Neo4jSyncService", Messages: 1}},
	}
}

// hartonomousCLR: the assemblies, their file functions (one module per
// cutover.FileFuncs entry), vector math, a TVF, an aggregate, a procedure
// and a type.
func hartonomousCLR() cutover.CLR {
	clr := cutover.CLR{
		Assemblies: []cutover.Assembly{
			{AssemblyID: 65536, Name: "Hartonomous.Clr", PermissionSetDesc: "UNSAFE_ACCESS", ClrName: "hartonomous.clr, version=1.0.0.0"},
			{AssemblyID: 65537, Name: "Hartonomous.FileIO", PermissionSetDesc: "UNSAFE_ACCESS", ClrName: "hartonomous.fileio, version=1.0.0.0"},
		},
		Types:   []cutover.AssemblyType{{UserTypeID: 257, AssemblyID: 65536, SchemaName: "dbo", Name: "Vector3", AssemblyClass: "Hartonomous.Clr.Vector3"}},
		Columns: []cutover.TypedColumn{{SchemaName: "dbo", TableName: "Atoms", ColumnName: "Centroid", UserTypeID: 257}},
	}
	id := int64(1000)
	for _, fn := range cutover.FileFuncs {
		typ, desc := "FS", "CLR_SCALAR_FUNCTION"
		if fn.Table {
			typ, desc = "FT", "CLR_TABLE_VALUED_FUNCTION"
		}
		clr.Modules = append(clr.Modules, cutover.AssemblyModule{ObjectID: id, AssemblyID: 65537, SchemaName: "dbo", Name: fn.CLR, Type: typ, TypeDesc: desc,
			AssemblyClass: "Hartonomous.FileIO.Files", AssemblyMethod: fn.CLR[4:]})
		id++
	}
	clr.Modules = append(clr.Modules,
		cutover.AssemblyModule{ObjectID: 1100, AssemblyID: 65536, SchemaName: "dbo", Name: "clr_ExecuteShellCommand", Type: "FS", TypeDesc: "CLR_SCALAR_FUNCTION", AssemblyClass: "Hartonomous.Clr.Shell", AssemblyMethod: "Execute"},
		cutover.AssemblyModule{ObjectID: 1101, AssemblyID: 65536, SchemaName: "dbo", Name: "clr_CosineSimilarity", Type: "FS", TypeDesc: "CLR_SCALAR_FUNCTION", AssemblyClass: "Hartonomous.Clr.VectorMath", AssemblyMethod: "Cosine"},
		cutover.AssemblyModule{ObjectID: 1102, AssemblyID: 65536, SchemaName: "dbo", Name: "clr_SplitTensor", Type: "FT", TypeDesc: "CLR_TABLE_VALUED_FUNCTION", AssemblyClass: "Hartonomous.Clr.Tensors", AssemblyMethod: "Split"},
		cutover.AssemblyModule{ObjectID: 1103, AssemblyID: 65536, SchemaName: "dbo", Name: "agg_VectorMean", Type: "AF", TypeDesc: "AGGREGATE_FUNCTION", AssemblyClass: "Hartonomous.Clr.VectorMean", AssemblyMethod: ""},
		cutover.AssemblyModule{ObjectID: 1104, AssemblyID: 65536, SchemaName: "dbo", Name: "clr_RebuildIndex", Type: "PC", TypeDesc: "CLR_STORED_PROCEDURE", AssemblyClass: "Hartonomous.Clr.Index", AssemblyMethod: "Rebuild"},
	)
	return clr
}

// hartonomousModules: the T-SQL modules that call the CLR functions and
// Service Broker.
func hartonomousModules() []cutover.Module {
	return []cutover.Module{
		Module(2001, "dbo", "usp_SaveReport", "P", `CREATE PROCEDURE dbo.usp_SaveReport @p nvarchar(4000), @t nvarchar(max)
AS
BEGIN
    -- dbo.clr_DeleteFile(@p) is not called here: a comment
    DECLARE @n bigint, @note nvarchar(100) = N'dbo.clr_ReadFileText(@p) in a string';
    SET @n = dbo.clr_WriteFileText(@p, @t);
    IF [dbo].[clr_FileExists](@p) = 1 PRINT 'ok';
END`),
		Module(2002, "dbo", "usp_ExportAtoms", "P", `CREATE PROCEDURE dbo.usp_ExportAtoms
AS
SELECT AtomId, dbo.clr_ReadFileText(PayloadLocator) AS Body
FROM dbo.Atoms WHERE Modality = N'document';`),
		Module(2003, "dbo", "ufn_AtomText", "FN", `CREATE FUNCTION dbo.ufn_AtomText (@p nvarchar(4000)) RETURNS nvarchar(max)
AS BEGIN RETURN clr_ReadFileText(@p); END`),
		Module(2004, "dbo", "usp_Neo4jSyncActivation", "P", `CREATE PROCEDURE dbo.usp_Neo4jSyncActivation AS
BEGIN
    DECLARE @h uniqueidentifier, @body varbinary(max);
    WAITFOR (RECEIVE TOP (1) @h = conversation_handle, @body = message_body FROM dbo.Neo4jSyncQueue), TIMEOUT 1000;
    END CONVERSATION @h;
END`),
		Module(2005, "dbo", "trg_Atoms_Sync", "TR", `CREATE TRIGGER dbo.trg_Atoms_Sync ON dbo.Atoms AFTER UPDATE AS
BEGIN
    DECLARE @h uniqueidentifier;
    BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Hartonomous/Neo4jSyncInitiator] TO SERVICE '//Hartonomous/Neo4jSyncService'
        ON CONTRACT [//Hartonomous/SyncContract] WITH ENCRYPTION = OFF;
    SEND ON CONVERSATION @h MESSAGE TYPE [//Hartonomous/AtomChanged] (N'{"atomId":1}');
END`),
		Module(2006, "dbo", "usp_Maintenance", "P", `CREATE PROCEDURE dbo.usp_Maintenance @cmd nvarchar(4000) AS
BEGIN
    SELECT dbo.clr_ExecuteShellCommand(@cmd);
    SELECT dbo.clr_CosineSimilarity(a.Embedding, b.Embedding) FROM dbo.Atoms a CROSS JOIN dbo.Atoms b;
    DECLARE @sql nvarchar(max) = N'SELECT 1';
    EXEC sys.sp_executesql @sql;
END`),
		Module(2007, "dbo", "usp_ListModels", "P", `CREATE PROCEDURE dbo.usp_ListModels @dir nvarchar(4000) AS
SELECT name FROM dbo.clr_ListDirectory(@dir) WHERE isDirectory = 0;`),
	}
}

// ServiceQueues maps the fixture's broker service to a Storage Queue.
func ServiceQueues() map[string]string {
	return map[string]string{"//Hartonomous/Neo4jSyncService": "neo4j-sync"}
}

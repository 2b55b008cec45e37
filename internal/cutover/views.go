package cutover

import "context"

// The rows below are shaped as Microsoft documents the catalog views they
// come from (sql-docs docs/relational-databases/system-catalog-views/): the
// field names are the views' column names. The T-SQL source
// (cutover/tsqlviews) reads the real views; fixture tests build these rows
// by hand, so every rule is tested without an engine that has FILESTREAM,
// Service Broker or CLR.

// Module is a row of sys.sql_modules joined with sys.objects: a procedure,
// function, view or trigger written in T-SQL.
type Module struct {
	ObjectID   int64
	SchemaName string
	Name       string
	Type       string // sys.objects.type: P, FN, IF, TF, V, TR
	TypeDesc   string // sys.objects.type_desc
	// Definition is NULL (nil) for a module created WITH ENCRYPTION.
	Definition *string
}

// Assembly is a row of sys.assemblies (is_user_defined = 1).
type Assembly struct {
	AssemblyID        int64
	Name              string
	PermissionSetDesc string // SAFE_ACCESS, EXTERNAL_ACCESS, UNSAFE_ACCESS
	ClrName           string
}

// AssemblyModule is a row of sys.assembly_modules joined with sys.objects:
// a CLR function, table-valued function, aggregate, procedure or trigger.
type AssemblyModule struct {
	ObjectID       int64
	AssemblyID     int64
	SchemaName     string
	Name           string
	Type           string // FS, FT, AF, PC, TA
	TypeDesc       string
	AssemblyClass  string
	AssemblyMethod string
}

// AssemblyType is a row of sys.assembly_types: a CLR user-defined type.
type AssemblyType struct {
	UserTypeID    int64
	AssemblyID    int64
	SchemaName    string
	Name          string
	AssemblyClass string
}

// TypedColumn is a sys.columns row whose user_type_id is a CLR type.
type TypedColumn struct {
	SchemaName string
	TableName  string
	ColumnName string
	UserTypeID int64
}

// ServiceQueue is a row of sys.service_queues (is_ms_shipped = 0), with
// the waiting messages counted by the service they are to.
type ServiceQueue struct {
	ObjectID            int64
	SchemaName          string
	Name                string
	ActivationProcedure string // "" when none
	IsActivationEnabled bool
	IsReceiveEnabled    bool
	Waiting             []ServiceCount
}

// ServiceCount is the messages waiting for one service (RECEIVE's
// service_name, sys.transmission_queue's to_service_name), EndDialog,
// Error and DialogTimer messages left out.
type ServiceCount struct {
	ServiceName string
	Messages    int64
}

// Service is a row of sys.services (user services: service_id > 65535 is
// not documented, so system services are told by their queue).
type Service struct {
	ServiceID      int64
	Name           string
	ServiceQueueID int64
}

// Named is a Service Broker object known by name alone: a row of
// sys.service_contracts, sys.service_message_types (user-defined ones).
type Named struct {
	ID   int64
	Name string
}

// Conversation is a row of sys.conversation_endpoints that is not closed.
type Conversation struct {
	ConversationHandle string
	ConversationID     string
	ServiceName        string // sys.services.name of service_id
	StateDesc          string
	FarService         string
}

// Broker is everything Service Broker holds in the database.
type Broker struct {
	MessageTypes  []Named
	Contracts     []Named
	Queues        []ServiceQueue
	Services      []Service
	Conversations []Conversation
	// Transmission counts sys.transmission_queue by to_service_name.
	Transmission []ServiceCount
}

// FilestreamColumn is a sys.columns row with is_filestream = 1, with the
// rows and bytes it holds.
type FilestreamColumn struct {
	SchemaName string
	TableName  string
	ColumnName string
	Rows       int64 // rows whose value is not NULL
	Bytes      int64 // SUM(DATALENGTH(column))
}

// FilestreamTable is a sys.tables row whose filestream_data_space_id is
// not NULL (the table's FILESTREAM_ON reference), or a FileTable.
type FilestreamTable struct {
	SchemaName  string
	Name        string
	DataSpace   string // sys.data_spaces.name of filestream_data_space_id
	IsFileTable bool
}

// DatabaseFile is a sys.database_files row of type_desc FILESTREAM.
type DatabaseFile struct {
	Name          string
	FilegroupName string
	PhysicalName  string
}

// Filestream is the FILESTREAM side of the database.
type Filestream struct {
	Columns    []FilestreamColumn
	Tables     []FilestreamTable
	Filegroups []string // sys.filegroups of type FD
	Files      []DatabaseFile
	// RecoveryModel is sys.databases.recovery_model_desc.
	RecoveryModel string
}

// Database is what the database-level rules read of sys.databases and
// friends.
type Database struct {
	Name               string
	CompatibilityLevel int
	// SizeBytes sums sys.database_files.size (8 KB pages).
	SizeBytes int64
	// Schemas names the database's schemas (to tell schema.table.column
	// from db.schema.object in module text).
	Schemas []string
	// Databases names the server's other databases (sys.databases).
	Databases []string
	// LinkedServers names sys.servers rows with is_linked = 1.
	LinkedServers []string
	// NextNamed lists tables and columns named NEXT, as "schema.table" or
	// "schema.table.column".
	NextNamed []string
}

// Readiness is Offload's own state: what must be proven before cutover.
type Readiness struct {
	HasSegmentsTable bool
	Unverified       int64 // segments neither verified nor released
	Unreleased       int64 // segments not released
	RawPayload       bool  // dbo.LayerTensorSegments.RawPayload still exists
	AtomsUnlinked    int64 // atoms with a PayloadLocator and no BlobUri
	HasOutbox        bool  // dbo.OffloadOutbox and dbo.usp_PublishMessage exist
}

// Views reads the catalog views. Each method is one concept; an engine
// that has no such feature returns its zero value, not an error.
type Views interface {
	Database(ctx context.Context) (Database, error)
	Modules(ctx context.Context) ([]Module, error)
	CLR(ctx context.Context) (CLR, error)
	Broker(ctx context.Context) (Broker, error)
	Filestream(ctx context.Context) (Filestream, error)
	Readiness(ctx context.Context) (Readiness, error)
}

// CLR is everything SQL CLR holds in the database.
type CLR struct {
	Assemblies []Assembly
	Modules    []AssemblyModule
	Types      []AssemblyType
	Columns    []TypedColumn
}

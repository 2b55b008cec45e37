-- The Hartonomous tables as EF Core's InitialBaseline creates them (REFERENCE
-- §1.1), FILESTREAM left out (Azure SQL has none: RawPayload is a plain
-- varbinary(max) there). Offload NEVER runs this on a production catalog:
-- it is for the demo data set (`offload demo seed`, `offload run` on an empty
-- database) and for the tests. Each table is created only where missing.

IF OBJECT_ID(N'dbo.Models', N'U') IS NULL
CREATE TABLE dbo.Models (
    ModelId int IDENTITY(1,1) NOT NULL CONSTRAINT PK_Models PRIMARY KEY,
    ModelName nvarchar(200) NOT NULL,
    ModelType nvarchar(100) NOT NULL,
    CreatedAt datetime2 NOT NULL CONSTRAINT DF_Models_CreatedAt DEFAULT (SYSUTCDATETIME()));
GO
IF OBJECT_ID(N'dbo.ModelLayers', N'U') IS NULL
CREATE TABLE dbo.ModelLayers (
    LayerId bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_ModelLayers PRIMARY KEY,
    ModelId int NOT NULL CONSTRAINT FK_ModelLayers_Models REFERENCES dbo.Models (ModelId) ON DELETE CASCADE,
    LayerIdx int NOT NULL,
    LayerName nvarchar(100) NULL,
    QuantizationType nvarchar(20) NULL);
GO
IF OBJECT_ID(N'dbo.LayerTensorSegments', N'U') IS NULL
CREATE TABLE dbo.LayerTensorSegments (
    LayerTensorSegmentId bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_LayerTensorSegments PRIMARY KEY,
    LayerId bigint NOT NULL CONSTRAINT FK_LayerTensorSegments_ModelLayers REFERENCES dbo.ModelLayers (LayerId) ON DELETE CASCADE,
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
GO
IF OBJECT_ID(N'dbo.Atoms', N'U') IS NULL
CREATE TABLE dbo.Atoms (
    AtomId bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_Atoms PRIMARY KEY,
    ContentHash binary(32) NOT NULL CONSTRAINT UQ_Atoms_ContentHash UNIQUE,
    Modality nvarchar(64) NOT NULL,
    SourceType nvarchar(128) NULL,
    PayloadLocator nvarchar(1024) NULL,
    Metadata nvarchar(max) NULL,
    CreatedAt datetime2 NOT NULL CONSTRAINT DF_Atoms_CreatedAt DEFAULT (SYSUTCDATETIME()),
    UpdatedAt datetime2 NOT NULL CONSTRAINT DF_Atoms_UpdatedAt DEFAULT (SYSUTCDATETIME()));
GO

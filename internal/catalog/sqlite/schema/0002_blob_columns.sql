-- REFERENCE §1.2: where each payload lives in Blob Storage. PayloadLocator
-- stays until the link step has filled BlobUri.

ALTER TABLE Atoms ADD COLUMN BlobUri TEXT NULL;
ALTER TABLE Atoms ADD COLUMN BlobContainer TEXT NULL;
ALTER TABLE Atoms ADD COLUMN BlobName TEXT NULL;
ALTER TABLE Atoms ADD COLUMN BlobSizeBytes INTEGER NULL;
ALTER TABLE Atoms ADD COLUMN BlobETag TEXT NULL;
ALTER TABLE Atoms ADD COLUMN BlobLastModified TEXT NULL;

ALTER TABLE LayerTensorSegments ADD COLUMN BlobUri TEXT NULL;
ALTER TABLE LayerTensorSegments ADD COLUMN BlobETag TEXT NULL;
ALTER TABLE LayerTensorSegments ADD COLUMN BlobSizeBytes INTEGER NOT NULL DEFAULT 0;

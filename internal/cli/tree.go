package cli

// tree is the whole command line (REFERENCE §5).
func tree() *command {
	return &command{
		name: "offload",
		subs: []*command{
			{name: "run", summary: "the whole local job: schema, queue, migrate, verify, with progress and a summary", flags: runCmd},
			{name: "serve", summary: "serve the Functions custom handler (what the host starts)", flags: serveCmd},
			{name: "schema", summary: "database schema steps", subs: []*command{
				{name: "apply", summary: "add Offload's columns (and on SQLite the Hartonomous tables); idempotent", flags: schemaApplyCmd},
				{name: "finalize", summary: "drop RawPayload and PayloadRowGuid once every segment is released", flags: schemaFinalizeCmd},
			}},
			{name: "segments", summary: "tensor segment migration", subs: []*command{
				{name: "enqueue", summary: "queue unmigrated segments", flags: segEnqueueCmd},
				{name: "migrate", summary: "drain the segment queue with N workers (or migrate --id N directly)", flags: segMigrateCmd},
				{name: "verify", summary: "one bounded verification pass", flags: segVerifyCmd},
				{name: "status", summary: "counts and bytes by state, per model", flags: segStatusCmd},
				{name: "release", summary: "empty RawPayload of verified segments (dry run unless --confirm)", flags: segReleaseCmd},
				{name: "orphans", summary: "blobs under the tensors container that no row references", flags: segOrphansCmd},
			}},
			{name: "atoms", summary: "atom files of every modality (dbo.Atoms with a PayloadLocator): models, images, audio, …", subs: []*command{
				{name: "upload", summary: "upload every atom's file (its PayloadLocator) as a sha256-<digest> blob, model atoms to MODELS_CONTAINER and the others to ATOMS_CONTAINER; resumable and checked", flags: atomsUploadCmd},
				{name: "link", summary: "fill the Blob* columns of atoms whose blob is proven", flags: atomsLinkCmd},
				{name: "verify", summary: "check linked atoms (exists, size, ETag; --rehash for SHA-256)", flags: atomsVerifyCmd},
			}},
			{name: "models", summary: "model files (the atoms commands for Modality 'model', and model files by name)", subs: []*command{
				{name: "upload", summary: "upload model files as sha256-<digest> blobs (by name, or every atom's PayloadLocator), resumable and checked", usage: "--source DIR | --from-catalog | FILE...", flags: modelsUploadCmd},
				{name: "link", summary: "fill the Blob* columns of model atoms whose blob is proven", flags: modelsLinkCmd},
				{name: "verify", summary: "check linked model atoms (exists, size, ETag; --rehash for SHA-256)", flags: modelsVerifyCmd},
			}},
			{name: "messages", summary: "the transactional outbox (dbo.OffloadOutbox → Storage Queues)", subs: []*command{
				{name: "drain", summary: "send committed outbox messages to their queues, in order (--follow to keep going)", flags: messagesDrainCmd},
				{name: "status", summary: "outbox messages pending, sent and failed, and the oldest one's age", flags: messagesStatusCmd},
			}},
			{name: "cutover", summary: "what still blocks Azure SQL Database, and removing what Offload owns once proven", subs: []*command{
				{name: "assess", summary: "Microsoft's migration assessment rules, down to the calling line; exit 0 only when nothing blocks", flags: cutoverAssessCmd},
				{name: "apply", summary: "retire FILESTREAM, Service Broker (moving its messages) and the replaced CLR functions (plan only unless --confirm)", flags: cutoverApplyCmd},
			}},
			{name: "dashboard", summary: "serve the live migration page locally (api/dashboard, its data at api/dashboard/data)", flags: dashboardCmd},
			{name: "demo", summary: "demo data for the embedded catalog", subs: []*command{
				{name: "seed", summary: "fill the embedded catalog with a Hartonomous-shaped demo data set", flags: demoSeedCmd},
			}},
		},
	}
}

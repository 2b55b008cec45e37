package dashboard

import (
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// Snapshot is everything the page shows at one moment: GET api/dashboard/data
// answers it as JSON, and the page's first view is rendered from it. Numbers
// are raw (bytes, seconds, counts); View holds the geometry of the bars and
// the chart, computed once here so the server and the browser draw the same.
type Snapshot struct {
	GeneratedAt  time.Time    `json:"generatedAt"`
	Overall      Progress     `json:"overall"`
	Models       []Model      `json:"models"`
	Throughput   Throughput   `json:"throughput"`
	Verification Verification `json:"verification"`
	Files        Files        `json:"files"`
	Failures     Failures     `json:"failures"`
	Outbox       Outbox       `json:"outbox"`
	Release      Release      `json:"release"`
}

// StateCount is segments and bytes in one state. Bytes are the source's
// (pending, queued, mismatch) or the blob's (every later state).
type StateCount struct {
	State    catalog.State `json:"state"`
	Segments int64         `json:"segments"`
	Bytes    int64         `json:"bytes"`
}

// Progress is a set of segments by state, with the bar that draws it.
type Progress struct {
	States   []StateCount `json:"states"` // every state, in catalog.AllStates order
	Segments int64        `json:"segments"`
	Bytes    int64        `json:"bytes"`
	// DoneBytes are verified or released: proven in Blob Storage.
	DoneBytes int64 `json:"doneBytes"`
	// RemainingBytes are still to migrate (pending, queued, mismatch).
	RemainingBytes int64 `json:"remainingBytes"`
	// ETASeconds is RemainingBytes at the last hour's throughput (nil when
	// nothing moved in the last hour, or nothing remains).
	ETASeconds *float64  `json:"etaSeconds"`
	Bar        []BarPart `json:"bar"`
}

// BarPart is one state's stretch of a progress bar, in a 0–1000 wide box;
// a bar lists every state in catalog.AllStates order, empty ones 0 wide.
type BarPart struct {
	State catalog.State `json:"state"`
	X     int           `json:"x"`
	Width int           `json:"width"`
}

// Model is one model's progress.
type Model struct {
	ModelID   int64  `json:"modelId"`
	ModelName string `json:"modelName"`
	Progress
}

// Throughput is what was migrated over the last hour, per bucket.
type Throughput struct {
	WindowSeconds  int64    `json:"windowSeconds"`
	BucketSeconds  int64    `json:"bucketSeconds"`
	Buckets        []Bucket `json:"buckets"`
	BytesPerSec    float64  `json:"bytesPerSec"`
	SegmentsPerSec float64  `json:"segmentsPerSec"`
	// PeakBytesPerSec is the highest bucket's rate: the chart's top.
	PeakBytesPerSec float64 `json:"peakBytesPerSec"`
	// Points is the chart's polyline (MB/s per bucket) in a 600×120 box.
	Points string `json:"points"`
}

// Bucket is one bucket of the throughput chart.
type Bucket struct {
	Start          time.Time `json:"start"`
	Segments       int64     `json:"segments"`
	Bytes          int64     `json:"bytes"`
	BytesPerSec    float64   `json:"bytesPerSec"`
	SegmentsPerSec float64   `json:"segmentsPerSec"`
}

// Verification is how much verification has proven.
type Verification struct {
	ReadBack        int64 `json:"readBack"` // read back in full and matched at least once
	ReadBackBytes   int64 `json:"readBackBytes"`
	Unverified      int64 `json:"unverified"` // migrated, not read back yet
	UnverifiedBytes int64 `json:"unverifiedBytes"`
	Cheap           int64 `json:"cheap"` // of ReadBack, last checked cheaply
	Mismatch        int64 `json:"mismatch"`
	Lost            int64 `json:"lost"`
	// CoveragePercent is ReadBack of all that reached Blob Storage.
	CoveragePercent float64 `json:"coveragePercent"`
	// LastFullPassEndedAt is when a run last ended with nothing left to
	// read back (nil: never).
	LastFullPassEndedAt *time.Time `json:"lastFullPassEndedAt"`
	LastRun             *Run       `json:"lastRun"`
	// Day sums the runs that ended in the last 24 hours.
	Day RunTotals `json:"day"`
}

// Run is one verification run.
type Run struct {
	StartedAt      time.Time `json:"startedAt"`
	EndedAt        time.Time `json:"endedAt"`
	LeftUnverified int64     `json:"leftUnverified"`
	RunTotals
}

// RunTotals are what runs did.
type RunTotals struct {
	Runs         int64 `json:"runs"`
	FullChecked  int64 `json:"fullChecked"`
	CheapChecked int64 `json:"cheapChecked"`
	BytesHashed  int64 `json:"bytesHashed"`
	Mismatched   int64 `json:"mismatched"`
	Lost         int64 `json:"lost"`
	Requeued     int64 `json:"requeued"`
	AtomsChecked int64 `json:"atomsChecked"`
	AtomsFailed  int64 `json:"atomsFailed"`
	Errors       int64 `json:"errors"`
}

// Files is the atom files (model, image, audio, …) by modality.
type Files struct {
	Modalities []Modality    `json:"modalities"`
	Failures   []FileFailure `json:"failures"`
}

// Modality counts one modality's atom files.
type Modality struct {
	Modality string `json:"modality"`
	Atoms    int64  `json:"atoms"`    // with a PayloadLocator
	Linked   int64  `json:"linked"`   // BlobUri set
	Verified int64  `json:"verified"` // last verification ok
	Failed   int64  `json:"failed"`   // last verification not ok
	Bytes    int64  `json:"bytes"`    // linked blob bytes
}

// FileFailure is one atom whose last verification failed.
type FileFailure struct {
	AtomID   int64  `json:"atomId"`
	Modality string `json:"modality"`
	Locator  string `json:"locator"`
	Reason   string `json:"reason"`
}

// Failures are the segments whose last attempt failed, and the poison queue.
type Failures struct {
	Total   int64            `json:"total"`
	Reasons []Reason         `json:"reasons"`
	Latest  []SegmentFailure `json:"latest"`
	// PoisonQueue names the queue of messages the host gave up on, and
	// PoisonMessages is its approximate length (nil: could not be read).
	PoisonQueue    string `json:"poisonQueue"`
	PoisonMessages *int64 `json:"poisonMessages"`
}

// Reason is how many items failed for one reason.
type Reason struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// SegmentFailure is one failed segment.
type SegmentFailure struct {
	SegmentID int64         `json:"segmentId"`
	ModelID   int64         `json:"modelId"`
	State     catalog.State `json:"state"`
	Attempts  int64         `json:"attempts"`
	Reason    string        `json:"reason"`
	At        *time.Time    `json:"at"`
}

// Outbox is the transactional outbox at a glance.
type Outbox struct {
	Pending                 int64    `json:"pending"`
	Sent                    int64    `json:"sent"`
	Failed                  int64    `json:"failed"`
	OldestPendingAgeSeconds float64  `json:"oldestPendingAgeSeconds"`
	FailedReasons           []Reason `json:"failedReasons"`
}

// Release says what `segments release` would free now and what keeps
// `schema finalize` from running.
type Release struct {
	SafeSegments int64 `json:"safeSegments"` // verified, source still held
	SafeBytes    int64 `json:"safeBytes"`
	Released     int64 `json:"released"`
	// FinalizeReady: every segment is released.
	FinalizeReady bool `json:"finalizeReady"`
	// FinalizeBlockers are the segments not released yet, by state.
	FinalizeBlockers []StateCount `json:"finalizeBlockers"`
}

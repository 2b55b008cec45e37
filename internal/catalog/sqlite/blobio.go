package sqlite

// Incremental blob I/O on a modernc.org/sqlite connection.
//
// Why this file reaches into the driver: SQLite's substr() (and any SELECT
// of RawPayload) materialises the whole value for every call, so reading a
// 1 GB payload in 4 MiB chunks through SQL would cost 1 GB of memory per
// chunk. SQLite's answer is incremental blob I/O (sqlite3_blob_open/read/
// write), which touches only the pages of the requested range. The driver
// (v1.62.0) does not expose it, but its connection type holds the two things
// the C API needs: the sqlite3* handle (`db uintptr`) and the libc thread
// state (`tls *libc.TLS`). We read those two unexported fields with reflect
// and unsafe, checking their names and types first, and call the C API from
// modernc.org/sqlite/lib on them. Everything else about the connection stays
// the driver's business.
//
// The calls are made only inside (*sql.Conn).Raw on a connection reserved
// for one reader or writer, so the driver never uses the handle at the same
// time. TestDriverLayout fails loudly if a driver upgrade changes the layout.

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// handle is a raw SQLite connection borrowed from the driver.
type handle struct {
	db  uintptr // sqlite3*
	tls *libc.TLS
}

var (
	tlsType = reflect.TypeFor[*libc.TLS]()
	// errLayout says the driver changed under us: blob I/O is impossible.
	errLayout = errors.New("sqlite: modernc.org/sqlite connection layout changed (expected fields db uintptr and tls *libc.TLS in modernc.org/sqlite.conn); incremental blob I/O needs updating")
)

// rawHandle extracts the sqlite3* and libc TLS from the driver connection
// passed to (*sql.Conn).Raw.
func rawHandle(driverConn any) (handle, error) {
	v := reflect.ValueOf(driverConn)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return handle{}, fmt.Errorf("%w: got %T", errLayout, driverConn)
	}
	t := v.Elem().Type()
	if t.PkgPath() != "modernc.org/sqlite" || t.Name() != "conn" {
		return handle{}, fmt.Errorf("%w: got %s.%s", errLayout, t.PkgPath(), t.Name())
	}
	fdb, ok := t.FieldByName("db")
	if !ok || fdb.Type.Kind() != reflect.Uintptr {
		return handle{}, fmt.Errorf("%w: field db", errLayout)
	}
	ftls, ok := t.FieldByName("tls")
	if !ok || ftls.Type != tlsType {
		return handle{}, fmt.Errorf("%w: field tls", errLayout)
	}
	base := v.UnsafePointer()
	h := handle{
		db:  *(*uintptr)(unsafe.Add(base, fdb.Offset)),
		tls: *(**libc.TLS)(unsafe.Add(base, ftls.Offset)),
	}
	if h.db == 0 || h.tls == nil {
		return handle{}, errors.New("sqlite: connection is closed")
	}
	return h, nil
}

// blobError is a failed blob call: the SQLite result code and message.
type blobError struct {
	op   string
	code int32
	msg  string
}

func (e *blobError) Error() string { return fmt.Sprintf("sqlite: %s: %s (%d)", e.op, e.msg, e.code) }

// aborted reports SQLITE_ABORT: the row changed under an open blob handle.
func aborted(err error) bool {
	var be *blobError
	return errors.As(err, &be) && be.code&0xff == sqlite3.SQLITE_ABORT
}

func (h handle) err(op string, rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(h.tls, rc))
	if m := libc.GoString(sqlite3.Xsqlite3_errmsg(h.tls, h.db)); m != "" && m != msg {
		msg += ": " + m
	}
	return &blobError{op: op, code: rc, msg: msg}
}

// malloc allocates n bytes of C memory (outside the Go heap).
func (h handle) malloc(n int) (uintptr, error) {
	if n <= 0 {
		n = 1
	}
	p := libc.Xmalloc(h.tls, types.Size_t(n))
	if p == 0 {
		return 0, fmt.Errorf("sqlite: cannot allocate %d bytes", n)
	}
	return p, nil
}

func (h handle) free(p uintptr) {
	if p != 0 {
		libc.Xfree(h.tls, p)
	}
}

// blobOpen opens RawPayload-like column col of table at rowid in the main
// database. write selects a read-write handle.
func (h handle) blobOpen(table, col string, rowid int64, write bool) (uintptr, error) {
	zDb, err := libc.CString("main")
	if err != nil {
		return 0, err
	}
	defer h.free(zDb)
	zTable, err := libc.CString(table)
	if err != nil {
		return 0, err
	}
	defer h.free(zTable)
	zCol, err := libc.CString(col)
	if err != nil {
		return 0, err
	}
	defer h.free(zCol)
	pp, err := h.malloc(int(unsafe.Sizeof(uintptr(0))))
	if err != nil {
		return 0, err
	}
	defer h.free(pp)
	var flags int32
	if write {
		flags = 1
	}
	if rc := sqlite3.Xsqlite3_blob_open(h.tls, h.db, zDb, zTable, zCol, rowid, flags, pp); rc != sqlite3.SQLITE_OK {
		return 0, h.err(fmt.Sprintf("open blob %s.%s row %d", table, col, rowid), rc)
	}
	// pp is C memory holding the sqlite3_blob*: read it through a slice
	// view so no uintptr is turned back into a Go pointer here.
	return *(*uintptr)(unsafe.Pointer(&libc.GoBytes(pp, int(unsafe.Sizeof(uintptr(0))))[0])), nil
}

func (h handle) blobBytes(blob uintptr) int64 {
	return int64(sqlite3.Xsqlite3_blob_bytes(h.tls, blob))
}

// blobRead copies n bytes at off from the blob into C buffer buf.
func (h handle) blobRead(blob, buf uintptr, n int, off int64) error {
	if rc := sqlite3.Xsqlite3_blob_read(h.tls, blob, buf, int32(n), int32(off)); rc != sqlite3.SQLITE_OK {
		return h.err(fmt.Sprintf("read blob at %d", off), rc)
	}
	return nil
}

// blobWrite copies n bytes from C buffer buf into the blob at off.
func (h handle) blobWrite(blob, buf uintptr, n int, off int64) error {
	if rc := sqlite3.Xsqlite3_blob_write(h.tls, blob, buf, int32(n), int32(off)); rc != sqlite3.SQLITE_OK {
		return h.err(fmt.Sprintf("write blob at %d", off), rc)
	}
	return nil
}

func (h handle) blobClose(blob uintptr) error {
	if blob == 0 {
		return nil
	}
	if rc := sqlite3.Xsqlite3_blob_close(h.tls, blob); rc != sqlite3.SQLITE_OK {
		return h.err("close blob", rc)
	}
	return nil
}

// cbytes views n bytes of C memory at p as a slice (no copy). The slice
// must not outlive the allocation.
func cbytes(p uintptr, n int) []byte { return libc.GoBytes(p, n) }

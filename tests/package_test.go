package tests

import (
	"archive/zip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// make package lays out dist/ and a zip whose offload is executable, whose
// function folders match functions/, and whose host.json names offload.
func TestMakePackage(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed to test the package target")
	}
	tmp := t.TempDir()
	zipPath := filepath.Join(tmp, "app.zip")
	cmd := exec.Command("make", "-C", "..", "package", "DIST="+filepath.Join(tmp, "dist"), "ZIP="+zipPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var got []string
	var exe, host bool
	for _, f := range zr.File {
		switch {
		case f.Name == "offload":
			exe = f.Mode()&0o111 != 0
		case f.Name == "host.json":
			rc, _ := f.Open()
			var h struct {
				CustomHandler struct {
					Description struct {
						DefaultExecutablePath string `json:"defaultExecutablePath"`
					} `json:"description"`
				} `json:"customHandler"`
			}
			err := json.NewDecoder(rc).Decode(&h)
			rc.Close()
			host = err == nil && h.CustomHandler.Description.DefaultExecutablePath == "offload"
		case strings.HasSuffix(f.Name, "/function.json"):
			got = append(got, strings.TrimSuffix(f.Name, "/function.json"))
		case strings.HasSuffix(f.Name, ".go"):
			t.Errorf("Go source %s shipped in the package", f.Name)
		}
	}
	if !exe {
		t.Error("offload is missing from the zip or has no run bit")
	}
	if !host {
		t.Error("host.json missing or not naming offload as defaultExecutablePath")
	}
	dirs, _ := filepath.Glob("../functions/*/function.json")
	var want []string
	for _, d := range dirs {
		want = append(want, filepath.Base(filepath.Dir(d)))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") || len(want) == 0 {
		t.Errorf("function folders in zip %v, in functions/ %v", got, want)
	}
	_ = os.Remove(zipPath)
}

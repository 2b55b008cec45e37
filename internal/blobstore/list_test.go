package blobstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	c, cn := setup(t)
	c.listPageSize = 2 // cross page boundaries with a handful of blobs
	ctx := context.Background()
	names := []string{"a/1", "a/2", "a/sub/3", "b/4", "c", "d"}
	for i, n := range names {
		if _, err := c.Upload(ctx, cn, n, strings.NewReader(strings.Repeat("x", i)), UploadOptions{Metadata: map[string]string{"ModelId": itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix, delim string) []Item {
		t.Helper()
		var items []Item
		if err := c.List(ctx, cn, prefix, delim, func(it Item) error { items = append(items, it); return nil }); err != nil {
			t.Fatal(err)
		}
		return items
	}
	namesOf := func(items []Item) []string {
		var out []string
		for _, it := range items {
			if it.IsPrefix {
				out = append(out, it.Name+"(dir)")
			} else {
				out = append(out, it.Name)
			}
		}
		return out
	}

	flat := list("", "")
	if got := namesOf(flat); !slices.Equal(got, names) {
		t.Fatalf("flat: %v", got)
	}
	for i, it := range flat {
		if it.Size != int64(i) || it.ETag == "" || it.LastModified.IsZero() || it.Meta("ModelId") != itoa(i) {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if got := namesOf(list("a/", "")); !slices.Equal(got, []string{"a/1", "a/2", "a/sub/3"}) {
		t.Fatalf("flat a/: %v", got)
	}
	if got := namesOf(list("", "/")); !slices.Equal(got, []string{"a/(dir)", "b/(dir)", "c", "d"}) {
		t.Fatalf("top level: %v", got)
	}
	if got := namesOf(list("a/", "/")); !slices.Equal(got, []string{"a/1", "a/2", "a/sub/(dir)"}) {
		t.Fatalf("a/ level: %v", got)
	}
	if got := list("zzz", ""); len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}

	// fn's error stops the listing and comes back as is.
	stop := errors.New("enough")
	n := 0
	err := c.List(ctx, cn, "", "", func(Item) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d items", err, n)
	}
}

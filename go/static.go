package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// A staticDir serves the files under one directory, by Go alone: no
// request crosses into C.  http.FileServer answers Range requests,
// If-Modified-Since and If-None-Match (304, with the ETag that Open sets)
// and sets Content-Type from the file name's extension (or by sniffing).
//
// Files are opened through an os.Root, which refuses every path that
// leads outside the directory ("..", absolute paths, symbolic links
// pointing out), on top of the ServeMux and FileServer cleaning ".." out
// of URL paths.  They reach FileServer as *os.File, so that net/http
// sends them with sendfile (http.FS would hide that behind a wrapper).
type staticDir struct {
	root    *os.Root
	listing bool
	handler http.Handler // strips the prefix, then serveFile
}

// newStaticDir opens dir and returns the handler of the URL subtree
// prefix ("/static/") that serves it.  With listing false, a directory
// without an index.html is 404, not a listing.  dir must exist and be a
// directory: it is opened now, so a later chdir does not change it.
func newStaticDir(prefix, dir string, listing bool) (*staticDir, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("static directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("static directory %s is not a directory: %w", dir, syscall.ENOTDIR)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("static directory: %w", err)
	}
	d := &staticDir{root: root, listing: listing}
	d.handler = http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.HandlerFunc(d.serveFile))
	return d, nil
}

func (d *staticDir) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.handler.ServeHTTP(w, r)
}

// serveFile serves the file r.URL.Path names under the directory.
func (d *staticDir) serveFile(w http.ResponseWriter, r *http.Request) {
	http.FileServer(requestFiles{d, w.Header()}).ServeHTTP(w, r)
}

func (d *staticDir) Close() error { return d.root.Close() }

// requestFiles is the http.FileSystem of one request: it opens files under
// the directory and gives the response the ETag of the regular file it
// opens (the one served).
type requestFiles struct {
	dir    *staticDir
	header http.Header
}

// Open opens name, a slash-separated path that FileServer has cleaned
// ("/css/app.css").  Every error but a permission error is "not found",
// so that FileServer answers 404 rather than 500 for a path that os.Root
// refuses, that goes through a file ("/a.txt/b") or that is too long;
// permission errors stay 403.
func (rf requestFiles) Open(name string) (http.File, error) {
	rel := strings.TrimPrefix(name, "/")
	if rel == "" {
		rel = "."
	}
	f, err := rf.dir.root.Open(rel)
	if err != nil {
		return nil, quiet(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, quiet(name, err)
	}
	switch {
	case fi.Mode().IsRegular():
		rf.header.Set("Etag", etag(fi))
	case fi.IsDir() && !rf.dir.listing:
		index, err := rf.dir.root.Stat(path.Join(rel, "index.html"))
		if err != nil || index.IsDir() {
			f.Close()
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
	}
	return f, nil
}

// etag is a file's ETag, made of its modification time and size as
// nginx makes it: FileServer makes none itself.
func etag(fi fs.FileInfo) string {
	b := make([]byte, 0, 40)
	b = append(b, '"')
	b = strconv.AppendInt(b, fi.ModTime().UnixNano(), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, fi.Size(), 16)
	return string(append(b, '"'))
}

func quiet(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return err
	}
	return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// checkStaticPrefix checks the URL prefix given to Server.static: a path
// that starts and ends with "/", without wildcards or a method.
func checkStaticPrefix(prefix string) error {
	switch {
	case !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/"):
		return errInvalid("static prefix %q must start and end with \"/\", like \"/static/\"", prefix)
	case strings.ContainsAny(prefix, "{} \t"):
		return errInvalid("static prefix %q must be a plain path: no wildcards, methods or spaces", prefix)
	case path.Clean(prefix)+"/" != prefix && prefix != "/":
		return errInvalid("static prefix %q must be a clean path (no \"//\", \".\" or \"..\" segments)", prefix)
	}
	return nil
}

// Package atomicfile writes files durably: the worker's outbox and dead-letter store keep their
// state in files that a crash must leave either old or new, never torn.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data durably: a temporary file beside it is written and fsync'd, renamed
// over path, and the directory fsync'd, so that a crash leaves either the old or the new content. On
// an error the temporary file is removed.
func Write(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// SyncDir makes a directory's entries (created, renamed or removed files) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

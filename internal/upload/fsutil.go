package upload

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// tmpPrefix names temporary files, which Sweep removes once expired.
const tmpPrefix = ".tmp-"

// writeFileAtomic replaces path with b durably: a temporary file, fsync,
// rename, fsync of the directory. A crash leaves the old file or the new
// one, never a mix.
func writeFileAtomic(dir, path string, b []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries (created, renamed, removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("upload: sync dir: %w", err)
	}
	return nil
}

// readFileLimit reads a file of at most limit bytes.
func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: file of more than %d bytes", ErrCorrupt, limit)
	}
	return b, nil
}

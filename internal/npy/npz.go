package npy

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReadFile reads a .npy or .npz file, telling them apart by content rather
// than by extension. A .npy array is named after the file's base name
// without ".npy". Errors name the path and, where known, the array.
func ReadFile(path string) ([]*Array, error) {
	arrays, err := readFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	return arrays, nil
}

// ReadNPZ reads all arrays of an .npz archive, in archive order. Members
// written by np.savez (stored) and np.savez_compressed (deflated) are both
// accepted; every member must be a "<name>.npy" file. Unlike ReadFile it
// rejects a plain .npy file.
func ReadNPZ(path string) ([]*Array, error) {
	arrays, err := readFile(path, true)
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	return arrays, nil
}

func readFile(path string, wantZip bool) ([]*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(magic))
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	// "PK\x03\x04" starts a zip with members, "PK\x05\x06" an empty one.
	isZip := string(head[:min(n, 4)]) == "PK\x03\x04" || string(head[:min(n, 4)]) == "PK\x05\x06"
	switch {
	case isZip:
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			return nil, err
		}
		return readZip(zr)
	case wantZip:
		return nil, fmt.Errorf("not an .npz file: starts with %q, want a zip archive", head)
	case string(head) == magic:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		a, err := readNPY(f, strings.TrimSuffix(filepath.Base(path), ".npy"))
		if err != nil {
			return nil, err
		}
		return []*Array{a}, nil
	}
	return nil, fmt.Errorf("not a .npy or .npz file: starts with %q", head)
}

func readZip(zr *zip.Reader) ([]*Array, error) {
	arrays := make([]*Array, 0, len(zr.File))
	seen := map[string]bool{}
	for _, f := range zr.File {
		name, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok || name == "" {
			return nil, fmt.Errorf("member %q is not a .npy file", f.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicate member %q", f.Name)
		}
		seen[name] = true
		a, err := readMember(f, name)
		if err != nil {
			return nil, err
		}
		arrays = append(arrays, a)
	}
	return arrays, nil
}

func readMember(f *zip.File, name string) (*Array, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", f.Name, err)
	}
	defer rc.Close()
	a, err := readNPY(rc, name)
	if err != nil {
		return nil, err
	}
	// Read to the end so that the zip reader verifies the CRC-32.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, fmt.Errorf("member %q: %w", f.Name, err)
	}
	return a, nil
}

// WriteNPZ writes arrays to an .npz archive with stored (uncompressed)
// members, like np.savez. Names must be non-empty and unique; member i is
// arrays[i].Name + ".npy". The archive is written to a temporary file in
// the same directory, synced and renamed over path, so readers never see a
// partial file.
func WriteNPZ(path string, arrays []*Array) error {
	return writeNPZ(path, arrays, zip.Store)
}

// WriteNPZCompressed is WriteNPZ with deflated members, like
// np.savez_compressed.
func WriteNPZCompressed(path string, arrays []*Array) error {
	return writeNPZ(path, arrays, zip.Deflate)
}

func writeNPZ(path string, arrays []*Array, method uint16) error {
	if err := writeNPZ1(path, arrays, method); err != nil {
		return fmt.Errorf("npy: %s: %w", path, err)
	}
	return nil
}

func writeNPZ1(path string, arrays []*Array, method uint16) (err error) {
	seen := map[string]bool{}
	for i, a := range arrays {
		switch {
		case a == nil:
			return fmt.Errorf("array %d is nil", i)
		case a.Name == "":
			return fmt.Errorf("array %d has no name", i)
		case seen[a.Name]:
			return fmt.Errorf("duplicate array name %q", a.Name)
		}
		seen[a.Name] = true
		if _, err := a.check(); err != nil {
			return err
		}
	}

	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	zw := zip.NewWriter(f)
	now := time.Now()
	for _, a := range arrays {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: a.Name + ".npy", Method: method, Modified: now})
		if err != nil {
			return err
		}
		if err := writeNPY(w, a); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Best effort: make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Find returns the first array named name, or nil.
func Find(arrays []*Array, name string) *Array {
	for _, a := range arrays {
		if a != nil && a.Name == name {
			return a
		}
	}
	return nil
}

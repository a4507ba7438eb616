package host

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data atomically: a temp file in the same
// directory renamed over it, so a manager never reads half a definition.
// The directory is created when missing.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFiles writes every file of def.
func WriteFiles(def Definition) error {
	for _, f := range def.Files {
		if err := WriteFile(f.Path, f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// RemoveFiles deletes every file of def; a missing file is fine.
func RemoveFiles(def Definition) error {
	for _, f := range def.Files {
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f.Path, err)
		}
	}
	return nil
}

// StaleFiles compares def's files with what is on disk. present is true
// when the first (main) file exists; stale lists the base names of the
// files missing or different, lines compared without trailing whitespace.
// main is the main file's content, nil when missing.
func StaleFiles(def Definition) (main []byte, present bool, stale []string, err error) {
	for i, f := range def.Files {
		got, err := os.ReadFile(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			stale = append(stale, baseName(f.Path))
			continue
		case err != nil:
			return nil, false, nil, fmt.Errorf("read %s: %w", f.Path, err)
		}
		if i == 0 {
			main, present = got, true
		}
		if !sameDefinition(got, f.Data) {
			stale = append(stale, baseName(f.Path))
		}
	}
	return main, present, stale, nil
}

// ObserveFiles fills what a service's files on disk say: Installed, Stale,
// and Foreign when the main file serves another HERMES_HOME. homeOf reads
// that HERMES_HOME from the main file ("" when it cannot tell).
func ObserveFiles(def Definition, homeOf func(main []byte) string) (Observed, error) {
	var o Observed
	main, present, stale, err := StaleFiles(def)
	if err != nil {
		return o, err
	}
	o.Installed, o.Stale = present, stale
	if present {
		if h := homeOf(main); h != "" && !SameHome(h, def.Home) {
			o.Foreign = fmt.Sprintf("%s serves HERMES_HOME=%s, not %s: left as it is", def.Files[0].Path, h, def.Home)
		}
	}
	return o, nil
}

// sameDefinition compares a file on disk with its rendering. UTF-16 files
// (task XML) compare byte for byte, text files line by line.
func sameDefinition(got, want []byte) bool {
	if bytes.HasPrefix(want, []byte{0xff, 0xfe}) {
		return bytes.Equal(got, want)
	}
	return bytes.Equal(normalize(got), normalize(want))
}

// normalize drops trailing whitespace on every line and at the end, and
// CRs, as Hermes's _normalize_service_definition does: an editor that
// trims lines does not make a definition stale.
func normalize(b []byte) []byte {
	lines := bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " \t\r")
	}
	return bytes.TrimRight(bytes.Join(lines, []byte("\n")), "\n")
}

// SameHome reports whether two HERMES_HOME paths name the same directory
// (cleaned; no symlinks resolved).
func SameHome(a, b string) bool { return filepath.Clean(a) == filepath.Clean(b) }

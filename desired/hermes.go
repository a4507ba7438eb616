package desired

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// HermesProject is the name Hermes's pyproject.toml and its installed
// metadata give the package.
const HermesProject = "hermes-agent"

// ReadHermes finds the version of the Hermes installed at root (a checkout,
// as the image has at /opt/hermes) without running Python: its
// pyproject.toml, else the package metadata in its virtualenv.
func ReadHermes(root string) HermesInstall {
	pyproject := filepath.Join(root, "pyproject.toml")
	data, err := ReadInput(pyproject)
	switch {
	case err == nil:
		v, perr := ParsePyproject(data)
		if perr == nil {
			return parsedInstall(v, pyproject)
		}
		err = fmt.Errorf("%s: %w", pyproject, perr)
	case errors.Is(err, fs.ErrNotExist):
		err = fmt.Errorf("no %s", pyproject)
	default:
		err = fmt.Errorf("%s: %w", pyproject, unwrapPath(err))
	}
	for _, meta := range metadataFiles(root) {
		data, merr := ReadInput(meta)
		if merr != nil {
			continue
		}
		if v, merr := ParseMetadata(data); merr == nil {
			return parsedInstall(v, meta)
		}
	}
	return HermesInstall{Source: root, Err: err}
}

func parsedInstall(v, source string) HermesInstall {
	ver, err := ParseVersion(v)
	if err != nil {
		return HermesInstall{Source: source, Err: fmt.Errorf("%s: %w", source, err)}
	}
	return HermesInstall{Version: ver, Known: true, Source: source}
}

// metadataFiles are the METADATA files of an installed hermes-agent: beside
// the checkout (the newest image's assembler writes it there), then in its
// virtualenv (an editable install), the newest Python first.
func metadataFiles(root string) []string {
	var out []string
	for _, pattern := range []string{"hermes_agent-*.dist-info/METADATA",
		".venv/lib/python3*/site-packages/hermes_agent-*.dist-info/METADATA"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		out = append(out, m...)
	}
	return out
}

// ParsePyproject reads the [project] version of a pyproject.toml that
// names hermes-agent. It reads only what it needs of TOML: a table header,
// and name = "..." / version = "..." lines in the [project] table.
func ParsePyproject(data []byte) (string, error) {
	var name, version string
	dynamic := false
	inProject := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxInputSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			inProject = line == "[project]"
			continue
		}
		if !inProject {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "name":
			name = tomlString(val)
		case "version":
			version = tomlString(val)
		case "dynamic":
			dynamic = strings.Contains(val, `"version"`) || strings.Contains(val, `'version'`)
		}
	}
	switch {
	case name != HermesProject:
		return "", fmt.Errorf("not Hermes's: [project] name is %q, not %q", name, HermesProject)
	case version == "" && dynamic:
		return "", errors.New("its version is dynamic (set at build time)")
	case version == "":
		return "", errors.New("no [project] version")
	}
	return version, nil
}

// ParseMetadata reads the Version of an installed package's METADATA when
// its Name is hermes-agent (or its normalised hermes_agent).
func ParseMetadata(data []byte) (string, error) {
	var name, version string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break // the headers end at the first blank line
		}
		if v, ok := strings.CutPrefix(line, "Name: "); ok {
			name = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			version = strings.TrimSpace(v)
		}
	}
	if strings.ReplaceAll(strings.ToLower(name), "_", "-") != HermesProject {
		return "", fmt.Errorf("not Hermes's metadata: Name is %q", name)
	}
	if version == "" {
		return "", errors.New("no Version in the metadata")
	}
	return version, nil
}

// tomlString is a TOML basic or literal string on one line, comment after.
func tomlString(val string) string {
	val = strings.TrimSpace(val)
	if val == "" {
		return ""
	}
	switch val[0] {
	case '"':
		if end := strings.IndexByte(val[1:], '"'); end >= 0 {
			if s, err := strconv.Unquote(val[:end+2]); err == nil {
				return s
			}
		}
	case '\'':
		if end := strings.IndexByte(val[1:], '\''); end >= 0 {
			return val[1 : end+1]
		}
	}
	return ""
}

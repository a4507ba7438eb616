package desired

import (
	"errors"
	"io/fs"
	"strconv"
	"time"
)

// Stamp is what a stat says of a file: enough to tell that it changed, as
// git's index keeps it (device, inode, size, mtime and ctime in ns). The s6
// observer validates its cache of slot files with it too.
type Stamp struct {
	Dev, Ino           uint64
	Size, Mtime, Ctime int64
}

// key is the stamp as a comparable string, for the poll.
func (st Stamp) key() string {
	return ":" + strconv.FormatUint(st.Ino, 10) + ":" + strconv.FormatInt(st.Size, 10) + ":" +
		strconv.FormatInt(st.Mtime, 10) + ":" + strconv.FormatInt(st.Ctime, 10) + ";"
}

// RacyWindow is git's "racily clean" rule: a file modified less than this
// before it was read may change again within the same timeStamp tick, same
// size, without its Stamp changing; it is read again until it is older. A
// second covers coarse filesystem clocks.
const RacyWindow = int64(time.Second)

// Trusted reports whether a file Stamped st now, and Stamped read when it
// was read at readAt (unix ns), is still what was read.
func (st Stamp) Trusted(read Stamp, readAt int64) bool {
	return st == read && st.Mtime <= readAt-RacyWindow
}

// entry is one file's parse, valid while the file's Stamp is st; or, when
// missing, what a lookup found: no such file.
type entry[T any] struct {
	missing bool
	st      Stamp
	readAt  int64 // unix ns, taken before the read
	val     T
	diag    *Diagnostic
	// changed is the mtime of the first version of the file that said val:
	// a rewrite that says the same keeps it.
	changed int64
	// gen is this parse's number, new at every read (0: missing), so what
	// is derived from several files can tell whether any of them changed.
	gen uint64
}

// cache holds the parse of every input file a reader has read, so a full
// pass over unchanged profiles only stats them.
type cache struct {
	now     func() time.Time
	configs map[string]entry[configResult]
	intents map[string]entry[IntentRecord]
	envs    map[string]entry[envFile]
	// claims: config.yaml's platform blocks are read too (Options.Claims).
	claims bool
	// reads counts the files read and parsed (a miss), stats the lookups:
	// tests and benchmarks look at them.
	reads, stats int
	gen          uint64
}

type configResult struct {
	cfg GatewayConfig
	ok  bool
	// platforms are the blocks the claim rules read; nil unless the cache
	// reads claims.
	platforms platformConfigs
}

// envFile is a parsed .env: its bindings and its malformed lines; err
// when it could not be read.
type envFile struct {
	bindings []Binding
	diags    []Diagnostic
	err      error
}

func newCache(claims bool) *cache {
	return &cache{now: time.Now, configs: map[string]entry[configResult]{}, intents: map[string]entry[IntentRecord]{},
		envs: map[string]entry[envFile]{}, claims: claims}
}

// lookup returns the parse of path: from the cache when the file's Stamp
// is what it was when read (and it was not racily clean then), else read and
// parsed again. exists is false for a missing file; an unreadable one is a
// diagnostic, never cached.
func lookup[T any](c *cache, m map[string]entry[T], path string, parse func([]byte) (T, *Diagnostic), unreadable func(error) (T, *Diagnostic)) (e entry[T], exists bool) {
	return lookupAs(c, m, path, true, parse, unreadable)
}

// lookupAs is lookup; stat says whether a parse in hand is validated by a
// stat before anything is read. Without (a file an event just named, most
// likely rewritten) the file is opened at once and the read's own fstat
// validates: one syscall fewer when it did change, two more when not.
func lookupAs[T any](c *cache, m map[string]entry[T], path string, stat bool, parse func([]byte) (T, *Diagnostic), unreadable func(error) (T, *Diagnostic)) (e entry[T], exists bool) {
	c.stats++
	// Only a parse in hand is worth a stat to validate; without one (a
	// one-shot run's every file, a file missing last time) the read's own
	// fstat says as much.
	if old, ok := m[path]; ok && !old.missing && stat {
		st, mode, err := StatFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			m[path] = entry[T]{missing: true}
			return entry[T]{}, false
		}
		if err == nil && mode.IsRegular() && st.Trusted(old.st, old.readAt) {
			return old, true
		}
	}
	readAt := c.now().UnixNano()
	data, st, err := readStamped(path)
	if errors.Is(err, fs.ErrNotExist) {
		m[path] = entry[T]{missing: true}
		return entry[T]{}, false
	}
	if old, ok := m[path]; ok && !old.missing && !stat && err == nil && st.Trusted(old.st, old.readAt) {
		return old, true
	}
	c.reads++
	c.gen++
	n := entry[T]{gen: c.gen}
	if err != nil {
		delete(m, path)
		n.val, n.diag = unreadable(err)
		return n, true
	}
	n.st, n.readAt, n.changed = st, readAt, st.Mtime
	n.val, n.diag = parse(data)
	if old, ok := m[path]; ok && !old.missing && sameParse(old, n) {
		n.changed = old.changed
	}
	m[path] = n
	return n, true
}

// sameParse reports whether two reads of a file said the same.
func sameParse[T any](a, b entry[T]) bool {
	if (a.diag == nil) != (b.diag == nil) || (a.diag != nil && *a.diag != *b.diag) {
		return false
	}
	switch av := any(a.val).(type) {
	case IntentRecord:
		return av == any(b.val).(IntentRecord)
	case configResult:
		bv := any(b.val).(configResult)
		return av.ok == bv.ok && (av.cfg.Multiplex == nil) == (bv.cfg.Multiplex == nil) &&
			(av.cfg.Multiplex == nil || *av.cfg.Multiplex == *bv.cfg.Multiplex)
	}
	return false
}

// config is the parse of a config.yaml: ok is false when it exists but
// cannot be used (the diagnostic says why).
func (c *cache) config(path string) (configResult, *Diagnostic, bool) {
	e, exists := lookup(c, c.configs, path, func(data []byte) (configResult, *Diagnostic) {
		cfg, top, err := parseConfig(data)
		if err != nil {
			line := 0
			var ce *ConfigError
			if errors.As(err, &ce) {
				line = ce.Line
			}
			return configResult{}, &Diagnostic{Severity: Error, Path: path, Line: line, Message: err.Error() + "; slot left as it is"}
		}
		res := configResult{cfg: cfg, ok: true}
		if c.claims {
			res.platforms = parsePlatforms(top, claimPlatforms)
		}
		return res, nil
	}, func(err error) (configResult, *Diagnostic) {
		if isDenied(err) {
			d := denied("", path, "cannot read config.yaml; slot left as it is")
			return configResult{}, &d
		}
		return configResult{}, &Diagnostic{Severity: Error, Path: path, Message: unwrapPath(err).Error() + "; slot left as it is"}
	})
	if !exists {
		return configResult{ok: true}, nil, false
	}
	return e.val, e.diag, true
}

// intent is the parse of a gateway_state.json, with the mtime of the first
// version that said it: missing is no intent and no diagnostic, corrupt or
// unreadable no intent and a warning.
func (c *cache) intent(path string) (IntentRecord, *Diagnostic, int64, bool) {
	return c.intentAs(path, true)
}

// intentAs is intent; stat as lookupAs's.
func (c *cache) intentAs(path string, stat bool) (IntentRecord, *Diagnostic, int64, bool) {
	e, exists := lookupAs(c, c.intents, path, stat, func(data []byte) (IntentRecord, *Diagnostic) {
		rec, line, err := ParseIntent(data)
		if err != nil {
			return IntentRecord{}, &Diagnostic{Severity: Warning, Path: path, Line: line, Message: err.Error() + "; treated as no intent"}
		}
		return rec, nil
	}, func(err error) (IntentRecord, *Diagnostic) {
		if isDenied(err) {
			d := denied("", path, "cannot read the intent; treated as no intent")
			return IntentRecord{}, &d
		}
		return IntentRecord{}, &Diagnostic{Severity: Warning, Path: path, Message: err.Error() + "; treated as no intent"}
	})
	return e.val, e.diag, e.changed, exists
}

// dotenv is the parse of a .env file, and its generation: a missing file
// is no bindings (exists false), an unreadable one says why in err.
func (c *cache) dotenv(path string) (envFile, bool, uint64) {
	e, exists := lookup(c, c.envs, path, func(data []byte) (envFile, *Diagnostic) {
		b, d := ParseDotEnv(path, data)
		return envFile{bindings: b, diags: d}, nil
	}, func(err error) (envFile, *Diagnostic) { return envFile{err: err}, nil })
	return e.val, exists, e.gen
}

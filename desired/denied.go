package desired

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// ErrHomeUnreadable is returned when HERMES_HOME itself cannot be looked
// at (its parent is not searchable): nothing can be known.
var ErrHomeUnreadable = errors.New("HERMES_HOME unreadable")

// denied is the diagnostic of a permission error on path: who we are, who
// owns what refuses us, and how to mend it. It fails the run (Denied): a
// boot that cannot read its profiles must not look like one that read
// nothing to do.
func denied(profile Key, path, what string) Diagnostic {
	return Diagnostic{Severity: Error, Denied: true, Profile: profile, Path: path,
		Message: what + ": " + permissionHint(path)}
}

// permissionHint says, for a path we may not read, who we are, what
// refuses us (the path or the nearest ancestor we can see) and the fix.
func permissionHint(path string) string {
	uid := os.Geteuid()
	me := nameOf(uid)
	owner, refuser, ownerUID := "another user", path, -1
	var mode fs.FileMode
	for p := path; ; p = filepath.Dir(p) {
		if fi, err := os.Lstat(p); err == nil {
			refuser, owner, ownerUID, mode = p, ownerOf(fi), uidOf(fi), fi.Mode().Perm()
			break
		}
		if filepath.Dir(p) == p {
			break
		}
	}
	switch {
	case uid < 0:
		return fmt.Sprintf("permission denied (%s is owned by %s, mode %04o); give this user access to it", refuser, owner, mode)
	case ownerUID == uid:
		// Ours, but its mode shuts us out: chown would change nothing.
		return fmt.Sprintf("permission denied: %s cannot read it (%s is owned by %s itself, mode %04o); run `chmod -R u+rwX %s`",
			me, refuser, owner, mode, refuser)
	}
	return fmt.Sprintf("permission denied: %s cannot read it (%s is owned by %s, mode %04o); as root run `chown -R %d %s`, or run hermes-reconcile as %s",
		me, refuser, owner, mode, uid, refuser, owner)
}

// nameOf is "uid N (name)", or "uid N" when the name is unknown.
func nameOf(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return "uid " + strconv.Itoa(uid)
}

// isDenied reports whether err is a permission error.
func isDenied(err error) bool { return errors.Is(err, fs.ErrPermission) }

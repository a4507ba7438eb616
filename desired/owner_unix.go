//go:build unix

package desired

import (
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

// ownerOf is the user that owns fi: its name, else "uid N".
func ownerOf(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
			return u.Username
		}
		return "uid " + strconv.Itoa(int(st.Uid))
	}
	return "another user"
}

// uidOf is the uid that owns fi, -1 when unknown.
func uidOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

//go:build unix

package desired

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPermissionHint: the fix fits whose the refusing path is: our own
// with a mode that shuts us out wants chmod; another user's, chown or
// running as them.
func TestPermissionHint(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "own")
	if err := os.Mkdir(own, 0); err != nil {
		t.Fatal(err)
	}
	uid := strconv.Itoa(os.Geteuid())
	tests := []struct {
		name, path string
		chown      int // -1: leave it ours
		want       []string
	}{
		{"ours, mode 0000", own, -1, []string{"uid " + uid, "is owned by", "itself, mode 0000", "run `chmod -R u+rwX " + own + "`"}},
		{"a missing file below it: the dir refuses", filepath.Join(own, "config.yaml"), -1, []string{own + " is owned by", "chmod -R u+rwX " + own}},
		{"another user's", filepath.Join(dir, "theirs"), 54321, []string{"is owned by uid 54321, mode 0700", "as root run `chown -R " + uid + " " + filepath.Join(dir, "theirs") + "`", "or run hermes-reconcile as uid 54321"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.chown >= 0 {
				if os.Geteuid() != 0 {
					t.Skip("needs root to give a directory away")
				}
				if err := os.Mkdir(tt.path, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(tt.path, tt.chown, tt.chown); err != nil {
					t.Fatal(err)
				}
			}
			got := permissionHint(tt.path)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("permissionHint(%s) = %q\nwant it to say %q", tt.path, got, w)
				}
			}
		})
	}
}

//go:build linux

package testkit

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// HermesUID is the uid of the `hermes` account in Hermes's image.
const HermesUID = 10000

// Account is the unprivileged user the non-root specs run as.
type Account struct {
	Name     string
	UID, GID int
}

// Cred runs a command as the account, with no supplementary groups.
func (a Account) Cred() *syscall.Credential {
	return &syscall.Credential{Uid: uint32(a.UID), Gid: uint32(a.GID), Groups: []uint32{}}
}

// HermesUser is the `hermes` account (uid 10000, as in Hermes's image),
// made when missing. It is left in place: suites run as parallel
// processes, and one deleting it under another's spec fails that spec. The
// spec is skipped when not run as root, which it needs to switch users.
func HermesUser() Account {
	if os.Geteuid() != 0 {
		Skip("needs root: runs the binary as the hermes user")
	}
	const name = "hermes"
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--system", "--uid", strconv.Itoa(HermesUID), "--user-group",
			"--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if _, lerr := user.Lookup(name); lerr != nil { // another suite may have made it meanwhile
			Expect(err).NotTo(HaveOccurred(), "useradd: %s", out)
		}
	}
	u, err := user.Lookup(name)
	Expect(err).NotTo(HaveOccurred())
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Account{Name: name, UID: uid, GID: gid}
}

package s6

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// write rewrites the listed files of a live slot one by one (write temp,
// rename), then records the spec hash. Every write is relative to an open
// directory and follows no symlink, so a planted one can never lead it
// outside the scandir.
//
// When what the gateway or its logger runs changes, the time is recorded
// first (StateFile): a process that started before it runs the old script,
// so a pass killed before the restart leaves one the next pass restarts.
// An adoption records the opposite: the processes running are accepted as
// they are, and the new scripts take effect at their next start, as with
// any rewrite by Hermes itself.
func (b *Backend) write(slot string, spec reconcile.Spec, files []string, adopt bool) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	var run, log bool
	for _, f := range spec.Files {
		if slices.Contains(files, f.Path) {
			run = run || f.Effect == reconcile.RestartsService
			log = log || f.Effect == reconcile.RestartsCompanion
		}
	}
	if run || log || adopt {
		now := time.Now()
		err := b.updateState(root, slot, func(st *slotState) {
			switch {
			case adopt:
				st.RunWritten, st.LogWritten, st.Adopted = time.Time{}, time.Time{}, now
			case run:
				st.RunWritten = now
			}
			if log && !adopt {
				st.LogWritten = now
			}
		})
		if err != nil {
			return err
		}
	}
	for _, f := range spec.Files {
		if !slices.Contains(files, f.Path) {
			continue
		}
		if err := b.replaceFile(root, path.Join(slot, f.Path), f.Data, f.Mode); err != nil {
			return err
		}
	}
	return b.writeHash(root, slot, spec.Hash)
}

// publish builds the slot under a dot name s6-svscan skips, then renames
// it into place: a rescan sees the whole slot or nothing of it. Every step
// is relative to an open directory (stageDir).
func (b *Backend) publish(slot string, spec reconcile.Spec, wantUp bool) error {
	scan, err := openStageDir(b.scandir, b.uid, b.gid)
	if err != nil {
		return err
	}
	defer scan.Close()
	tmp := stagingName(slot)
	stage, err := scan.Mkdir(tmp, 0o755)
	if errors.Is(err, fs.ErrExist) {
		if err := b.removeAll(tmp); err != nil {
			return fmt.Errorf("remove stale staging %s: %w", tmp, err)
		}
		stage, err = scan.Mkdir(tmp, 0o755)
	}
	if err != nil {
		return err
	}
	err = b.fill(stage, spec, wantUp)
	stage.Close()
	if err == nil {
		err = scan.Publish(tmp, slot)
	}
	if err != nil {
		_ = b.removeAll(tmp)
		if errors.Is(err, fs.ErrExist) {
			// Another writer published the slot meanwhile: not a failure;
			// the next pass over it adopts theirs.
			return fmt.Errorf("publish %s: %w", slot, reconcile.ErrSuperseded)
		}
		return fmt.Errorf("publish %s: %w", slot, err)
	}
	return nil
}

// removeAll deletes name in the scandir, never through a symlink.
func (b *Backend) removeAll(name string) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	return mutated(root.RemoveAll(name))
}

// fill writes a new slot's files into its staging dir.
func (b *Backend) fill(stage *stageDir, spec reconcile.Spec, wantUp bool) error {
	logDir, err := stage.Mkdir("log", 0o755)
	if err != nil {
		return err
	}
	defer logDir.Close()
	for _, f := range spec.Files {
		dir, name := stage, f.Path
		if rest, ok := strings.CutPrefix(f.Path, "log/"); ok {
			dir, name = logDir, rest
		}
		if strings.Contains(name, "/") {
			return fmt.Errorf("slot file %s: no such directory in a slot", f.Path)
		}
		if err := dir.Create(name, f.Data, f.Mode); err != nil {
			return err
		}
	}
	if !wantUp {
		if err := stage.Create(DownFile, nil, 0o644); err != nil {
			return err
		}
	}
	data, err := stage.Mkdir("data", 0o755)
	if err != nil {
		return err
	}
	defer data.Close()
	if err := data.Create(path.Base(HashFile), []byte(spec.Hash+"\n"), 0o644); err != nil {
		return err
	}
	if err := data.Create(path.Base(RenderFile), b.renderRecord, 0o644); err != nil {
		return err
	}
	for _, dir := range []*stageDir{stage, logDir} {
		if err := seedSkeleton(dir); err != nil {
			return err
		}
	}
	return nil
}

// seedSkeleton pre-creates what s6-supervise would, owned by the gateway
// user, so that user can run s6-svc and s6-svstat on its slot. The modes
// are s6's own.
func seedSkeleton(dir *stageDir) error {
	const eventMode = 0o730 | fs.ModeSetgid | fs.ModeSticky
	event, err := dir.Mkdir("event", eventMode)
	if err != nil {
		return err
	}
	event.Close()
	sup, err := dir.Mkdir("supervise", 0o755)
	if err != nil {
		return err
	}
	defer sup.Close()
	supEvent, err := sup.Mkdir("event", eventMode)
	if err != nil {
		return err
	}
	supEvent.Close()
	return sup.Mkfifo("control", 0o660)
}

// createFile writes a new file; O_EXCL refuses anything already there,
// including a symlink.
func (b *Backend) createFile(root *os.Root, name string, data []byte, mode fs.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if mutated(err) != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := mutated(errors.Join(werr, cerr)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := mutated(root.Chmod(name, mode.Perm())); err != nil {
		return err
	}
	return b.chown(root, name)
}

// replaceFile swaps a file of a live slot: s6 never sees it half written.
func (b *Backend) replaceFile(root *os.Root, name string, data []byte, mode fs.FileMode) error {
	dir, base := path.Split(name)
	if dir != "" {
		if err := mutated(root.MkdirAll(strings.TrimSuffix(dir, "/"), 0o755)); err != nil {
			return err
		}
	}
	tmp := dir + "." + base + ".hermes-reconcile.tmp"
	if err := mutated(root.Remove(tmp)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := b.createFile(root, tmp, data, mode); err != nil {
		_ = mutated(root.Remove(tmp)) // a short write (disk full) leaves no litter in a live slot
		return err
	}
	if err := mutated(root.Rename(tmp, name)); err != nil {
		_ = mutated(root.Remove(tmp))
		return fmt.Errorf("replace %s: %w", name, err)
	}
	return nil
}

func (b *Backend) writeHash(root *os.Root, slot, hash string) error {
	if err := b.ensureData(root, slot); err != nil {
		return err
	}
	if err := b.replaceFile(root, path.Join(slot, HashFile), []byte(hash+"\n"), 0o644); err != nil {
		return err
	}
	return b.replaceFile(root, path.Join(slot, RenderFile), b.renderRecord, 0o644)
}

// ensureData makes the slot's data/ when a slot we adopt has none.
func (b *Backend) ensureData(root *os.Root, slot string) error {
	switch err := mutated(root.Mkdir(slot+"/data", 0o755)); {
	case err == nil:
		return b.chown(root, slot+"/data")
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	return nil
}

// chown gives name to the gateway user when we run as root. Lchown: a
// symlink is never followed.
func (b *Backend) chown(root *os.Root, name string) error {
	if b.uid < 0 {
		return nil
	}
	return mutated(root.Lchown(name, b.uid, b.gid))
}

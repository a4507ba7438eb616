// Command image builds the controller's OCI image archive without a
// container daemon: one layer holding the static hermes-reconcile-kube
// binary (and an /etc/passwd naming its user), run as uid 65532, no shell,
// the binary as the entrypoint. The archive is an OCI image layout in a
// tar (skopeo's oci-archive:), its one image tagged with the version:
//
//	go run ./deploy/image -binary bin/image/hermes-reconcile-kube -tag v1.2.3 -o bin/hermes-reconcile-kube.oci.tar
//	skopeo copy oci-archive:bin/hermes-reconcile-kube.oci.tar:v1.2.3 docker://registry.example/hermes-reconcile-kube:v1.2.3
//
// The same inputs give the same bytes: every time in it is
// SOURCE_DATE_EPOCH (default 0). `make image` runs it; deploy/image/Dockerfile
// builds the same image with a daemon.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the image's user: distroless's nonroot, no login, no home.
const (
	User    = 65532
	Binary  = "/hermes-reconcile-kube"
	refName = "org.opencontainers.image.ref.name"
)

// tagRE is what an OCI tag may be.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func main() {
	bin := flag.String("binary", "", "the static linux hermes-reconcile-kube to put in the image (required)")
	tag := flag.String("tag", "", "the image's tag: the version (required)")
	out := flag.String("o", "", "the archive to write (required)")
	arch := flag.String("arch", runtime.GOARCH, "the binary's architecture")
	source := flag.String("source", "https://github.com/hermes-reconcile/hermes-reconcile", "org.opencontainers.image.source")
	flag.Parse()
	if *bin == "" || *tag == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(64)
	}
	if err := build(*bin, *tag, *out, *arch, *source); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(bin, tag, out, arch, source string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("%q is not an image tag", tag)
	}
	epoch := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		epoch = time.Unix(n, 0).UTC()
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return fmt.Errorf("%s is not an ELF binary (build it with GOOS=linux)", bin)
	}
	layerTar, err := rootfs(data, epoch)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "deploy/image: " + Binary + " and /etc/passwd", Comment: "one layer, no shell"}})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: epoch}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", User, User),
		Entrypoint: []string{Binary},
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":   "hermes-reconcile-kube",
			"org.opencontainers.image.version": tag,
			"org.opencontainers.image.source":  source,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(out), ".image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refName: tag})); err != nil {
		return err
	}
	return tarDir(dir, out, epoch)
}

// rootfs is the layer: the binary, and /etc/passwd and /etc/group naming
// root and nonroot (65532), as distroless has them, so that tools that look
// a user up find one.
func rootfs(binary []byte, epoch time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", User, User)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", User)
	if err := errors.Join(dir("etc/"), file("etc/group", 0o644, []byte(group)), file("etc/passwd", 0o644, []byte(passwd)),
		file(Binary[1:], 0o755, binary)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir writes the OCI layout in dir as a tar (an oci-archive), its
// entries sorted and timed at epoch, through a temporary file renamed into
// place.
func tarDir(dir, out string, epoch time.Time) error {
	var names []string
	if err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		names = append(names, path)
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(names)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, path := range names {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644, Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

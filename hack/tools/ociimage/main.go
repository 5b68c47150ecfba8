// Command ociimage writes the manager's container image as a tarball (the format of
// `docker save`, which `docker load -i` and other OCI tools read) without a Docker
// daemon or network: an empty base plus one layer holding /manager and the CA
// certificates, configured like the Dockerfile's image (USER 65532:65532,
// ENTRYPOINT ["/manager"]). Timestamps are fixed, so the same inputs give the same
// image digest.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	binary := flag.String("binary", "", "Static manager binary to install as /manager.")
	caCerts := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle to install as /etc/ssl/certs/ca-certificates.crt.")
	tag := flag.String("tag", "oa-capacity-operator:latest", "Image reference recorded in the tarball.")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH the binary was built for.")
	out := flag.String("out", "", "Path of the image tarball to write.")
	flag.Parse()
	if *binary == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "ociimage: --binary and --out are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := build(*binary, *caCerts, *tag, *arch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func build(binaryPath, caPath, tagStr, arch, out string) error {
	ref, err := name.NewTag(tagStr)
	if err != nil {
		return fmt.Errorf("parsing --tag %q: %w", tagStr, err)
	}
	created, err := sourceDate()
	if err != nil {
		return err
	}
	binary, err := os.ReadFile(binaryPath)
	if err != nil {
		return fmt.Errorf("reading the manager binary: %w", err)
	}
	if err := checkBinary(binary, arch); err != nil {
		return fmt.Errorf("%s: %w", binaryPath, err)
	}
	certs, err := os.ReadFile(caPath)
	if err != nil {
		return fmt.Errorf("reading the CA certificates (set --ca-certs to a PEM bundle): %w", err)
	}

	// /manager is owned by root, as the Dockerfile's COPY leaves it: the process runs as
	// 65532 and so cannot rewrite its own binary.
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	for _, e := range []struct {
		name string
		mode int64
		data []byte // nil for a directory
	}{
		{"etc/", 0o755, nil},
		{"etc/ssl/", 0o755, nil},
		{"etc/ssl/certs/", 0o755, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, certs},
		{"manager", 0o755, binary},
	} {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, ModTime: created, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.data == nil {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing the layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return fmt.Errorf("making the layer: %w", err)
	}

	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "ociimage: /manager and CA certificates"},
	})
	if err != nil {
		return fmt.Errorf("adding the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: created}
	cfg.OS = "linux"
	cfg.Architecture = arch
	cfg.Config = v1.Config{
		User:       "65532:65532",
		Entrypoint: []string{"/manager"},
		WorkingDir: "/",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return fmt.Errorf("setting the image config: %w", err)
	}

	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("computing the image digest: %w", err)
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("computing the config digest: %w", err)
	}
	// docker load shows the config digest as the image ID; a registry, the manifest's.
	fmt.Printf("wrote %s: %s\n  digest   %s\n  image ID %s\n", out, ref, digest, configDigest)
	return nil
}

// sourceDate is the time stamped on the layer's files and the config: SOURCE_DATE_EPOCH
// when set (https://reproducible-builds.org/specs/source-date-epoch/), else the epoch.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// elfMachine maps the GOARCH values the manager is usually built for to ELF machines.
var elfMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkBinary rejects what could not run in the image: a binary that is not a Linux
// ELF executable for arch, or one that needs a dynamic loader, which an image with no
// base does not have.
func checkBinary(binary []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return fmt.Errorf("not a Linux (ELF) executable: %w", err)
	}
	defer f.Close()
	if want, ok := elfMachine[arch]; ok && f.Machine != want {
		return fmt.Errorf("built for %v, not --arch %s", f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	return nil
}

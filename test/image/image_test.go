// Package image checks the image tarball `make image` writes: its layout, its config,
// the files of its one layer, and that the manager in it runs. It reads
// $OAC_IMAGE_TAR, else bin/oa-capacity-operator.tar at the repository root, and fails
// when the tarball is missing: run `make image` first (`make test` does).
package image

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	managerPath = "manager"
	certsPath   = "etc/ssl/certs/ca-certificates.crt"
	wantUser    = "65532:65532" // the Dockerfile's USER: nonroot, as in distroless
)

// manifestEntry is one image of a `docker save` tarball's manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// configFile holds the fields of the image config the test checks.
type configFile struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string   `json:"User"`
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func TestImage(t *testing.T) {
	tarPath := os.Getenv("OAC_IMAGE_TAR")
	if tarPath == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		tarPath = filepath.Join(root, "bin", "oa-capacity-operator.tar")
	}
	wantTag := cmp.Or(os.Getenv("OAC_IMAGE_TAG"), "oa-capacity-operator:latest")

	files, err := readTar(tarPath)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no image tarball at %s: run `make image` first (`make test` does)", tarPath)
	}
	if err != nil {
		t.Fatalf("reading the image tarball %s: %v", tarPath, err)
	}

	// The layout: one image, tagged, with its config and one layer.
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"].data, &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 {
		t.Fatalf("manifest.json lists %d images, want 1", len(manifest))
	}
	m := manifest[0]
	if !slices.Equal(m.RepoTags, []string{wantTag}) {
		t.Errorf("RepoTags = %q, want [%q]", m.RepoTags, wantTag)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("the image has %d layers, want 1: %q", len(m.Layers), m.Layers)
	}
	rawConfig, ok := files[m.Config]
	if !ok {
		t.Fatalf("config %s named in manifest.json is not in the tarball", m.Config)
	}
	// The config is named by its digest; a mismatch means a corrupt or hand-edited image.
	if want := "sha256:" + sha256Hex(rawConfig.data); m.Config != want {
		t.Errorf("config file is named %s but its digest is %s", m.Config, want)
	}
	rawLayer, ok := files[m.Layers[0]]
	if !ok {
		t.Fatalf("layer %s named in manifest.json is not in the tarball", m.Layers[0])
	}
	if got, want := sha256Hex(rawLayer.data), strings.TrimSuffix(m.Layers[0], ".tar.gz"); got != want {
		t.Errorf("layer file is named %s but its digest is sha256:%s", m.Layers[0], got)
	}

	// The config: non-root, the manager as entrypoint and nothing else to run.
	var cfg configFile
	if err := json.Unmarshal(rawConfig.data, &cfg); err != nil {
		t.Fatalf("config %s: %v", m.Config, err)
	}
	if cfg.Config.User != wantUser {
		t.Errorf("config User = %q, want %q", cfg.Config.User, wantUser)
	}
	if uid, _, _ := strings.Cut(cfg.Config.User, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("config User %q runs as root", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/manager"}) {
		t.Errorf("config Entrypoint = %q, want [\"/manager\"]", cfg.Config.Entrypoint)
	}
	if cfg.Config.Cmd != nil {
		t.Errorf("config Cmd = %q, want none", cfg.Config.Cmd)
	}
	if cfg.OS != "linux" {
		t.Errorf("config os = %q, want linux", cfg.OS)
	}
	if cfg.Architecture == "" {
		t.Errorf("config architecture is empty")
	}

	// The layer: its uncompressed digest is the config's diff_id.
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("config rootfs = %+v, want type layers with one diff_id", cfg.RootFS)
	}
	zr, err := gzip.NewReader(bytes.NewReader(rawLayer.data))
	if err != nil {
		t.Fatalf("layer %s is not gzip: %v", m.Layers[0], err)
	}
	layerTar, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decompressing layer %s: %v", m.Layers[0], err)
	}
	if got, want := "sha256:"+sha256Hex(layerTar), cfg.RootFS.DiffIDs[0]; got != want {
		t.Errorf("uncompressed layer digest %s, but the config's diff_id is %s", got, want)
	}

	// The layer's files: the manager and CA certificates, and no shell or anything else.
	layer, err := readTarFrom(bytes.NewReader(layerTar))
	if err != nil {
		t.Fatalf("reading layer %s: %v", m.Layers[0], err)
	}
	for name, f := range layer {
		if name != managerPath && name != certsPath && f.typ != tar.TypeDir {
			t.Errorf("layer has %s (type %q); want only /manager, the CA certificates and their directories", name, f.typ)
		}
	}
	if _, ok := layer["bin/sh"]; ok {
		t.Errorf("layer has a shell, bin/sh")
	}
	manager, ok := layer[managerPath]
	switch {
	case !ok:
		t.Fatalf("layer has no /manager")
	case manager.typ != tar.TypeReg || manager.mode&0o111 == 0:
		t.Errorf("/manager is type %q mode %o, want an executable regular file", manager.typ, manager.mode)
	}
	certs, ok := layer[certsPath]
	switch {
	case !ok:
		t.Errorf("layer has no /%s", certsPath)
	case certs.typ != tar.TypeReg || len(certs.data) == 0:
		t.Errorf("/%s is type %q with %d bytes, want a non-empty regular file", certsPath, certs.typ, len(certs.data))
	case !bytes.Contains(certs.data, []byte("BEGIN CERTIFICATE")):
		t.Errorf("/%s holds no PEM certificate", certsPath)
	}

	// The manager runs: --help prints its flags and exits 0.
	bin := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(bin, manager.data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("/manager --help: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("-callback-bind-address")) {
		t.Errorf("/manager --help does not list -callback-bind-address:\n%s", out)
	}
}

// tarFile is one entry of a tar archive.
type tarFile struct {
	typ  byte
	mode int64
	data []byte
}

func readTar(name string) (map[string]tarFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read only: a close error loses nothing
	return readTarFrom(f)
}

// readTarFrom reads every entry of a tar archive, by cleaned path; a path that occurs
// twice is an error, since the later entry would silently win when unpacked.
func readTarFrom(r io.Reader) (map[string]tarFile, error) {
	files := map[string]tarFile{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%s occurs twice", name)
		}
		files[name] = tarFile{typ: hdr.Typeflag, mode: hdr.Mode, data: data}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// repoRoot walks up from the working directory, the package's directory under go test,
// to the directory holding go.mod. (internal/testenv has a RepoRoot too, but importing
// it would pull envtest and client-go into this standard-library-only test.)
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

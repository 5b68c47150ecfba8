// Package walkthrough runs the README's "See it work" against make run's local mode,
// headless: the same commands, checked against the outputs the README shows, so the
// README cannot rot. It needs the binaries of `make build`, kubectl and curl; `make
// test` builds the binaries first.
package walkthrough

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// step is a command of the walkthrough and the output the README shows for it.
type step struct {
	cmd  string
	want []string
}

func TestREADMEWalkthrough(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"localrun", "manager", "send-callback"} {
		if _, err := os.Stat(filepath.Join(root, "bin", bin)); err != nil {
			t.Fatalf("bin/%s is missing (run make build): %v", bin, err)
		}
	}
	for _, tool := range []string{"kubectl", "curl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walkthrough needs %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, steps, err := parseWalkthrough(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}

	dir := t.TempDir()
	out := startLocalRun(t, root, dir)
	testenv.Eventually(t, 3*time.Minute, func() error {
		if !strings.Contains(out.String(), "localrun: ready") {
			return errors.New("make run's local mode is not ready yet")
		}
		return nil
	})
	// What make run prints to try is the README's walkthrough.
	if printed := printedWalkthrough(out.String()); !slices.Equal(printed, script) {
		t.Fatalf("localrun prints a walkthrough that is not the README's:\nprinted:\n%s\nREADME:\n%s",
			strings.Join(printed, "\n"), strings.Join(script, "\n"))
	}

	env := append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"))
	for _, s := range steps {
		got, ok := runStep(t, root, env, s)
		if !ok {
			t.Fatalf("$ %s\ngot:\n%s\nREADME shows:\n%s\nlocal run's output:\n%s", s.cmd, got, strings.Join(s.want, "\n"), out.String())
		}
	}
}

// runStep runs a command until its output matches the README's. A command that
// changes something runs once; one that only reads is tried again for a while, as a
// reader would look again: the operator acts within a second, not at once.
func runStep(t *testing.T, root string, env []string, s step) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", s.cmd)
		cmd.Dir, cmd.Env = root, env
		raw, err := cmd.CombinedOutput()
		cancel()
		got := strings.TrimRight(string(raw), "\n")
		if err == nil && matches(got, s.want) {
			return got, true
		}
		if err != nil {
			got += fmt.Sprintf("\n(%v)", err)
		}
		if !readOnly(s.cmd) || time.Now().After(deadline) {
			return got, false
		}
		timer := time.NewTimer(300 * time.Millisecond)
		<-timer.C
	}
}

// readOnly tells the commands that may be run again.
func readOnly(cmd string) bool {
	for _, w := range []string{"send-callback", "annotate", " -d ", "--data"} {
		if strings.Contains(cmd, w) {
			return false
		}
	}
	return true
}

var (
	// kubectl's ages: 5s, 2m3s, 4h, ...
	age = regexp.MustCompile(`^(\d+(s|m|h|d|y))+$`)
	// The UID part of a scale-out account ID.
	uid = regexp.MustCompile(`oac-[0-9a-f]{32}-`)
)

// matches compares output with the README's line by line and field by field, after
// putting placeholders for what differs from run to run: ages and UIDs.
func matches(got string, want []string) bool {
	lines := strings.Split(got, "\n")
	if got == "" {
		lines = nil
	}
	if len(lines) != len(want) {
		return false
	}
	for i := range lines {
		if !slices.Equal(fields(lines[i]), fields(want[i])) {
			return false
		}
	}
	return true
}

func fields(line string) []string {
	f := strings.Fields(uid.ReplaceAllString(line, "oac-<uid>-"))
	for i := range f {
		if age.MatchString(f[i]) {
			f[i] = "<age>"
		}
	}
	return f
}

// parseWalkthrough reads the console block after the README's walkthrough marker: its
// comment and command lines as make run prints them, and each command with the
// output shown under it.
func parseWalkthrough(readme string) (script []string, steps []step, err error) {
	_, rest, ok := strings.Cut(readme, "<!-- walkthrough")
	if !ok {
		return nil, nil, errors.New("no <!-- walkthrough marker")
	}
	_, rest, ok = strings.Cut(rest, "```console\n")
	if !ok {
		return nil, nil, errors.New("no console block after the walkthrough marker")
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		return nil, nil, errors.New("the walkthrough's console block does not end")
	}
	for _, line := range strings.Split(block, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "# "):
			script = append(script, line)
		case strings.HasPrefix(line, "$ "):
			script = append(script, line[2:])
			steps = append(steps, step{cmd: line[2:]})
		case len(steps) == 0:
			return nil, nil, fmt.Errorf("output %q before any command", line)
		default:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	if len(steps) == 0 {
		return nil, nil, errors.New("the walkthrough has no commands")
	}
	return script, steps, nil
}

// printedWalkthrough is what localrun printed to try: its indented lines after the
// export of KUBECONFIG.
func printedWalkthrough(out string) []string {
	var lines []string
	started := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  export KUBECONFIG="):
			started = true
		case started && strings.HasPrefix(line, "  "):
			lines = append(lines, line[2:])
		case started && line != "":
			return lines
		}
	}
	return lines
}

// startLocalRun starts make run's local mode as hack/run.sh does, with its kubeconfig
// in dir, and stops it, gracefully, when the test ends. The manager's metrics and
// probes are off: the walkthrough does not use them, and their ports stay free.
func startLocalRun(t *testing.T, root, dir string) *testenv.Buffer {
	t.Helper()
	out := &testenv.Buffer{}
	cmd := exec.Command(filepath.Join(root, "bin", "localrun"), "--dir", dir, "--",
		filepath.Join(root, "bin", "manager"), "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--callback-allow-unsigned")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start localrun: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("localrun did not stop cleanly: %v\n%s", err, out.String())
			}
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("localrun did not stop within a minute of SIGINT")
		}
	})
	return out
}

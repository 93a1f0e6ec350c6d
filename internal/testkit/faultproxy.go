package testkit

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FaultProxy is cmd/faultproxy running as its own process, forwarding a
// loopback port to a real server so a test can fault the path the way a
// network does:
//
//   - Cut kills the process: open connections reset, new ones are refused.
//   - Freeze stops it (SIGSTOP): the kernel still completes connections and
//     accepts bytes, but nothing is forwarded either way: a frozen peer.
//   - HalfOpen makes the connections open now silently drop every byte both
//     ways while staying open (a NAT or firewall that forgot them); new
//     connections work.
//   - Restore undoes whichever fault is on: restarts a cut proxy on the
//     same port, thaws a frozen one, closes the half-open connections.
//
// Each method returns once the fault is in force. The process is killed
// when the test ends.
type FaultProxy struct {
	tb     testing.TB
	target string
	addr   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	state  string // "", "cut", "frozen", "half-open"
	exited chan struct{}
}

// StartFaultProxy builds cmd/faultproxy (once per test binary), starts it
// on a free loopback port forwarding to target (host:port), and stops it
// when the test ends.
func StartFaultProxy(tb testing.TB, target string) *FaultProxy {
	tb.Helper()
	p := &FaultProxy{tb: tb, target: target}
	p.start("127.0.0.1:0")
	tb.Cleanup(p.kill)
	return p
}

// Addr is the proxy's host:port.
func (p *FaultProxy) Addr() string { return p.addr }

// Pid is the proxy process's id (it changes when Restore restarts a cut
// proxy).
func (p *FaultProxy) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Cut kills the proxy process.
func (p *FaultProxy) Cut() {
	p.tb.Helper()
	p.Restore()
	p.kill()
	p.state = "cut"
}

// Freeze stops the proxy process (SIGSTOP).
func (p *FaultProxy) Freeze() {
	p.tb.Helper()
	p.Restore()
	p.signal(syscall.SIGSTOP)
	p.state = "frozen"
}

// Thaw resumes a frozen proxy (SIGCONT); what it held is forwarded then.
func (p *FaultProxy) Thaw() {
	p.tb.Helper()
	p.signal(syscall.SIGCONT)
	if p.state == "frozen" {
		p.state = ""
	}
}

// HalfOpen makes every connection open now drop its bytes (SIGUSR1).
func (p *FaultProxy) HalfOpen() {
	p.tb.Helper()
	p.Restore()
	p.signal(syscall.SIGUSR1)
	p.await("half-open")
	p.state = "half-open"
}

// Restore ends the current fault, if any.
func (p *FaultProxy) Restore() {
	p.tb.Helper()
	switch p.state {
	case "cut":
		p.start(p.addr)
	case "frozen":
		p.signal(syscall.SIGCONT)
	case "half-open":
		p.signal(syscall.SIGUSR2)
		p.await("healed")
	}
	p.state = ""
}

func (p *FaultProxy) start(listen string) {
	p.tb.Helper()
	bin, err := faultProxyBinary()
	if err != nil {
		p.tb.Fatalf("building cmd/faultproxy: %v", err)
	}
	var cmd *exec.Cmd
	var line string
	// A port just freed by a killed proxy may take a moment to bind again.
	for attempt := 0; ; attempt++ {
		cmd = exec.Command(bin, "-listen", listen, "-target", p.target)
		cmd.SysProcAttr = procAttr()
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			p.tb.Fatalf("starting faultproxy: %v", err)
		}
		lines := make(chan string, 8)
		exited := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			_ = cmd.Wait()
			close(exited)
		}()
		line = <-lines
		if strings.HasPrefix(line, "listening ") {
			p.mu.Lock()
			p.cmd, p.stdin, p.lines, p.exited = cmd, stdin, lines, exited
			p.mu.Unlock()
			break
		}
		if attempt == 50 {
			p.tb.Fatalf("faultproxy did not start on %s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.addr = strings.TrimPrefix(line, "listening ")
}

func (p *FaultProxy) signal(s syscall.Signal) {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.tb.Fatalf("faultproxy: %v: %v", s, err)
	}
}

func (p *FaultProxy) await(want string) {
	p.tb.Helper()
	select {
	case line := <-p.lines:
		if line != want {
			p.tb.Fatalf("faultproxy said %q, want %q", line, want)
		}
	case <-time.After(10 * time.Second):
		p.tb.Fatalf("faultproxy did not confirm %q", want)
	}
}

// kill ends the process (also a stopped one) and waits for it.
func (p *FaultProxy) kill() {
	p.mu.Lock()
	cmd, exited, stdin := p.cmd, p.exited, p.stdin
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = stdin.Close()
	_ = cmd.Process.Kill()
	<-exited
}

// faultProxyBuild caches the one build of cmd/faultproxy per test binary.
var faultProxyBuild struct {
	once sync.Once
	path string
	err  error
}

// faultProxyBinary builds cmd/faultproxy into the temp directory, under a
// name that carries a hash of its source, so test binaries share one build
// per version of the program and none is left behind per run.
func faultProxyBinary() (string, error) {
	b := &faultProxyBuild
	b.once.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(here), "..", "..")
		src, err := os.ReadFile(filepath.Join(root, "cmd", "faultproxy", "main.go"))
		if err != nil {
			b.err = err
			return
		}
		sum := sha256.Sum256(src)
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("sessiond-faultproxy-%d-%s", os.Getuid(), hex.EncodeToString(sum[:8])))
		b.path = filepath.Join(dir, "faultproxy")
		if _, err := os.Stat(b.path); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.err = err
			return
		}
		tmp := fmt.Sprintf("%s.%d", b.path, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/faultproxy")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v: %s", err, out)
			return
		}
		b.err = os.Rename(tmp, b.path)
	})
	return b.path, b.err
}

package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv set to "1" makes a missing PostgreSQL installation fail the
// test instead of skipping it, as in CI.
const RequireEnv = "HERALD_REQUIRE_POSTGRES"

// Timing of starts and stops.
const (
	readyTimeout = 30 * time.Second // from start until it accepts queries
	stopTimeout  = 30 * time.Second // from the signal until it exits
)

// Mode is how Stop shuts the server down.
type Mode int

const (
	// Fast disconnects every client, writes a checkpoint and exits
	// (SIGINT, pg_ctl's "fast" mode): an operator's restart.
	Fast Mode = iota
	// Immediate exits at once without a checkpoint (SIGQUIT, pg_ctl's
	// "immediate" mode): the next start recovers from the WAL, as after
	// a crash.
	Immediate
)

// String returns pg_ctl's name for the mode.
func (m Mode) String() string {
	if m == Immediate {
		return "immediate"
	}
	return "fast"
}

// Server is a private PostgreSQL server: its data, sockets and log live
// in a temporary directory removed when the test ends, and it listens on
// one loopback port for its whole life, across restarts.
type Server struct {
	bin  string
	dir  string
	port int
	cred *syscall.Credential // the OS user the server runs as; nil: ours

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// New initialises a database cluster and starts its server. It skips t
// when PostgreSQL is not installed, or the test runs as root and there is
// no postgres OS user (fails instead when RequireEnv is "1"). The
// server is stopped and its directory removed when t ends. When the test
// runs as root (initdb refuses to), the server runs as the postgres OS
// user.
func New(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	var cred *syscall.Credential
	if err == nil {
		cred, err = serverUser()
	}
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v, and %s=1", err, RequireEnv)
		}
		t.Skipf("%v: skipping the test that needs a private PostgreSQL server", err)
	}
	// Not t.TempDir: its parents are private to our user, and the server
	// may run as another.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir, cred: cred}
	t.Cleanup(func() {
		if err := s.stop(Immediate); err != nil {
			t.Errorf("stop private PostgreSQL server: %v", err)
		}
		os.RemoveAll(dir)
	})
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if s.port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	if err := s.initdb(); err != nil {
		t.Fatal(err)
	}
	s.Start(t)
	return s
}

// URL is the server's connection URL: the superuser postgres, trusted on
// loopback, and its default database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the loopback TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Start starts the server on its port and data, and waits until it
// accepts queries (after crash recovery, if the last stop was
// Immediate). It fails t if the server is running already.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("start private PostgreSQL server: %v\n%s", err, s.logTail())
	}
}

// Stop shuts the server down in mode and waits until it has exited. It
// does nothing when the server is not running.
func (s *Server) Stop(t testing.TB, mode Mode) {
	t.Helper()
	if err := s.stop(mode); err != nil {
		t.Fatalf("stop private PostgreSQL server: %v\n%s", err, s.logTail())
	}
}

// Pause stops every process of the server (SIGSTOP) without closing a
// connection: the database hangs, as behind a network partition, except
// that the kernel still completes TCP handshakes. Stop and the cleanup
// resume it first.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.signalAll(syscall.SIGSTOP); err != nil {
		t.Fatalf("pause the private PostgreSQL server: %v", err)
	}
}

// Resume lets a paused server run again (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.signalAll(syscall.SIGCONT); err != nil {
		t.Fatalf("resume the private PostgreSQL server: %v", err)
	}
}

// signalAll sends sig to the running postmaster (our child), then to each
// of its children, by PID. (Each backend leads a process group of its
// own, so the postmaster's group does not hold them.) s.mu must be held.
func (s *Server) signalAll(sig syscall.Signal) error {
	if s.cmd == nil {
		return errors.New("the server is not running")
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %v to the postmaster: %w", sig, err)
	}
	for _, child := range childPIDs(pid) {
		if err := syscall.Kill(child, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %v to server process %d: %w", sig, child, err)
		}
	}
	return nil
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which may hold spaces and
		// parentheses, start after the last ')': state, then ppid.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// initdb creates the cluster in dir/data.
func (s *Server) initdb() error {
	cmd := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

// start runs the postmaster and waits until it is ready.
func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("already running")
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := s.command("postgres", "-D", s.dataDir(), "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		// An immediate stop is a process crash, not an OS crash: WAL
		// written before it stays in the page cache, so recovery is the
		// same without fsync, and the tests are lighter on the disk.
		"-c", "fsync=off",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=100")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return s.waitReady(exited)
}

// waitReady polls with a connection and a query until the server answers,
// it exits, or readyTimeout passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited while starting: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", readyTimeout, err)
		}
	}
}

// stop signals the postmaster (our child, by its PID) and waits for it,
// killing it should it not exit within stopTimeout.
func (s *Server) stop(mode Mode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.signalAll(syscall.SIGCONT) // a paused server would not act on sig; an error means it is gone
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	sig := syscall.SIGINT
	if mode == Immediate {
		sig = syscall.SIGQUIT
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("the server did not exit within %v of %v; killed", stopTimeout, sig)
	}
}

// command returns the PostgreSQL program name run as the server's user,
// in the server's directory.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// Pdeathsig takes the server down with the test binary should it die
	// without running its cleanups (a test timeout's panic). Linux sends
	// it when the thread that started the server ends; Go ends a thread
	// only with a goroutine that exits locked to it, which tests do not.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "server.log") }

// logTail returns the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return ""
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "server log (end):\n" + string(b)
}

// findBin returns the directory of initdb and postgres: the newest
// /usr/lib/postgresql/<version>/bin (Debian's layout), else that of
// postgres on PATH.
func findBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	for _, d := range matches {
		if checkBin(d) == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && checkBin(filepath.Dir(p)) == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH")
}

// version returns the major version in a /usr/lib/postgresql/<v>/bin path.
func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// checkBin reports whether dir holds the programs the package runs.
func checkBin(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("no %s in %s: %w", name, dir, err)
		}
	}
	return nil
}

// serverUser returns the credential to run the server with: nil, our own,
// unless we are root, which PostgreSQL refuses to run as; then the
// postgres OS user's.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs another OS user to run as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a loopback TCP port that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

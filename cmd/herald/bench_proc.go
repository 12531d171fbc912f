package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// listenLine matches the line `herald serve` prints once it listens.
var listenLine = regexp.MustCompile(`herald listening on (http://\S+)`)

// benchServer is the Herald server a bench run drives: a child process of
// this same binary (so that its CPU time and memory are its own), or an
// existing server given by URL.
type benchServer struct {
	URL   string
	Token string
	cmd   *exec.Cmd
	start time.Time
}

// startServeProcess runs `exe serve` as a child process (env entries win
// over the defaults set here) and waits until it listens.
func startServeProcess(exe, dataDir string, env []string, logs io.Writer) (*benchServer, error) {
	var raw [16]byte
	rand.Read(raw[:])
	token := "bench_" + hex.EncodeToString(raw[:])
	cmd := exec.Command(exe, "serve")
	cmd.Env = append(os.Environ(),
		"HERALD_ADDR=127.0.0.1:0",
		"HERALD_DATA_DIR="+dataDir,
		"HERALD_ADMIN_TOKEN="+token,
		"HERALD_ALLOWED_DESTINATION_CIDRS=127.0.0.0/8",
		"HERALD_LOG_LEVEL=warn",
	)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	urls := make(chan string, 1)
	ended := make(chan struct{}) // stdout closed: the process is gone
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return &benchServer{URL: u, Token: token, cmd: cmd, start: start}, nil
	case <-ended:
		err := cmd.Wait()
		return nil, fmt.Errorf("herald serve exited before listening (%v); its messages are above", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("herald serve did not start within 30s")
	}
}

// stop ends the child with SIGTERM and waits for it.
func (s *benchServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// procStats is a child process's resource use so far.
type procStats struct {
	CPU     time.Duration // user + system
	RSS     int64         // bytes now
	PeakRSS int64         // bytes, high-water mark
}

// stats reads the child's /proc entries; zero for an external server.
func (s *benchServer) stats() procStats {
	if s.cmd == nil || s.cmd.Process == nil {
		return procStats{}
	}
	return readProcStats(s.cmd.Process.Pid)
}

func readProcStats(pid int) procStats {
	var st procStats
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name (which may hold spaces) start at ')'.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 13 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				stt, _ := strconv.ParseInt(f[12], 10, 64)
				st.CPU = time.Duration(ut+stt) * time.Second / 100 // USER_HZ is 100 on Linux
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				st.RSS = kb << 10
			case "VmHWM":
				st.PeakRSS = kb << 10
			}
		}
	}
	return st
}

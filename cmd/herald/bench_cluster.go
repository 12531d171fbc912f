package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
)

// cluster starts n Herald servers for one scenario: with n > 1 (on
// PostgreSQL only) they share the run's schema and an admin token, as
// nodes of one installation do; with n == 1 it is b.server.
func (b *bench) cluster(n int) ([]*benchServer, error) {
	if n <= 1 {
		s, _, err := b.server()
		if err != nil {
			return nil, err
		}
		return []*benchServer{s}, nil
	}
	b.runs++
	var raw [16]byte
	rand.Read(raw[:])
	token := "bench_" + hex.EncodeToString(raw[:])
	env := append(append(b.storeEnv(b.runs), b.cfg.ServerEnv...), "HERALD_ADMIN_TOKEN="+token)
	nodes := make([]*benchServer, 0, n)
	for i := range n {
		dir := filepath.Join(b.runDir, "run-"+strconv.Itoa(b.runs)+"-node-"+strconv.Itoa(i+1))
		s, err := startServeProcess(b.cfg.ServerBinary, dir, env, b.logs)
		if err != nil {
			stopAll(nodes)
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		s.Token = token
		nodes = append(nodes, s)
	}
	return nodes, nil
}

// stopAll stops every server.
func stopAll(nodes []*benchServer) {
	for _, s := range nodes {
		s.stop()
	}
}

// sumStats adds up the servers' CPU time and peak memory.
func sumStats(nodes []*benchServer) procStats {
	var sum procStats
	for _, s := range nodes {
		st := s.stats()
		sum.CPU += st.CPU
		sum.RSS += st.RSS
		sum.PeakRSS += st.PeakRSS
	}
	return sum
}

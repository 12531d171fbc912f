package main

import (
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig("serve", nil, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr: "127.0.0.1:8071", DataDir: "herald-data",
		RetrySchedule:       []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		RetryJitter:         0.2,
		RequestTimeout:      15 * time.Second,
		Concurrency:         2048,
		EndpointConcurrency: 32,
		MaxBodyBytes:        1 << 20,
		MaxEndpointsPerApp:  100,
		ShutdownTimeout:     10 * time.Second,
		LogLevel:            "info",
		LogFormat:           "text",
		Role:                "all",
		DatabaseMaxConns:    16,
		LeaderTerm:          15 * time.Second,
		Metrics:             true,
		APITimeout:          10 * time.Second,
		APIMaxInFlight:      1024,
		AutoDisableAfter:    120 * time.Hour,

		AttemptResponseRetention: 30 * 24 * time.Hour,
		AttemptRetention:         90 * 24 * time.Hour,
		TaskRetention:            30 * 24 * time.Hour,
		RetentionInterval:        time.Minute,
		PayloadRetentionDay:      24 * time.Hour,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.RetryPolicy().MaxAttempts(); got != 8 {
		t.Errorf("default schedule gives %d attempts, want 8", got)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	env := []string{"HERALD_ADDR=0.0.0.0:9000", "HERALD_REQUEST_TIMEOUT=3s", "HERALD_ALLOWED_DESTINATION_CIDRS=127.0.0.0/8, ::1", "PATH=/bin"}
	cfg, err := loadConfig("serve", []string{"--addr", "127.0.0.1:0", "--retry-schedule", "1s,2s"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:0" {
		t.Errorf("flag must beat env: Addr = %q", cfg.Addr)
	}
	if cfg.RequestTimeout != 3*time.Second {
		t.Errorf("env must beat default: RequestTimeout = %v", cfg.RequestTimeout)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !reflect.DeepEqual(cfg.RetrySchedule, want) {
		t.Errorf("RetrySchedule = %v, want %v", cfg.RetrySchedule, want)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !reflect.DeepEqual(cfg.AllowedDestinationCIDRs, want) {
		t.Errorf("AllowedDestinationCIDRs = %v, want %v", cfg.AllowedDestinationCIDRs, want)
	}
}

func TestLoadConfigNamesEveryProblem(t *testing.T) {
	env := []string{
		"HERALD_RETRY_SCHEDULE=5s,soon",
		"HERALD_REQUEST_TIMEOUT=-1s",
		"HERALD_ALLOWED_DESTINATION_CIDRS=10.0.0.0/33",
		"HERALD_ADRR=127.0.0.1:1", // typo
		"HERALD_LOG_LEVEL=loud",
		"HERALD_DATABASE_URL=mysql://db/herald",
		"HERALD_DATABASE_SCHEMA=Herald; DROP",
	}
	_, err := loadConfig("serve", nil, env, io.Discard)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"HERALD_RETRY_SCHEDULE", "soon", "HERALD_REQUEST_TIMEOUT", "HERALD_ALLOWED_DESTINATION_CIDRS", "HERALD_ADRR: unknown setting", "HERALD_LOG_LEVEL",
		"HERALD_DATABASE_URL", "HERALD_DATABASE_SCHEMA"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

func TestLoadConfigRejectsUnknownFlag(t *testing.T) {
	if _, err := loadConfig("serve", []string{"--no-such-flag"}, nil, io.Discard); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := loadConfig("serve", []string{"stray"}, nil, io.Discard); err == nil {
		t.Fatal("stray argument accepted")
	}
}

func TestLoadConfigDatabase(t *testing.T) {
	cfg, err := loadConfig("serve", nil, nil, io.Discard)
	if err != nil || !cfg.Embedded() {
		t.Fatalf("default store is not the embedded one: %+v, %v", cfg, err)
	}
	env := []string{"HERALD_DATABASE_URL=postgres://h:p@127.0.0.1:5432/h", "HERALD_DATABASE_SCHEMA=herald_2", "HERALD_DATABASE_MAX_CONNS=40"}
	cfg, err = loadConfig("serve", nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Embedded() || cfg.DatabaseSchema != "herald_2" || cfg.DatabaseMaxConns != 40 {
		t.Fatalf("database settings not applied: %+v", cfg)
	}
}

func TestLoadConfigDeliveryLeaseMustCoverTheAttempt(t *testing.T) {
	env := []string{"HERALD_REQUEST_TIMEOUT=10s", "HERALD_DELIVERY_LEASE=12s"}
	_, err := loadConfig("serve", nil, env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HERALD_DELIVERY_LEASE") || !strings.Contains(err.Error(), "request timeout") {
		t.Fatalf("a lease shorter than the request timeout + 5s: err %v, want it named", err)
	}
	cfg, err := loadConfig("serve", []string{"--delivery-lease", "15s", "--leader-term", "2s"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DeliveryLease != 15*time.Second || cfg.LeaderTerm != 2*time.Second {
		t.Fatalf("DeliveryLease %v, LeaderTerm %v; want 15s, 2s", cfg.DeliveryLease, cfg.LeaderTerm)
	}
	if _, err := loadConfig("serve", []string{"--leader-term", "100ms"}, nil, io.Discard); err == nil {
		t.Fatal("a leader term under 1s was accepted")
	}
}

func TestLoadConfigAutoDisableAfter(t *testing.T) {
	cfg, err := loadConfig("serve", nil, []string{"HERALD_AUTO_DISABLE_AFTER=0"}, io.Discard)
	if err != nil || cfg.AutoDisableAfter != 0 {
		t.Fatalf("HERALD_AUTO_DISABLE_AFTER=0: %v, %v", cfg.AutoDisableAfter, err)
	}
	cfg, err = loadConfig("serve", []string{"--auto-disable-after", "36h"}, []string{"HERALD_AUTO_DISABLE_AFTER=1h"}, io.Discard)
	if err != nil || cfg.AutoDisableAfter != 36*time.Hour {
		t.Fatalf("flag over environment: %v, %v", cfg.AutoDisableAfter, err)
	}
	for _, bad := range []string{"-1h", "soon"} {
		if _, err := loadConfig("serve", nil, []string{"HERALD_AUTO_DISABLE_AFTER=" + bad}, io.Discard); err == nil ||
			!strings.Contains(err.Error(), "HERALD_AUTO_DISABLE_AFTER") {
			t.Errorf("HERALD_AUTO_DISABLE_AFTER=%s: %v", bad, err)
		}
	}
}

func TestLoadConfigRetention(t *testing.T) {
	env := []string{"HERALD_ATTEMPT_RESPONSE_RETENTION=12h", "HERALD_ATTEMPT_RETENTION=7d",
		"HERALD_RETENTION_INTERVAL=30s", "HERALD_PAYLOAD_RETENTION_DAY=1s", "HERALD_TASK_RETENTION=2d"}
	cfg, err := loadConfig("serve", nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AttemptResponseRetention != 12*time.Hour || cfg.AttemptRetention != 7*24*time.Hour ||
		cfg.RetentionInterval != 30*time.Second || cfg.PayloadRetentionDay != time.Second || cfg.TaskRetention != 48*time.Hour {
		t.Fatalf("retention settings not applied: %+v", cfg)
	}
	for _, bad := range [][]string{
		{"HERALD_ATTEMPT_RETENTION=soon"},
		{"HERALD_ATTEMPT_RETENTION=0d"},
		{"HERALD_ATTEMPT_RESPONSE_RETENTION=-1h"},
		{"HERALD_PAYLOAD_RETENTION_DAY=48h"},
		{"HERALD_TASK_RETENTION=later"},
		{"HERALD_ATTEMPT_RESPONSE_RETENTION=10d", "HERALD_ATTEMPT_RETENTION=5d"}, // rows before their bodies
	} {
		_, err := loadConfig("serve", nil, bad, io.Discard)
		if err == nil || !strings.Contains(err.Error(), strings.Split(bad[len(bad)-1], "=")[0]) {
			t.Errorf("%v: err %v, want the setting named", bad, err)
		}
	}
}

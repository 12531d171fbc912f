package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestListenerKeepalive checks that the listener's connection still
// receives notifications after quiet periods in which it was pinged.
func TestListenerKeepalive(t *testing.T) {
	url := testURL(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	signals := make(chan struct{}, 1)
	signal := func() {
		select {
		case signals <- struct{}{}:
		default:
		}
	}
	channel := notifyChannel(newSchema(t, url))
	l, err := startListener(context.Background(), cfg, channel, signal, slog.New(slog.DiscardHandler), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer l.stop()
	time.Sleep(300 * time.Millisecond) // several keepalive pings; no signal expected
	select {
	case <-signals:
		t.Fatal("signal without a notification")
	default:
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "SELECT pg_notify($1, '')", channel); err != nil {
		t.Fatal(err)
	}
	select {
	case <-signals:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal for a notification sent after keepalive pings")
	}
	l.stop()
	l.stop() // safe twice
}

package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultNotifyChannel is the LISTEN/NOTIFY channel of a store without a
// Schema.
const DefaultNotifyChannel = "herald_deliveries"

// maxChannelLen is the longest channel name PostgreSQL accepts
// (NAMEDATALEN - 1 bytes).
const maxChannelLen = 63

// Listener timing: how long the connection may stay silent before it is
// pinged, how long a ping may take, and the bounds of the reconnection
// backoff.
const (
	listenKeepalive   = 30 * time.Second
	listenPingTimeout = 5 * time.Second
	listenBackoffMin  = 100 * time.Millisecond
	listenBackoffMax  = 10 * time.Second
)

// notifyChannel returns the channel for stores in schema: the default one
// without a schema, else one per schema, so that the Herald installations
// kept in different schemas of one database do not wake each other.
func notifyChannel(schema string) string {
	if schema == "" {
		return DefaultNotifyChannel
	}
	name := DefaultNotifyChannel + ":" + schema
	if len(name) > maxChannelLen {
		sum := sha256.Sum256([]byte(schema))
		name = DefaultNotifyChannel + ":" + hex.EncodeToString(sum[:16])
	}
	return name
}

// listener holds a dedicated connection that LISTENs on the store's
// channel and calls signal for every notification. When the connection
// drops it reconnects with backoff and calls signal once it listens again,
// since deliveries may have become due meanwhile.
type listener struct {
	connCfg   *pgx.ConnConfig
	channel   string
	signal    func()
	logger    *slog.Logger
	keepalive time.Duration // quiet time before a ping
	cancel    context.CancelFunc
	done      chan struct{}
}

// startListener connects and LISTENs before it returns, so that every
// notification sent after Open reaches the store, then keeps listening in
// a goroutine until stop. It pings the connection after each quiet
// keepalive.
func startListener(ctx context.Context, connCfg *pgx.ConnConfig, channel string, signal func(), logger *slog.Logger,
	keepalive time.Duration) (*listener, error) {
	l := &listener{connCfg: connCfg, channel: channel, signal: signal, logger: logger, keepalive: keepalive,
		done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

// stop ends the listener and waits for it to close its connection. It is
// safe to call more than once.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}

// connect opens the listening connection.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.connCfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// run listens on conn, and on new connections after it fails, until ctx
// ends.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	backoff := listenBackoffMin
	for {
		if conn != nil {
			err := l.listen(ctx, conn)
			closeConn(conn)
			conn = nil
			if ctx.Err() != nil {
				return
			}
			l.logger.Warn("delivery notifications: connection lost, reconnecting", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		c, err := l.connect(ctx)
		if err != nil {
			backoff = min(backoff*2, listenBackoffMax)
			l.logger.Debug("delivery notifications: reconnect failed", "err", err)
			continue
		}
		conn, backoff = c, listenBackoffMin
		l.logger.Info("delivery notifications: listening again")
		l.signal() // work may have arrived while nobody listened
	}
}

// listen waits for notifications on conn, pinging it after each quiet
// keepalive so that a silently dead connection is noticed, and
// returns the error that ended the connection (or ctx's).
func (l *listener) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.keepalive)
		_, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			l.signal()
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !pgconn.Timeout(err):
			return err
		}
		pingCtx, cancel := context.WithTimeout(ctx, listenPingTimeout)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// closeConn closes conn, waiting at most a second for a clean goodbye.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// stmt is one statement of a pipelined write operation.
type stmt struct {
	sql  string
	args []any
	// read, if set, reads the statement's rows (all of them, or the
	// rest are discarded); it must set the operation's outputs afresh,
	// since an operation may run more than once. Its error means a broken
	// result (a bug), not an outcome: in a pipelined batch the server
	// commits whatever the client makes of the results, so an outcome
	// such as "not found" must be an output, or an error raised by the
	// statement itself.
	read func(rows pgx.Rows) error
}

// pipeOp is a write operation made of statements that need nothing from
// each other's results, so that a writer can send the statements of a
// whole batch of such operations at once (pgx.Batch: one round trip) and
// read their results afterwards.
type pipeOp struct {
	stmts []stmt
	// mapErr, if set, turns the error of one of the statements (a
	// constraint violation, say) into the operation's error.
	mapErr func(err error) error
	// notify is set when the operation made deliveries due (a read
	// function may set it): the batch then NOTIFYs the store's channel.
	notify bool
}

// queue adds the operation's statements to b.
func (p *pipeOp) queue(b *pgx.Batch) {
	for i := range p.stmts {
		b.Queue(p.stmts[i].sql, p.stmts[i].args...)
	}
}

// readResults reads the results of the operation's statements from br, in
// order, and returns the first error, unmapped (see result). A panic in a
// read function is returned as an error.
func (p *pipeOp) readResults(br pgx.BatchResults) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write operation panicked: %v", r)
		}
	}()
	for i := range p.stmts {
		if err = readStmt(br, &p.stmts[i]); err != nil {
			return err
		}
	}
	return nil
}

// result maps the error of one of the operation's statements to the
// operation's error.
func (p *pipeOp) result(err error) error {
	if err != nil && p.mapErr != nil {
		return p.mapErr(err)
	}
	return err
}

// readStmt reads one statement's result from br.
func readStmt(br pgx.BatchResults, st *stmt) error {
	if st.read == nil {
		_, err := br.Exec()
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := st.read(rows); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// run runs the operation inside x's transaction (or savepoint), its
// statements sent together: the form a pipelined operation takes in a
// batch that also holds operations of the general form, or when a batch
// runs again with a savepoint per operation.
func (p *pipeOp) run(x *wtx) error {
	b := &pgx.Batch{}
	p.queue(b)
	br := x.tx.SendBatch(x.ctx, b)
	err := p.readResults(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	x.notify = err == nil && p.notify
	return p.result(err)
}

// writePipe runs op through the group-committing writer, as write does.
func (s *Store) writePipe(ctx context.Context, what string, op *pipeOp) error {
	return s.submit(ctx, what, &writeOp{fn: op.run, pipe: op})
}

// runPipelined runs ops, every one of them pipelined, in one implicit
// transaction: all their statements go to the server in one pgx.Batch, which pgx sends as
// one pipeline ending in a single Sync, so the server runs them as one
// transaction and commits it at the Sync. Round trips: one, plus one to
// prepare the statements the connection has not seen yet.
//
// The results are read in order. A statement that fails on the server
// aborts the transaction (the server skips what follows and rolls back at
// the Sync): its operation is reported with failed set and its error in
// results, nothing being written. As in runBatchTx, an error that needs
// the whole batch run again is returned as err. Any other error (the
// connection failed, a result could not be read) is returned as err too:
// whether the batch committed is then unknown, as with a lost commit
// acknowledgement.
func (w *writer) runPipelined(ctx context.Context, ops []*writeOp) (results []error, notify, failed bool, err error) {
	b := &pgx.Batch{}
	for _, op := range ops {
		op.pipe.queue(b)
	}
	br := w.s.pool.SendBatch(ctx, b)
	// Closing returns the connection to the pool: it must happen once.
	// A second Close would touch the connection (invalidating its
	// statement cache after an error) while another goroutine uses it.
	closed := false
	closeOnce := func() error {
		if closed {
			return nil
		}
		closed = true
		return br.Close()
	}
	defer closeOnce()
	results = make([]error, len(ops))
	for i, op := range ops {
		rawErr := op.pipe.readResults(br)
		if rawErr == nil {
			notify = notify || op.pipe.notify
			continue
		}
		var pgErr *pgconn.PgError
		if !errors.As(rawErr, &pgErr) {
			return nil, false, false, fmt.Errorf("write batch: %w", rawErr)
		}
		closeOnce() // reads up to the Sync, where the server rolls back
		opErr := op.pipe.result(rawErr)
		if retryTx(opErr) {
			return nil, false, false, opErr
		}
		results[i] = opErr
		return results, false, true, nil
	}
	if err := closeOnce(); err != nil { // reads the Sync: the commit
		return nil, false, false, fmt.Errorf("commit write batch: %w", err)
	}
	w.commits.Add(1)
	w.nops.Add(uint64(len(ops)))
	return results, notify, false, nil
}

package translog

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"
	_ "modernc.org/sqlite"
)

// The crash test re-runs this test binary as a child that integrates from
// an SQLite outbox; these variables select child mode.
const (
	crashDirEnv   = "CORRIDOR_TRANSLOG_CRASH_DIR"
	crashSelfEnv  = "CORRIDOR_TRANSLOG_CRASH_SELFKILL"
	crashBatchEnv = "CORRIDOR_TRANSLOG_CRASH_BATCH" // record rounds with LoggedBatch
)

func TestMain(m *testing.M) {
	// tessera logs through klog, to standard error by default; keep test
	// and benchmark output readable.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// sqlSource is an outbox in SQLite with the same shape as the store's: an
// events table holding each entry and its log index, and an outbox table
// of entries waiting. The UNIQUE constraint makes recording two events at
// one index an error.
type sqlSource struct{ db *sql.DB }

const sqlSchema = `
CREATE TABLE IF NOT EXISTS events (
	seq INTEGER PRIMARY KEY,
	entry BLOB NOT NULL,
	log_index INTEGER UNIQUE
);
CREATE TABLE IF NOT EXISTS outbox (
	seq INTEGER PRIMARY KEY REFERENCES events(seq)
);`

func openSQLSource(path string) (*sqlSource, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(sqlSchema); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlSource{db}, nil
}

func (s *sqlSource) add(ctx context.Context, entries ...[]byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, e := range entries {
		r, err := tx.ExecContext(ctx, "INSERT INTO events (entry) VALUES (?)", e)
		if err != nil {
			return err
		}
		seq, _ := r.LastInsertId()
		if _, err := tx.ExecContext(ctx, "INSERT INTO outbox (seq) VALUES (?)", seq); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqlSource) Pending(ctx context.Context, max int) ([]Pending, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT o.seq, e.entry FROM outbox o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?", max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		if err := rows.Scan(&p.Seq, &p.Entry); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *sqlSource) Logged(ctx context.Context, seq int64, index uint64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, "UPDATE events SET log_index = ? WHERE seq = ? AND (log_index IS NULL OR log_index = ?)", int64(index), seq, int64(index))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("event %d: already logged elsewhere", seq)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM outbox WHERE seq = ?", seq); err != nil {
		return err
	}
	return tx.Commit()
}

// sqlBatchSource records a round in one transaction.
type sqlBatchSource struct{ *sqlSource }

func (s sqlBatchSource) LoggedBatch(ctx context.Context, recs []Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, r := range recs {
		res, err := tx.ExecContext(ctx, "UPDATE events SET log_index = ? WHERE seq = ? AND (log_index IS NULL OR log_index = ?)", int64(r.Index), r.Seq, int64(r.Index))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("event %d: already logged elsewhere", r.Seq)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM outbox WHERE seq = ?", r.Seq); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqlSource) LoggedCount(ctx context.Context) (uint64, error) {
	var n uint64
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE log_index IS NOT NULL").Scan(&n)
	return n, err
}

// crashChild integrates the outbox in dir until it is empty, printing
// "gap N" when it finds entries in the log that the database has not
// recorded (left by a killed predecessor), then "done".
func crashChild(dir string) int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	src, err := openSQLSource(filepath.Join(dir, "outbox.db"))
	if err != nil {
		return fail(err)
	}
	signer, err := NewSigner(testOrigin, testSeed(7))
	if err != nil {
		return fail(err)
	}
	l, err := Open(ctx, Config{
		Dir: filepath.Join(dir, "log"), Origin: testOrigin, Signer: signer,
		CheckpointInterval: 100 * time.Millisecond, batch: 4,
	})
	if err != nil {
		return fail(err)
	}
	if k, _ := strconv.Atoi(os.Getenv(crashSelfEnv)); k > 0 {
		rounds := 0
		l.afterAppend = func() {
			// The round is in the log and not yet recorded: the
			// moment that must not lead to a second append.
			if rounds++; rounds == k {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	size, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return fail(err)
	}
	known, err := src.LoggedCount(ctx)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("gap %d\n", size-known)
	var source Source = src
	if os.Getenv(crashBatchEnv) == "1" {
		source = sqlBatchSource{src}
	}
	if _, err := l.Integrate(ctx, source); err != nil {
		return fail(err)
	}
	fmt.Println("done")
	if err := l.Close(); err != nil {
		return fail(err)
	}
	return 0
}

// TestSIGKILL kills an integrating process at many points — chosen ones
// (after a round reached the log, before the database recorded it) and
// random ones — restarts it each time, and checks that in the end every
// entry is in the log exactly once, in outbox order, provably, and the
// outbox is empty.
func TestSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a process many times")
	}
	ctx := t.Context()
	dir := t.TempDir()
	src, err := openSQLSource(filepath.Join(dir, "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.db.Close()
	const total = 2000
	var entries [][]byte
	for i := range total {
		entries = append(entries, entry(i))
	}
	if err := src.add(ctx, entries...); err != nil {
		t.Fatal(err)
	}

	gaps, runs := 0, 0
	run := func(selfKill int, killAfter time.Duration) (done bool) {
		t.Helper()
		cmd := exec.Command(os.Args[0])
		runs++
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSelfEnv+"="+strconv.Itoa(selfKill),
			crashBatchEnv+"="+strconv.Itoa(runs%2)) // both ways of recording
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var werr error
		if killAfter > 0 {
			select {
			case werr = <-exited:
			case <-time.After(killAfter):
				cmd.Process.Signal(syscall.SIGKILL)
				werr = <-exited
			}
		} else {
			werr = <-exited
		}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			if g, ok := strings.CutPrefix(sc.Text(), "gap "); ok && g != "0" {
				gaps++
			}
			if sc.Text() == "done" {
				done = true
			}
		}
		var ee *exec.ExitError
		switch {
		case werr == nil:
		case errors.As(werr, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
		default:
			t.Fatalf("child failed: %v\n%s", werr, errOut.String())
		}
		return done && werr == nil
	}

	// Kill exactly between appending and recording, at several rounds.
	for _, k := range []int{1, 2, 5, 9} {
		if run(k, 0) {
			t.Fatalf("child with self-kill at round %d finished", k)
		}
	}
	// Kill at random moments: during start-up, appending, recording,
	// publishing checkpoints.
	kills := 0
	for range 60 {
		if run(0, time.Duration(rand.IntN(200))*time.Millisecond) {
			break
		}
		kills++
	}
	// Finish undisturbed.
	if !run(0, 0) {
		t.Fatal("the last child did not finish")
	}
	t.Logf("%d random kills; %d restarts found entries logged but not recorded", kills, gaps)
	if gaps < 4 {
		t.Errorf("only %d restarts had to reconcile; the self-kills should give at least 4", gaps)
	}

	// Check in this process.
	if n, err := src.LoggedCount(ctx); err != nil || n != total {
		t.Fatalf("LoggedCount = %d, %v; want %d", n, err, total)
	}
	if p, err := src.Pending(ctx, 10); err != nil || len(p) != 0 {
		t.Fatalf("outbox still holds %d entries (%v)", len(p), err)
	}
	cfg := testConfig(t, filepath.Join(dir, "log"))
	l := openLog(t, cfg)
	if size, _ := l.reader.IntegratedSize(ctx); size != total {
		t.Fatalf("log holds %d entries, want %d (a duplicate or a loss)", size, total)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := l.AwaitCheckpoint(wait, total); err != nil {
		t.Fatal(err)
	}
	p := testPolicy(t, nil, 0)
	rows, err := src.db.QueryContext(ctx, "SELECT seq, entry, log_index FROM events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, index int64
		var e []byte
		if err := rows.Scan(&seq, &e, &index); err != nil {
			t.Fatal(err)
		}
		if index != seq-1 {
			t.Errorf("event %d at index %d: outbox order lost", seq, index)
		}
		pr, err := l.Proof(ctx, uint64(index))
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := VerifyProof(pr, e, p); err != nil || got != uint64(index) {
			t.Errorf("event %d: proof at %d does not verify: %v", seq, index, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

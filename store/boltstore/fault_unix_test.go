//go:build linux || darwin || freebsd

package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
)

const fsizeChildEnv = "AGENTID_TEST_FSIZE_CHILD"

// TestFaultFileSizeLimit fills the disk as far as the store can tell: a
// child process with a small RLIMIT_FSIZE (no privileges needed) writes
// until a commit fails, and the failure must be store.ErrUnavailable with
// its cause, every acknowledged write must still be there, and a
// write after the limit is lifted must succeed without reopening.
func TestFaultFileSizeLimit(t *testing.T) {
	if dir := os.Getenv(fsizeChildEnv); dir != "" {
		fsizeChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultFileSizeLimit$", "-test.v")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "FAULT-OK") {
		t.Fatalf("child did not reach the fault:\n%s", out)
	}
	var acked int
	if _, err := fmt.Sscanf(string(out[strings.Index(string(out), "ACKED "):]), "ACKED %d", &acked); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	// Every write the child saw acknowledged is in the file.
	st, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(context.Background(), func(tx store.Tx) error {
		for i := range acked {
			if tx.Bucket("b").Get(key(i)) == nil {
				return fmt.Errorf("acknowledged key %d missing", i)
			}
		}
		if tx.Bucket("b").Get([]byte("after")) == nil {
			return errors.New("the write after the limit was lifted is missing")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged writes survived the full file system", acked)
}

func key(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }

func fsizeChild(t *testing.T, dir string) {
	signal.Ignore(syscall.SIGXFSZ) // get EFBIG instead of dying
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 256 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err) // reported by the parent as a missing FAULT-OK
	}
	val := make([]byte, 8<<10)
	acked := 0
	var werr error
	for i := range 1000 { // 8 MiB at most: far over the limit
		werr = st.Update(ctx, func(tx store.Tx) error { return tx.Bucket("b").Put(key(i), val) })
		if werr != nil {
			break
		}
		acked++
	}
	if werr == nil {
		t.Fatal("no write failed under a 256 KiB file size limit")
	}
	// The cause stays in the message (bbolt formats a failed resize with
	// %s, so the errno is not always in the chain).
	if !errors.Is(werr, store.ErrUnavailable) || !strings.Contains(werr.Error(), "file too large") {
		t.Fatalf("write error = %v; want store.ErrUnavailable with the EFBIG cause", werr)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Bucket("b").Put([]byte("after"), val) }); err != nil {
		t.Fatalf("write after the limit was lifted: %v", err)
	}
	fmt.Printf("FAULT-OK %v\nACKED %d\n", werr, acked)
}

//go:build unix

package postgres

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// cluster is a throwaway PostgreSQL server listening only on a Unix socket
// in a temporary directory.
type cluster struct {
	dir  string // removed by stop
	bin  string // directory holding initdb, pg_ctl and postgres
	cred *syscall.Credential
	dsn  string
}

// errUnavailable means this machine cannot run a server for the tests; the
// tests skip unless CORRIDOR_REQUIRE_POSTGRES=1.
var errUnavailable = errors.New("no PostgreSQL server binaries")

// findBin finds the directory with initdb and pg_ctl: from PATH first, then
// Debian's /usr/lib/postgresql/<version>/bin, newest version first.
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		// Debian's PATH entries are often symlinks; initdb and postgres
		// sit beside the real file.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w in PATH or /usr/lib/postgresql/*/bin", errUnavailable)
}

func startCluster() (*cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin}
	// initdb refuses to run as root; run the server as the postgres
	// system user that Debian's package creates.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and there is no postgres user to run the server as", errUnavailable)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	c.dir, err = os.MkdirTemp("", "corridor-pg-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(c.dir)
		}
	}()
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, err
		}
	}
	data, sock := filepath.Join(c.dir, "data"), filepath.Join(c.dir, "sock")
	if err := c.run("mkdir", sock); err != nil {
		return nil, err
	}
	if err := c.run(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	// Durability settings off: the cluster lives for one test run, and the
	// tests are about the store's behaviour, not the disk's.
	opts := strings.Join([]string{
		"-c listen_addresses=''",
		"-c unix_socket_directories=" + sock,
		"-c fsync=off",
		"-c synchronous_commit=off",
		"-c full_page_writes=off",
		"-c max_connections=200",
	}, " ")
	if err := c.run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(c.dir, "log"),
		"-o", opts, "-w", "-t", "60", "start"); err != nil {
		if log, rerr := os.ReadFile(filepath.Join(c.dir, "log")); rerr == nil {
			err = fmt.Errorf("%w\nserver log:\n%s", err, log)
		}
		return nil, err
	}
	c.dsn = fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", sock)
	ok = true
	return c, nil
}

func (c *cluster) stop() {
	c.run(filepath.Join(c.bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "stop")
	os.RemoveAll(c.dir)
}

// run runs a command as the cluster's owner.
func (c *cluster) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
	}
	return nil
}

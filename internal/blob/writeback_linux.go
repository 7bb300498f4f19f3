package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// flushBehind starts writing [started, off) to the disk and waits until
// [waited, started) is written, so that a large blob streams to the disk
// as it is produced instead of piling up as dirty pages for the final
// fsync. It is only a hint: durability still comes from the fsync in
// Commit, so errors are ignored.
func flushBehind(f *os.File, waited, started, off int64) {
	fd := int(f.Fd())
	_ = unix.SyncFileRange(fd, started, off-started, unix.SYNC_FILE_RANGE_WRITE)
	if started > waited {
		_ = unix.SyncFileRange(fd, waited, started-waited,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	}
}

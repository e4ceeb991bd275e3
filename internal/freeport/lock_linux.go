package freeport

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockAcrossProcesses takes an exclusive lock on a file named after port in a directory of the
// temporary directory that every process of the machine shares. The kernel releases it when the
// process exits, however it exits; until then, other processes' Pick pass the port by. Where no
// lock can be taken (no writable temporary directory), the port goes unlocked.
func lockAcrossProcesses(port int) (io.Closer, bool) {
	dir := filepath.Join(os.TempDir(), "spellcoven-freeport")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nopCloser{}, true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nopCloser{}, true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

package sandbox

import (
	"os/exec"
	"syscall"
)

// detach puts the child in a process group of its own, so that Ctrl-C in a terminal reaches the
// sandbox alone and it stops its parts in order (the worker first), and has the kernel kill the
// child if the sandbox itself dies, so no part outlives it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// processAlive reports whether a process with this id exists.
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

package proc

import (
	"os/exec"
	"syscall"
)

// detach puts the child in a process group of its own and has the kernel kill it if the parent
// dies.
func detach(cmd *exec.Cmd) bool {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return true
}

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }

func alive(pid int) bool { return syscall.Kill(pid, 0) != syscall.ESRCH }

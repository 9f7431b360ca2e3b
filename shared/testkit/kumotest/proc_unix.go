//go:build unix

package kumotest

import (
	"os"
	"os/exec"
	"syscall"
)

func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// setProcAttr keeps kumo in the test's process group (so a terminal's ^C
// stops it too) and, on Linux, has the kernel kill it if the test binary
// dies without stopping it.
func setProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setParentDeathSignal(cmd.SysProcAttr)
}

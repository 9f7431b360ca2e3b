//go:build linux

package kumotest

import "syscall"

// setParentDeathSignal makes the kernel kill kumo if the test binary dies
// without stopping it (e.g. a test timeout panic).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

//go:build unix && !linux

package kumotest

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}

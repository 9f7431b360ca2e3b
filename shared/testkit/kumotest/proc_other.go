//go:build !unix

package kumotest

import (
	"os"
	"os/exec"
)

func terminate(p *os.Process) error { return p.Kill() }

func setProcAttr(*exec.Cmd) {}

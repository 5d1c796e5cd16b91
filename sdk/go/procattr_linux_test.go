package miko_test

import "syscall"

// procAttr makes the kernel stop Miko if the test binary dies first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

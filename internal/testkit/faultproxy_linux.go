package testkit

import "syscall"

// procAttr kills the proxy if the test process dies without cleaning up,
// even while the proxy is stopped.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

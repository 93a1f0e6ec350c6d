//go:build !linux

package testkit

import "syscall"

// procAttr: elsewhere the proxy exits when its standard input closes.
func procAttr() *syscall.SysProcAttr { return nil }

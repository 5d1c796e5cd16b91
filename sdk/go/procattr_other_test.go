//go:build !linux

package miko_test

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }

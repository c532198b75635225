//go:build !linux

package main

// Elsewhere whether an accepted connection inherits its listener's
// keep-alive options varies (and is not documented): Go sets them on each
// connection as it accepts it.
const acceptInheritsKeepAlive = false

func setListenerKeepAlive(fd, idle, interval, count int) error { return nil }

//go:build !linux

package main

import "errors"

// epollSupported tells whether this system has the epoll client I/O.
const epollSupported = false

// DefaultClientIO is the client I/O of a run unless told otherwise.
const DefaultClientIO = ClientIOGo

func newEpollIO() (clientIO, error) { return nil, errors.New("client I/O epoll needs Linux") }

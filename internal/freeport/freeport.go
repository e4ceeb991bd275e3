// Package freeport picks a free TCP port on 127.0.0.1 for a server that must be told its port
// before it starts (a process given a configuration file), rather than listening on :0 itself.
package freeport

import "net"

// Pick returns a TCP port of 127.0.0.1 that was free a moment ago. Another process may take it
// before the caller binds it; callers that can listen on :0 themselves should.
func Pick() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

package authtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// Server is an Issuer listening for HTTP on a TCP address.
type Server struct {
	// Issuer is the identity provider being served.
	Issuer *Issuer
	// URL is the server's base URL, http://host:port, without a trailing slash.
	URL string

	srv    *http.Server
	served chan struct{}
}

// Start serves the issuer over plain HTTP on addr ("127.0.0.1:0" picks a free port) until Close.
func (i *Issuer) Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("authtest: listening on %s: %w", addr, err)
	}
	return i.Serve(ln), nil
}

// Serve serves the issuer over plain HTTP on ln until Close. It takes ownership of ln.
func (i *Issuer) Serve(ln net.Listener) *Server {
	s := &Server{
		Issuer: i,
		URL:    "http://" + ln.Addr().String(),
		srv:    &http.Server{Handler: i, ReadHeaderTimeout: 5 * time.Second},
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s
}

// JWKSURL returns the URL of the served JWKS.
func (s *Server) JWKSURL() string { return s.URL + JWKSPath }

// Close stops the server, closing open connections, and waits for it to finish.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.served
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// NewTestServer starts an Issuer on 127.0.0.1 whose issuer URL is the server's own URL, as a real
// identity provider's is, and closes it when the test ends.
func NewTestServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("authtest: listening: %v", err)
	}
	issuer, err := NewIssuer("http://"+ln.Addr().String(), opts...)
	if err != nil {
		_ = ln.Close()
		tb.Fatalf("authtest: %v", err)
	}
	s := issuer.Serve(ln)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

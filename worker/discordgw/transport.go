package discordgw

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiRewrite sends discordgo's REST requests, which name https://discord.com/api/..., to another
// base URL (the emulator, the sandbox). discordgo's endpoints are process-global variables; a
// transport changes only this session.
type apiRewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (rt apiRewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme = rt.base.Scheme
	out.URL.Host = rt.base.Host
	out.Host = rt.base.Host
	if p := strings.TrimSuffix(rt.base.Path, "/"); p != "" {
		out.URL.Path = p + out.URL.Path
		if out.URL.RawPath != "" {
			out.URL.RawPath = p + out.URL.RawPath
		}
	}
	return rt.next.RoundTrip(out)
}

// parseAPIBase checks a REST base URL override: http or https, a host, no query.
func parseAPIBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("the Discord API base URL must be an http or https URL without query, such as http://127.0.0.1:8081")
	}
	return u, nil
}

// dialers returns the functions the gateway's WebSocket dialer uses for ws:// and wss://. Both wrap
// the socket in an observedConn made by observe. For wss:// the TLS handshake is done here, so the
// observer sees the WebSocket bytes rather than ciphertext.
func dialers(timeout time.Duration, observe func(net.Conn) net.Conn) (
	plain func(ctx context.Context, network, addr string) (net.Conn, error),
	secure func(ctx context.Context, network, addr string) (net.Conn, error),
) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	plain = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return observe(c), nil
	}
	secure = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			c.Close()
			return nil, err
		}
		tc := tls.Client(c, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return observe(tc), nil
	}
	return plain, secure
}

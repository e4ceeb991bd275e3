package voice

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// IP discovery packet layout: type u16 | length u16 (70) | ssrc u32 | address [64] | port u16.
const (
	discoverySize     = 74
	discoveryRequest  = 1
	discoveryResponse = 2
	keepaliveSize     = 8
)

// mediaSession is the UDP side of one voice session: the socket (connected to the voice
// server), the SSRCs and keys the server gave, and the receive and keepalive goroutines.
type mediaSession struct {
	c         *Conn
	udp       *net.UDPConn
	ssrc      uint32
	videoSSRC uint32
	rtxSSRC   uint32

	// externalIP and externalPort are the address the server saw (IP discovery).
	externalIP   string
	externalPort int

	// Written by setKey before the goroutines start, read-only afterwards.
	mode       Mode
	videoCodec VideoCodec // the session description's video_codec
	sealer     *Sealer    // used under Conn.sendMu
	opener     *Opener    // used by the receive goroutine only

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// openMedia connects the UDP socket to the server from Ready and runs IP discovery.
func (c *Conn) openMedia(ctx context.Context, ready readyData) (*mediaSession, error) {
	ip := net.ParseIP(ready.IP)
	if ip == nil || ready.Port <= 0 || ready.Port > 65535 {
		return nil, fmt.Errorf("voice: ready gives an invalid media address %q port %d", ready.IP, ready.Port)
	}
	udp, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: ip, Port: ready.Port})
	if err != nil {
		return nil, fmt.Errorf("voice: udp: %w", err)
	}
	if c.cfg.UDPReadBuffer > 0 {
		_ = udp.SetReadBuffer(c.cfg.UDPReadBuffer)
	}
	m := &mediaSession{c: c, udp: udp, ssrc: ready.SSRC, stop: make(chan struct{})}
	for _, st := range ready.Streams {
		if st.Type == "video" && m.videoSSRC == 0 {
			m.videoSSRC, m.rtxSSRC = st.SSRC, st.RTXSSRC
		}
	}
	if m.videoSSRC == 0 {
		m.videoSSRC, m.rtxSSRC = ready.SSRC+1, ready.SSRC+2
	}
	if err := m.discover(ctx); err != nil {
		udp.Close()
		return nil, err
	}
	return m, nil
}

// discover sends IP discovery requests until the server answers with the address it sees,
// bounded by IPDiscoveryAttempts, IPDiscoveryTimeout and ctx.
func (m *mediaSession) discover(ctx context.Context) error {
	req := make([]byte, discoverySize)
	binary.BigEndian.PutUint16(req[0:], discoveryRequest)
	binary.BigEndian.PutUint16(req[2:], discoverySize-4)
	binary.BigEndian.PutUint32(req[4:], m.ssrc)
	buf := make([]byte, m.c.cfg.MaxPacketSize)
	var lastErr error
	for range m.c.cfg.IPDiscoveryAttempts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("voice: ip discovery: %w", err)
		}
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			// The read below timed out at the context's deadline, before its timer fired.
			return fmt.Errorf("voice: ip discovery: %w", context.DeadlineExceeded)
		}
		if _, err := m.udp.Write(req); err != nil {
			return fmt.Errorf("voice: ip discovery: %w", err)
		}
		deadline := time.Now().Add(m.c.cfg.IPDiscoveryTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = m.udp.SetReadDeadline(deadline)
		for {
			n, err := m.udp.Read(buf)
			if err != nil {
				lastErr = err
				break
			}
			ip, port, ok := parseDiscoveryResponse(buf[:n], m.ssrc)
			if ok {
				_ = m.udp.SetReadDeadline(time.Time{})
				m.externalIP, m.externalPort = ip, port
				return nil
			}
		}
	}
	return fmt.Errorf("voice: ip discovery: no answer after %d attempts: %w", m.c.cfg.IPDiscoveryAttempts, lastErr)
}

// parseDiscoveryResponse reads an IP discovery response for ssrc.
func parseDiscoveryResponse(b []byte, ssrc uint32) (string, int, bool) {
	if len(b) != discoverySize || binary.BigEndian.Uint16(b) != discoveryResponse ||
		binary.BigEndian.Uint16(b[2:]) != discoverySize-4 || binary.BigEndian.Uint32(b[4:]) != ssrc {
		return "", 0, false
	}
	addr := b[8:72]
	if i := bytes.IndexByte(addr, 0); i >= 0 {
		addr = addr[:i]
	}
	if net.ParseIP(string(addr)) == nil {
		return "", 0, false
	}
	return string(addr), int(binary.BigEndian.Uint16(b[72:])), true
}

// setKey installs the session description's key and starts receiving and keepalives.
func (m *mediaSession) setKey(mode Mode, desc sessionDescriptionData) error {
	if desc.Mode != mode {
		return fmt.Errorf("voice: session description mode %q, selected %q", desc.Mode, mode)
	}
	if len(desc.SecretKey) != KeySize {
		return fmt.Errorf("voice: session description key is %d bytes, want %d", len(desc.SecretKey), KeySize)
	}
	key := make([]byte, KeySize)
	for i, v := range desc.SecretKey {
		if v < 0 || v > 255 {
			return errors.New("voice: session description key holds a value outside 0-255")
		}
		key[i] = byte(v)
	}
	var err error
	if m.sealer, err = NewSealer(mode, key); err != nil {
		return err
	}
	if m.opener, err = NewOpener(mode, key); err != nil {
		return err
	}
	clear(key)
	m.mode = mode
	m.videoCodec = VideoCodec(desc.VideoCodec)
	m.wg.Add(2)
	go m.receiveLoop()
	go m.keepaliveLoop()
	return nil
}

// keepaliveLoop sends Discord's 8-byte UDP keepalive (a little-endian counter) so NATs keep
// the mapping open; the server echoes it.
func (m *mediaSession) keepaliveLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.c.cfg.KeepaliveInterval)
	defer t.Stop()
	var counter uint32
	buf := make([]byte, keepaliveSize)
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		binary.LittleEndian.PutUint32(buf, counter)
		counter++
		if _, err := m.udp.Write(buf); err == nil {
			m.c.stats.keepalivesSent.Add(1)
		}
	}
}

// wake interrupts the receive loop's read, so it looks at user mapping changes at once.
func (m *mediaSession) wake() { _ = m.udp.SetReadDeadline(time.Now()) }

// close stops the goroutines and closes the socket; the receive loop flushes its buffers.
func (m *mediaSession) close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.udp.Close()
	})
	m.wg.Wait()
}

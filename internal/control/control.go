// Package control is the local control socket of a running server: the
// `corridor unseal`, `seal` and `status` commands talk to it. It is a Unix
// socket inside the data directory, mode 0600, so only the account that
// runs Corridor (or root) can reach it; nothing listens on the network.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SocketName is the socket's file name inside the data directory.
const SocketName = "control.sock"

// ErrNotRunning means no server answers on the data directory's socket.
var ErrNotRunning = errors.New("control: no running server for this data directory")

// Handler carries out control requests.
type Handler interface {
	Unseal(ctx context.Context, passphrase []byte) error
	Seal(ctx context.Context) error
	Status(ctx context.Context) Status
}

// Status is what `corridor status` prints.
type Status struct {
	Initialised bool `json:"initialised"`
	Sealed      bool `json:"sealed"`
}

type request struct {
	Op         string `json:"op"`
	Passphrase string `json:"passphrase,omitempty"`
}

type response struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Server serves the control socket.
type Server struct {
	ln   net.Listener
	h    Handler
	wg   sync.WaitGroup
	path string
}

// Listen creates the socket in dir. A stale socket left by a crashed
// server is replaced; a live one means another server runs on the same
// data directory, which is refused.
func Listen(dir string, h Handler) (*Server, error) {
	path := filepath.Join(dir, SocketName)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control: another corridor server is running on %s", dir)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return &Server{ln: ln, h: h, path: path}, nil
}

// Serve accepts connections until Close.
func (s *Server) Serve(ctx context.Context) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	if err := json.NewDecoder(bufio.NewReader(ioLimit(c))).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(response{Error: "malformed request"})
		return
	}
	var resp response
	switch req.Op {
	case "unseal":
		if err := s.h.Unseal(ctx, []byte(req.Passphrase)); err != nil {
			resp.Error = err.Error()
		} else {
			resp.OK = true
		}
	case "seal":
		if err := s.h.Seal(ctx); err != nil {
			resp.Error = err.Error()
		} else {
			resp.OK = true
		}
	case "status":
		st := s.h.Status(ctx)
		resp.OK, resp.Status = true, &st
	default:
		resp.Error = "unknown operation"
	}
	_ = json.NewEncoder(c).Encode(resp)
}

// Close stops accepting and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
	return err
}

type limited struct {
	c net.Conn
	n int
}

func ioLimit(c net.Conn) *limited { return &limited{c: c, n: 64 << 10} }

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("control: request too large")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= n
	return n, err
}

func call(ctx context.Context, dir string, req request) (*response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(dir, SocketName))
	if err != nil {
		return nil, ErrNotRunning
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if !resp.OK {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// Unseal asks the server running on dir to unseal.
func Unseal(ctx context.Context, dir string, passphrase []byte) error {
	_, err := call(ctx, dir, request{Op: "unseal", Passphrase: string(passphrase)})
	return err
}

// Seal asks the server running on dir to seal.
func Seal(ctx context.Context, dir string) error {
	_, err := call(ctx, dir, request{Op: "seal"})
	return err
}

// GetStatus asks the server running on dir for its state.
func GetStatus(ctx context.Context, dir string) (Status, error) {
	resp, err := call(ctx, dir, request{Op: "status"})
	if err != nil {
		return Status{}, err
	}
	return *resp.Status, nil
}

package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/env"
)

// TestEnvRefusesAddresses: --tcp serves loopback only, and --socket never removes a file
// that is not a socket.
func TestEnvRefusesAddresses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags envFlags
		want  string
	}{
		{envFlags{tcp: "0.0.0.0:0"}, "only a loopback address"},
		{envFlags{tcp: "192.0.2.1:9"}, "only a loopback address"},
		{envFlags{tcp: "nocolon"}, "missing port"},
		{envFlags{socket: file}, "is not a socket"},
	} {
		ln, _, err := tc.flags.listen()
		if err == nil {
			ln.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.flags, err, tc.want)
		}
	}
	ln, addr, err := (&envFlags{tcp: "127.0.0.1:0"}).listen()
	if err != nil || !strings.HasPrefix(addr, "tcp:127.0.0.1:") {
		t.Errorf("--tcp 127.0.0.1:0: %q, %v", addr, err)
	} else {
		ln.Close()
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("the regular file at --socket was touched: %q %v", b, err)
	}
}

// TestEnvCommand: robotd env serves the reference launch file on a loopback TCP port and
// on a Unix socket (replacing a stale socket file), answers info, and returns when its
// context ends, removing its socket.
func TestEnvCommand(t *testing.T) {
	dir, err := os.MkdirTemp("", "envcmd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays: a crashed server's socket
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"env", "--launch", "../../launch/pickplace_diffusion.yaml", "--socket", sock}, &out, &out)
	}()
	var c net.Conn
	for deadline := time.Now().Add(60 * time.Second); ; {
		if strings.Contains(out.String(), "serving") {
			if c, err = net.Dial("unix", sock); err == nil {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("robotd env exited with %d:\n%s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("robotd env did not serve within 60 s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	if err := env.WriteMessage(c, &env.Message{Header: env.Header{Type: "info"}}); err != nil {
		t.Fatal(err)
	}
	r, err := env.ReadMessage(c)
	if err != nil || r.Type != "info" || r.Info == nil || r.Info.ActionDim != 10 {
		t.Fatalf("info reply %+v, %v", r, err)
	}
	if !strings.Contains(out.String(), "unix:"+sock) || !strings.Contains(out.String(), "robotd_env.py --socket "+sock) {
		t.Errorf("robotd env printed:\n%s", out.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status %d after the context ended:\n%s", code, out.String())
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket file is left behind: %v", err)
	}
}

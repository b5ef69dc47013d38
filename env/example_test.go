package env_test

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"

	"github.com/robotd/robotd/env"
)

// Serving the reference launch file on a Unix socket until SIGINT, as robotd env does;
// tools/train/robotd_env.py is the client (docs/env.md).
func ExampleServer() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv, err := env.New(ctx, env.Config{Launch: "launch/pickplace_diffusion.yaml"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("unix", "out/robotd_env.sock")
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
}

// A client in Go: one episode of seed 7 in which the base policy acts at every decision.
func ExampleReadMessage() {
	c, err := net.Dial("unix", "out/robotd_env.sock")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	req := &env.Message{Header: env.Header{Type: "reset", Seed: 7}}
	for {
		if err := env.WriteMessage(c, req); err != nil {
			log.Fatal(err)
		}
		r, err := env.ReadMessage(c)
		if err != nil {
			log.Fatal(err)
		}
		if r.Type == "error" {
			log.Fatal(r.Error)
		}
		if r.Done {
			log.Printf("seed 7: success %v after %.1f s", r.Success, r.Outcome.Duration)
			return
		}
		req = &env.Message{Header: env.Header{Type: "step", Mode: env.ModePolicy}}
	}
}

// Command ferretdb-embedded runs FerretDB v1 (MongoDB wire protocol over
// SQLite) on a loopback port for cloudai's store contract tests. It embeds
// the ferretdb package because the upstream command panics without the
// version file its release build generates.
//
// It prints one line, the MongoDB URI, once the server accepts connections,
// and runs until SIGINT/SIGTERM. With -ping ADDR it only checks that a server
// accepts connections there (the health check of the image
// docker/local-images.sh makes, which has no other client).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free one)")
	dir := flag.String("dir", "", "directory for the SQLite databases (required)")
	ping := flag.String("ping", "", "only dial this TCP address: exit 0 if it accepts a connection, 1 if not")
	flag.Parse()
	if *ping != "" {
		conn, err := net.DialTimeout("tcp", *ping, 2*time.Second)
		if err != nil {
			fail("ping: %v", err)
		}
		conn.Close()
		return
	}
	if *dir == "" {
		fail("-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fail("create -dir: %v", err)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fail("resolve -dir: %v", err)
	}

	addr, err := resolveAddr(*listen)
	if err != nil {
		fail("-listen: %v", err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fail("configure: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-done:
			fail("server stopped before accepting connections: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			fail("server did not accept connections on %s within 30s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("mongodb://%s/\n", addr)

	if err := <-done; err != nil {
		fail("run: %v", err)
	}
}

// resolveAddr turns port 0 into a concrete free port so the URI can be
// printed before FerretDB exposes its listener.
func resolveAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return listen, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferretdb-embedded: "+format+"\n", args...)
	os.Exit(1)
}

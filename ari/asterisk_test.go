package ari

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStopClosesCleanlyOnAsterisk: against a real Asterisk, a client's
// stop ends its events websocket with the close handshake, so Asterisk
// logs no "Web socket closed abruptly" / "WebSocket read error" for it (it
// logged both at every stop of the daemon). Runs in the real-Asterisk
// stage (scripts/e2e-asterisk.sh), which sets the variables.
func TestStopClosesCleanlyOnAsterisk(t *testing.T) {
	url, user, password := os.Getenv("HOTLINE_E2E_ARI_URL"), os.Getenv("HOTLINE_E2E_ARI_USER"), os.Getenv("HOTLINE_E2E_ARI_PASSWORD")
	dir := os.Getenv("HOTLINE_E2E_ASTERISK_DIR")
	if url == "" || dir == "" {
		t.Skip("no real Asterisk: set HOTLINE_E2E_ARI_URL, _USER, _PASSWORD and HOTLINE_E2E_ASTERISK_DIR (scripts/e2e-asterisk.sh up DIR writes them)")
	}
	logPath := filepath.Join(dir, "var", "log", "asterisk", "messages.log")
	before, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	up := make(chan bool, 4)
	c, err := New(Options{
		URL: url, Application: "ari-close-test", Username: user, Password: password,
		Handler: func(Event) {},
		OnState: func(connected bool) { up <- connected },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatal("not connected to Asterisk within 10s")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its stop")
	}
	// Asterisk logs the end of the connection as it reads it: give it a
	// moment, bounded, to write either line.
	deadline := time.Now().Add(2 * time.Second)
	for {
		after, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		added := string(after[min(len(before), len(after)):])
		for _, bad := range []string{"Web socket closed abruptly", "WebSocket read error"} {
			if strings.Contains(added, bad) {
				t.Fatalf("Asterisk logged %q for a stopped client:\n%s", bad, added)
			}
		}
		if strings.Contains(added, "Deactivating Stasis app 'ari-close-test'") {
			return // Asterisk noted the application going, without a warning
		}
		if time.Now().After(deadline) {
			t.Fatalf("Asterisk logged no end of the application within 2s:\n%s", added)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

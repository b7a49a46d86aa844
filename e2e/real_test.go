package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/doctor"
)

// TestRealAsterisk checks the real Asterisk the scenarios run against when
// HOTLINE_E2E_ARI_* are set: reachable with those credentials, and recent
// enough to hand a phone's REFER to ARI (PJSIP_TRANSFER_HANDLING, 20.13 /
// 21.8 / 22.3 and later). Without the variables every scenario runs against
// the simulated Asterisk and this check has nothing to look at.
func TestRealAsterisk(t *testing.T) {
	tg := currentTarget()
	if !tg.real() {
		t.Skip("no real Asterisk: set HOTLINE_E2E_ARI_URL, HOTLINE_E2E_ARI_USER and HOTLINE_E2E_ARI_PASSWORD to run the scenarios against one whose dialplan follows deploy/asterisk/")
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(tg.url, "/")+"/asterisk/info", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(tg.user, tg.password)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("ARI at HOTLINE_E2E_ARI_URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /asterisk/info: %s (check HOTLINE_E2E_ARI_USER and _PASSWORD)", resp.Status)
	}
	var info struct {
		System struct {
			Version string `json:"version"`
		} `json:"system"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("decode /asterisk/info: %v", err)
	}
	if !doctor.TransferHandlingSupported(info.System.Version) {
		t.Errorf("Asterisk %s cannot hand REFERs to ARI; use 20.13, 21.8, 22.3 or later", info.System.Version)
	}
}

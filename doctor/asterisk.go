package doctor

import (
	"fmt"

	"github.com/hotline-project/hotline/ari"
)

// TransferHandlingSupported reports whether an Asterisk version has the
// PJSIP_TRANSFER_HANDLING() function, which hands a phone's REFER to the
// hotline as a ChannelTransfer event: 20.13, 21.8, 22.3 and later. A
// version it cannot read ("GIT-master-abc") is not known to have it.
func TransferHandlingSupported(version string) bool {
	ok, known := transferHandling(version)
	return ok && known
}

// transferHandling is TransferHandlingSupported, and whether the version
// could be read at all. Certified releases ("20.7-cert5") read as their
// base version.
func transferHandling(version string) (ok, known bool) {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false, false
	}
	switch {
	case major > 22:
		return true, true
	case major == 22:
		return minor >= 3, true
	case major == 21:
		return minor >= 8, true
	case major == 20:
		return minor >= 13, true
	}
	return false, true
}

// CheckVersion reports an Asterisk too old to hand phone transfers to the
// hotline (an error: the agents' transfer buttons would move calls behind
// its back), or a version it cannot read (a warning).
func CheckVersion(version string) []Finding {
	switch ok, known := transferHandling(version); {
	case !known:
		return []Finding{{Level: Warning, Message: fmt.Sprintf(
			"cannot tell from Asterisk version %q whether it has PJSIP_TRANSFER_HANDLING() (20.13, 21.8, 22.3 and later): without it phones transfer calls behind the hotline's back", version)}}
	case !ok:
		return []Finding{{Message: fmt.Sprintf(
			"Asterisk %s has no PJSIP_TRANSFER_HANDLING(): phones would transfer calls behind the hotline's back; use 20.13, 21.8, 22.3 or later", version)}}
	}
	return nil
}

// requiredModules are the modules the hotline's calls use, with what for.
// ARI itself (res_ari*, res_stasis) answered, or the doctor would not have
// got this far.
var requiredModules = []struct{ name, why string }{
	{"res_pjsip.so", "SIP for the agents' phones"},
	{"chan_pjsip.so", "PJSIP channels: dialling agents"},
	{"res_pjsip_refer.so", "phones' transfers (REFER), which the hotline intercepts"},
	{"res_stasis_playback.so", "every prompt the hotline plays"},
	{"res_musiconhold.so", "music on hold for waiting callers"},
}

// CheckModules reports each module the hotline needs that is not loaded
// and running.
func CheckModules(mods []ari.Module) []Finding {
	status := map[string]string{}
	for _, m := range mods {
		status[m.Name] = m.Status
	}
	var out []Finding
	for _, r := range requiredModules {
		switch st, ok := status[r.name]; {
		case !ok:
			out = append(out, Finding{Message: fmt.Sprintf("module %s is not loaded (%s): load it (modules.conf)", r.name, r.why)})
		case st != "Running":
			out = append(out, Finding{Message: fmt.Sprintf("module %s is loaded but %q, not Running (%s)", r.name, st, r.why)})
		}
	}
	return out
}

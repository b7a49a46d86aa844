package baresip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Each phone's voice is a sine tone of its own frequency, sent from a wav
// file (baresip's aufile source) that sox generates; what the phone
// receives is recorded by baresip's sndfile filter. A phone "hears" another
// when the recording's recent audio is mostly that phone's frequency, which
// music on hold, prompts, silence or the phone's own voice are not.

// Sample format of the phones' audio: G.711's.
const (
	sampleRate = 8000
	// toneSeconds is how long a phone can talk in one call: aufile stops
	// at the end of its file.
	toneSeconds = 600
)

// Detection thresholds: at least minToneShare of the window's energy at
// the frequency, and an RMS level well above ulaw's idle noise.
const (
	minToneShare = 0.5
	minToneRMS   = 200
	toneWindow   = 400 * time.Millisecond
	pollEvery    = 100 * time.Millisecond
)

// ErrNoAudio means the phone has recorded nothing for the call yet
// (the call has no media, or has not started it).
var ErrNoAudio = errors.New("no received audio recorded")

// makeTone writes a mono 16-bit 8 kHz wav of a sine tone with sox.
func makeTone(ctx context.Context, sox, path string, hz int) error {
	cmd := exec.CommandContext(ctx, sox, "-n", "-r", strconv.Itoa(sampleRate), "-c", "1", "-b", "16", "-e", "signed-integer",
		path, "synth", strconv.Itoa(toneSeconds), "sine", strconv.Itoa(hz), "vol", "0.3")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sox tone %d Hz: %w: %s", hz, err, bytes.TrimSpace(out))
	}
	return nil
}

// wavData locates the samples of a 16-bit mono PCM wav that may still be
// being written: the data chunk runs to the end of the file whatever its
// header says (libsndfile fills the sizes in when it closes the file).
func wavData(f io.ReaderAt) (offset int64, rate int, err error) {
	var hdr [12]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0, 0, fmt.Errorf("wav header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, 0, errors.New("not a RIFF/WAVE file")
	}
	pos := int64(12)
	for i := 0; i < 64; i++ {
		var ch [8]byte
		if _, err := f.ReadAt(ch[:], pos); err != nil {
			return 0, 0, fmt.Errorf("wav chunk at %d: %w", pos, err)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			var fm [16]byte
			if _, err := f.ReadAt(fm[:], pos+8); err != nil {
				return 0, 0, fmt.Errorf("wav fmt: %w", err)
			}
			format, channels := binary.LittleEndian.Uint16(fm[0:2]), binary.LittleEndian.Uint16(fm[2:4])
			bits := binary.LittleEndian.Uint16(fm[14:16])
			if (format != 1 && format != 0xfffe) || channels != 1 || bits != 16 {
				return 0, 0, fmt.Errorf("wav: format %d, %d channels, %d bits; want 16-bit mono PCM", format, channels, bits)
			}
			rate = int(binary.LittleEndian.Uint32(fm[4:8]))
		case "data":
			if rate == 0 {
				return 0, 0, errors.New("wav: data before fmt")
			}
			return pos + 8, rate, nil
		}
		pos += 8 + size + size%2
	}
	return 0, 0, errors.New("wav: no data chunk")
}

// recording is the tail of a wav file: its last samples, how many the
// file holds and when it was last written.
type recording struct {
	samples  []int16
	rate     int
	total    int64 // samples in the file
	modified time.Time
}

// tail reads the last d of samples of a wav file.
func tail(path string, d time.Duration) (recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return recording{}, err
	}
	defer f.Close()
	off, rate, err := wavData(f)
	if err != nil {
		return recording{}, fmt.Errorf("%s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return recording{}, err
	}
	r := recording{rate: rate, total: (st.Size() - off) / 2, modified: st.ModTime()}
	want := min(int64(d.Seconds()*float64(rate)), r.total)
	if want <= 0 {
		return r, nil
	}
	buf := make([]byte, want*2)
	if _, err := f.ReadAt(buf, off+(r.total-want)*2); err != nil {
		return recording{}, fmt.Errorf("%s: %w", path, err)
	}
	r.samples = make([]int16, want)
	for i := range r.samples {
		r.samples[i] = int16(binary.LittleEndian.Uint16(buf[2*i:]))
	}
	return r, nil
}

// Level is one measurement of received audio.
type Level struct {
	Share float64       // fraction of the energy at the frequency asked about, 0..1
	RMS   float64       // level of everything, in 16-bit sample units
	N     int           // samples measured
	Age   time.Duration // since the newest of them was received
}

// staleAfter: a recording not written to for this long means nothing is
// being received now (a held call may get no packets at all), whatever
// its last samples were.
const staleAfter = 300 * time.Millisecond

// hears reports whether a level is the tone, heard now.
func (l Level) hears() bool {
	return l.Share >= minToneShare && l.RMS >= minToneRMS && l.Age < staleAfter
}

func (l Level) String() string {
	return fmt.Sprintf("%.0f%% of %.0f RMS over %v, %v ago", 100*l.Share, l.RMS,
		time.Duration(l.N)*time.Second/sampleRate, l.Age.Round(time.Millisecond))
}

// measure computes, with the Goertzel algorithm, how much of the samples'
// energy is at hz.
func measure(s []int16, rate int, hz float64) Level {
	if len(s) == 0 || rate == 0 {
		return Level{}
	}
	w := 2 * math.Pi * hz / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, v := range s {
		x := float64(v)
		energy += x * x
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	n := float64(len(s))
	if energy == 0 {
		return Level{N: len(s)}
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2 // |X(hz)|²
	share := 2 * power / (n * energy)
	return Level{Share: math.Min(share, 1), RMS: math.Sqrt(energy / n), N: len(s)}
}

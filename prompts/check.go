package prompts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Check reports every file of the set that Asterisk could not play from
// dir: a sound with no file in any format under dir/<lang>, or a .wav that
// Asterisk's format_wav refuses (it reads only PCM, mono, 16-bit, 8 kHz).
// A sound missing in one language is not caught by playing it: Asterisk
// then falls back to the same sound without a language and in English.
func Check(dir string, files []File) error {
	idx := dirIndex{}
	var errs []error
	for _, f := range files {
		rels := idx.siblings(dir, f.Lang, f.Name)
		if len(rels) == 0 {
			errs = append(errs, fmt.Errorf("%s/%s: no file in any format", f.Lang, f.Name))
			continue
		}
		for _, rel := range rels {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if filepath.Ext(p) == ".wav" {
				if _, err := ReadWAV(p); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", rel, err))
				}
				continue
			}
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				errs = append(errs, fmt.Errorf("%s: empty or a broken link", rel))
			}
		}
	}
	return errors.Join(errs...)
}

// WAV is what a WAV file's header says.
type WAV struct {
	Format, Channels, Bits uint16
	Rate                   uint32
	DataBytes              uint32
}

// ErrNotPlayable is wrapped by ReadWAV for a WAV file Asterisk's .wav
// format does not read.
var ErrNotPlayable = errors.New("not an 8 kHz mono 16-bit PCM WAV file")

// ReadWAV reads a WAV file's header and checks that it is what Asterisk
// plays as .wav, with samples.
func ReadWAV(path string) (WAV, error) {
	f, err := os.Open(path)
	if err != nil {
		return WAV{}, err
	}
	defer f.Close()
	var w WAV
	var riff [12]byte
	if _, err := io.ReadFull(f, riff[:]); err != nil || string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return w, fmt.Errorf("%w: no RIFF WAVE header", ErrNotPlayable)
	}
	haveFmt := false
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			return w, fmt.Errorf("%w: no data chunk", ErrNotPlayable)
		}
		id, size := string(hdr[0:4]), binary.LittleEndian.Uint32(hdr[4:8])
		switch id {
		case "fmt ":
			if size < 16 {
				return w, fmt.Errorf("%w: short fmt chunk", ErrNotPlayable)
			}
			var b [16]byte
			if _, err := io.ReadFull(f, b[:]); err != nil {
				return w, fmt.Errorf("%w: short fmt chunk", ErrNotPlayable)
			}
			w.Format = binary.LittleEndian.Uint16(b[0:2])
			w.Channels = binary.LittleEndian.Uint16(b[2:4])
			w.Rate = binary.LittleEndian.Uint32(b[4:8])
			w.Bits = binary.LittleEndian.Uint16(b[14:16])
			haveFmt = true
			if _, err := f.Seek(int64(size-16+size%2), io.SeekCurrent); err != nil {
				return w, err
			}
		case "data":
			w.DataBytes = size
			switch {
			case !haveFmt:
				return w, fmt.Errorf("%w: data before fmt", ErrNotPlayable)
			case w.Format != 1 || w.Channels != 1 || w.Bits != 16 || w.Rate != 8000:
				return w, fmt.Errorf("%w: format %d, %d channels, %d bits, %d Hz", ErrNotPlayable, w.Format, w.Channels, w.Bits, w.Rate)
			case size < 2:
				return w, fmt.Errorf("%w: no samples", ErrNotPlayable)
			}
			return w, nil
		default:
			if _, err := f.Seek(int64(size+size%2), io.SeekCurrent); err != nil {
				return w, err
			}
		}
	}
}

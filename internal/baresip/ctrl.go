package baresip

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// baresip's ctrl_tcp module speaks netstrings ("LEN:PAYLOAD,") carrying
// JSON. A command is {"command": NAME, "params": ARGS, "token": T}; its
// answer is {"response": true, "ok": BOOL, "data": TEXT, "token": T}. Events
// are {"event": true, "type": ..., "class": ..., "accountaor": ...,
// "direction": ..., "peeruri": ..., "id": ..., "param": ...}; events that
// concern no call (registration) carry no id.

// maxMessage bounds one netstring. baresip's own answers are a few
// kilobytes (help, listcalls); anything far larger is a broken stream.
const maxMessage = 1 << 20

var errMessageTooLong = errors.New("netstring too long")

// readNetstring reads one netstring's payload.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	n := 0
	digits := 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b == ':' {
			break
		}
		if b < '0' || b > '9' {
			return nil, fmt.Errorf("netstring: bad length byte %q", b)
		}
		if digits > 0 && n == 0 {
			return nil, errors.New("netstring: leading zero in length")
		}
		n = n*10 + int(b-'0')
		digits++
		if n > maxMessage {
			return nil, errMessageTooLong
		}
	}
	if digits == 0 {
		return nil, errors.New("netstring: empty length")
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("netstring: missing ',' after %d bytes", n)
	}
	return buf[:n], nil
}

// appendNetstring appends payload as a netstring.
func appendNetstring(dst, payload []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ':')
	dst = append(dst, payload...)
	return append(dst, ',')
}

// command is what the driver sends.
type command struct {
	Command string `json:"command"`
	Params  string `json:"params,omitempty"`
	Token   string `json:"token"`
}

// message is anything baresip sends: a response or an event.
type message struct {
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`

	Event      bool   `json:"event"`
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	Param      string `json:"param"`
}

func decodeMessage(b []byte) (message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return message{}, fmt.Errorf("decode ctrl_tcp message: %w", err)
	}
	if m.Response == m.Event {
		return message{}, fmt.Errorf("decode ctrl_tcp message: neither a response nor an event: %.200s", b)
	}
	return m, nil
}

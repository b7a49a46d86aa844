package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// The helpers speak RESP themselves, one short connection per command:
// they poll servers that are being killed and promoted, where a client
// library's pool, retries and logging would only be in the way.

// ReplyError is an error reply of the server ("-ERR ...", "-MOVED ...").
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// cmdTimeout bounds one admin command, dial included. Every helper that
// polls does so under its own overall limit.
const cmdTimeout = 2 * time.Second

// Do sends one command to the server at Addr and returns its reply:
// string (simple and bulk), int64, []any, nil (null) or a ReplyError.
func (s *Server) Do(args ...string) (any, error) { return do(s.Addr, args...) }

func do(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, cmdTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(cmdTimeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	v, err := readReply(bufio.NewReader(c))
	if err != nil {
		return nil, err
	}
	if re, ok := v.(ReplyError); ok {
		return nil, re
	}
	return v, nil
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return ReplyError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// doString is Do for a command whose reply is one string.
func doString(addr string, args ...string) (string, error) {
	v, err := do(addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: reply %T, not a string", args[0], v)
	}
	return s, nil
}

// infoField reads one field of an INFO section ("master_link_status").
func infoField(addr, section, field string) (string, error) {
	text, err := doString(addr, "INFO", section)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO %s has no %s", section, field)
}

// role is the first element of ROLE: "master", "slave" or "sentinel".
func role(addr string) (string, error) {
	v, err := do(addr, "ROLE")
	if err != nil {
		return "", err
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return "", fmt.Errorf("ROLE: reply %v", v)
	}
	r, _ := arr[0].(string)
	return r, nil
}

// poll calls cond every interval until it reports true or limit passes;
// the last error cond gave is in the failure.
func poll(limit, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s: not within %v (last: %w)", what, limit, last)
			}
			return fmt.Errorf("%s: not within %v", what, limit)
		}
		time.Sleep(interval)
	}
}

// KeySlot is Redis Cluster's hash slot of key: CRC16 (XMODEM) of the hash
// tag (the part between the first "{" and the next "}", if not empty) or
// of the whole key, modulo 16384.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

//go:build linux

package sdk

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// maxSessionIDLen bounds the id carried by one anchor message.
const maxSessionIDLen = 1024

// unixAnchorSocket is an anchor channel end over a SOCK_SEQPACKET unix
// socket: one message per anchor, boundaries kept by the kernel.
type unixAnchorSocket struct {
	conn *net.UnixConn
}

// newAnchorPair makes an anchor channel for a launch: the host's end, and
// the file the plugin inherits as its end.
func newAnchorPair() (*anchorChannel, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("anchor channel: %w", err)
	}
	host := os.NewFile(uintptr(fds[0]), "locksmith-anchors")
	peer := os.NewFile(uintptr(fds[1]), "locksmith-anchors")
	sock, err := anchorSocketFromFile(host)
	if err != nil {
		_ = peer.Close()
		return nil, nil, err
	}
	return newAnchorChannel(sock), peer, nil
}

// pluginAnchors opens the plugin's end of the anchor channel its host
// passed, or returns nil when the host passed none.
func pluginAnchors() (*anchorChannel, error) {
	v := os.Getenv(anchorFDEnv)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a file descriptor", anchorFDEnv, v)
	}
	syscall.CloseOnExec(fd)
	sock, err := anchorSocketFromFile(os.NewFile(uintptr(fd), "locksmith-anchors"))
	if err != nil {
		return nil, err
	}
	return newAnchorChannel(sock), nil
}

// anchorSocketFromFile wraps f, which it closes, in the runtime's poller.
func anchorSocketFromFile(f *os.File) (anchorSocket, error) {
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("anchor channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("anchor channel: descriptor is a %T, not a unix socket", c)
	}
	return &unixAnchorSocket{conn: uc}, nil
}

func (s *unixAnchorSocket) send(id string, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Control(func(fd uintptr) {
		_, _, werr = s.conn.WriteMsgUnix([]byte(id), syscall.UnixRights(int(fd)), nil)
	})
	if err != nil {
		return err
	}
	return werr
}

func (s *unixAnchorSocket) recv() (string, *os.File, error) {
	buf := make([]byte, maxSessionIDLen)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for {
		n, oobn, flags, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return "", nil, err
		}
		if n == 0 && oobn == 0 {
			return "", nil, errors.New("peer closed the anchor channel")
		}
		fds := parseRights(oob[:oobn])
		if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 || len(fds) != 1 || n == 0 {
			// Not an anchor message: drop it, and whatever came with it.
			for _, fd := range fds {
				_ = syscall.Close(fd)
			}
			continue
		}
		syscall.CloseOnExec(fds[0])
		id := string(buf[:n])
		return id, os.NewFile(uintptr(fds[0]), "anchor-"+id), nil
	}
}

func (s *unixAnchorSocket) close() error { return s.conn.Close() }

// parseRights returns the descriptors an SCM_RIGHTS message carried.
func parseRights(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if r, err := syscall.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

//go:build !cgo

package capture

import (
	"errors"
	"testing"
)

func TestNoLibpcap(t *testing.T) {
	if err := CompileFilter(""); err != nil {
		t.Errorf("CompileFilter(\"\") = %v", err)
	}
	if err := CompileFilter("tcp"); !errors.Is(err, ErrNoLibpcap) {
		t.Errorf("CompileFilter = %v, want ErrNoLibpcap", err)
	}
	if _, err := Open([]string{"x.pcap"}, OpenOptions{Filter: "tcp"}); !errors.Is(err, ErrNoLibpcap) {
		t.Errorf("Open with a filter = %v, want ErrNoLibpcap", err)
	}
}

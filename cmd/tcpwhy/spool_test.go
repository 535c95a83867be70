//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadOnceInputs reads the demo capture through standard input and
// through a named pipe (what a shell's <(...) gives): the text, which
// reads its input twice, and the JSON must be what the file gives, under
// the input's own name, and an error must name the input, not the
// temporary copy.
func TestReadOnceInputs(t *testing.T) {
	demo := "../../testdata/pcaps/demo.pcap"
	file, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	fifo := func() string {
		path := filepath.Join(t.TempDir(), "capture.fifo")
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		go func() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			f.Write(file)
			f.Close()
		}()
		return path
	}
	for _, args := range [][]string{{}, {"--json"}} {
		_, want, _ := rbMain(t, append(args, "-r", demo)...)
		var out, errb bytes.Buffer
		if code := Main(append(args, "-r", "-"), bytes.NewReader(file), &out, &errb); code != 0 {
			t.Fatalf("%v -r -: exit %d: %s", args, code, errb.String())
		}
		if got := strings.ReplaceAll(out.String(), `"-"`, `"`+demo+`"`); strings.ReplaceAll(got, " in - (", " in "+demo+" (") != want {
			t.Errorf("%v -r -: output differs from the file's:\n%s", args, out.String())
		}
		path := fifo()
		code, got, stderr := rbMain(t, append(args, "-r", path)...)
		if code != 0 {
			t.Fatalf("%v -r FIFO: exit %d: %s", args, code, stderr)
		}
		if strings.ReplaceAll(got, path, demo) != want {
			t.Errorf("%v -r FIFO: output differs from the file's:\n%s", args, got)
		}
	}
	var out, errb bytes.Buffer
	code := Main([]string{"-q", "-r", "-"}, bytes.NewReader(file[:100]), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "read standard input: packet ") {
		t.Errorf("broken standard input: exit %d, stderr %q; want 1 and an error naming standard input", code, errb.String())
	}
}

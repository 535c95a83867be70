package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHTMLGolden(t *testing.T) {
	for _, name := range goldenCaptures {
		t.Run(name, func(t *testing.T) {
			a, px := analyse(t, labCapture(name))
			var buf bytes.Buffer
			if err := HTML(&buf, a, DigestOf(a), px); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".html", buf.Bytes())
		})
	}
}

func TestHTMLLadder(t *testing.T) {
	a, px := analyse(t, labCapture("overflow-abort1"))
	var buf bytes.Buffer
	if err := HTML(&buf, a, DigestOf(a), px); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	failing := DigestOf(a).Sections()
	if got := strings.Count(out, `aria-label="ladder diagram"`); got != len(failing) {
		t.Errorf("%d ladder diagrams for %d failing flows", got, len(failing))
	}
	if got := strings.Count(out, `aria-label="timeline of connection outcomes"`); got != len(a.Listeners) {
		t.Errorf("%d timelines for %d listeners", got, len(a.Listeners))
	}
	// One arrow per packet of each failing flow, decisive ones highlighted.
	arrows, decisive := 0, 0
	for _, r := range failing {
		for _, p := range px.Flow(r.ID).Packets {
			arrows++
			if p.Decisive {
				decisive++
			}
		}
	}
	if got := strings.Count(out, `<line class="arrow`); got != arrows {
		t.Errorf("%d arrows, want %d", got, arrows)
	}
	if got := strings.Count(out, `<line class="arrow decisive`); got != decisive {
		t.Errorf("%d highlighted arrows, want %d", got, decisive)
	}
}

func TestHTMLEscapesHostileText(t *testing.T) {
	var buf bytes.Buffer
	if err := HTML(&buf, hostileAnalysis(), DigestOf(hostileAnalysis()), hostileIndex()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"<script", "<img", "href=\"javascript"} {
		if strings.Contains(out, bad) {
			t.Errorf("hostile markup %q reached the HTML", bad)
		}
	}
	if n := strings.Count(out, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 4 {
		t.Errorf("escaped hostile text found %d times, want it in the findings, diagnosis, table, notes and ladder", n)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	a, px := analyse(t, labCapture("overflow-abort1"))
	var buf bytes.Buffer
	if err := HTML(&buf, a, DigestOf(a), px); err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(buf.String(), `xmlns="http://www.w3.org/2000/svg"`, "")
	if m := regexp.MustCompile(`(?i)https?:|<script|<link|<img|<iframe|\ssrc=|@import|url\((?:[^#])`).FindString(out); m != "" {
		t.Errorf("the page refers to something outside itself: %q", m)
	}
}

// chromium finds Debian's chromium, installing it under CI=true when it
// is missing and the test runs as root.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "true" || os.Geteuid() != 0 {
		t.Skip("chromium is not installed (apt-get install chromium; the test installs it itself under CI=true as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("cannot install chromium: apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium still missing after apt-get install: %v", err)
	}
	return p
}

// TestHTMLInChromium renders the report in headless Chromium and checks
// the screenshot shows a page: many colours, dark text on a light page
// and the red of the highlighted decisive packets.
func TestHTMLInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := chromium(t)
	a, px := analyse(t, labCapture("overflow-abort1"))
	dir := t.TempDir()
	page, shot := filepath.Join(dir, "report.html"), filepath.Join(dir, "shot.png")
	var buf bytes.Buffer
	if err := HTML(&buf, a, DigestOf(a), px); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1280,2000", "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	colours := map[[3]uint32]int{}
	dark, red, total := 0, 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			colours[[3]uint32{r, g, bl}]++
			total++
			if r < 90 && g < 90 && bl < 90 {
				dark++
			}
			if r > 170 && g < 80 && bl < 80 {
				red++
			}
		}
	}
	t.Logf("screenshot %dx%d: %d colours, %.2f%% dark, %.3f%% red", b.Dx(), b.Dy(), len(colours), 100*float64(dark)/float64(total), 100*float64(red)/float64(total))
	if len(colours) < 50 {
		t.Errorf("screenshot has only %d colours: blank page?", len(colours))
	}
	if dark < total/200 {
		t.Errorf("only %d of %d sampled pixels are dark: no text rendered?", dark, total)
	}
	if red < 50 {
		t.Errorf("only %d red pixels: the badges and highlighted decisive packets did not render", red)
	}
}

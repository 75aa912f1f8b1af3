package server

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestDashboardAssetsEmbedded(t *testing.T) {
	e := newEnv(t, nil)
	for path, want := range map[string]string{"/": "<title>Locksmith</title>", "/app.js": "EventSource", "/style.css": "prefers-color-scheme: dark"} {
		r := e.do("GET", path, "")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), want) {
			t.Fatalf("GET %s: %d, body lacks %q", path, r.status, want)
		}
		if r.header.Get("Content-Security-Policy") == "" {
			t.Fatalf("GET %s: no Content-Security-Policy", path)
		}
	}
	// Everything the page loads comes from the server itself.
	r := e.do("GET", "/", "")
	for _, ext := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(string(r.body), ext) {
			t.Fatalf("the page refers to %s", ext)
		}
	}
}

// chromium finds a headless-capable Chromium: Debian's `chromium`.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH (apt-get install chromium); CI must run the browser test")
	}
	t.Skip("no chromium on PATH (apt-get install chromium): skipping the browser test")
	return ""
}

// artifactDir is where tests leave files for people to look at:
// $LOCKSMITH_ARTIFACTS, else .artifacts at the repository root.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("LOCKSMITH_ARTIFACTS"); d != "" {
		return d
	}
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", ".artifacts")
}

func TestDashboardInBrowser(t *testing.T) {
	browser := chromium(t)
	e := newEnv(t, nil)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1440, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.http.URL+"/"),
		chromedp.WaitVisible("#tree"),
		pollText("#conn", "live"),
	); err != nil {
		t.Fatalf("load the dashboard: %v", err)
	}
	l := e.acquire(`{"resource":"deploy/web","metadata":{"owner":"browser-test"}}`)
	if err := chromedp.Do(ctx, pollText("#tree", "deploy"), pollText("#tree", "web"),
		pollText("#tree", "#"+itoa(l.Token)), pollText("#events", "acquired")); err != nil {
		t.Fatalf("the lock did not appear without a reload: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := artifactDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	e.do("DELETE", "/api/v1/leases/"+l.ID, "")
	if err := chromedp.Do(ctx, pollNoText("#tree", "deploy"), pollText("#events", "released")); err != nil {
		t.Fatalf("the released lock did not go: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// pollText waits until the element's text contains want.
func pollText(sel, want string) chromedp.Action[chromedp.Void] {
	return poll(`(document.querySelector(` + quote(sel) + `)?.textContent || "").includes(` + quote(want) + `)`)
}

// pollNoText waits until the element's text no longer contains want.
func pollNoText(sel, want string) chromedp.Action[chromedp.Void] {
	return poll(`!(document.querySelector(` + quote(sel) + `)?.textContent || "").includes(` + quote(want) + `)`)
}

// poll waits until the expression is true in the page.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
		return err
	})
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

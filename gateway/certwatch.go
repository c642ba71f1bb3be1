package gateway

import (
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// certWatch reloads the configuration in force when a certificate or key
// file a file tenant serves changes on disk (renewed by certbot, say), so
// that a new certificate is served without a SIGHUP. It watches the files'
// directories (a renewal usually replaces a file by renaming another onto
// it), and a reload re-reads only the files that changed, swapping the
// tenants in at once: no handshake fails. A change that does not load (a
// certificate written before its key) is refused and logged, the previous
// certificate keeps serving, and the next change tries again.
type certWatch struct {
	g       *Gateway
	once    sync.Once
	mu      sync.Mutex
	w       *fsnotify.Watcher
	dirs    map[string]bool
	files   map[string]bool
	pending chan struct{}
}

// certWatchDebounce coalesces the writes of one renewal (certificate,
// chain and key) into one reload.
const certWatchDebounce = 300 * time.Millisecond

// ensure watches the directories of s's certificate files, starting the
// watcher on first use; directories no longer needed are let go.
func (cw *certWatch) ensure(s *snapshot) {
	files := map[string]bool{}
	for _, t := range s.list {
		for _, lc := range t.certs {
			if !lc.cfg.SelfSigned && lc.cfg.CertFile != "" {
				files[filepath.Clean(lc.cfg.CertFile)] = true
				files[filepath.Clean(lc.cfg.KeyFile)] = true
			}
		}
	}
	if len(files) == 0 && cw.w == nil {
		return
	}
	cw.once.Do(func() {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			cw.g.log.Warn("certificate files are not watched: changes need a reload (SIGHUP)", "err", err)
			return
		}
		cw.w, cw.dirs, cw.pending = w, map[string]bool{}, make(chan struct{}, 1)
		go cw.events()
		go cw.reloader()
	})
	if cw.w == nil {
		return
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.files = files
	dirs := map[string]bool{}
	for f := range files {
		dirs[filepath.Dir(f)] = true
	}
	for d := range dirs {
		if !cw.dirs[d] {
			if err := cw.w.Add(d); err != nil {
				cw.g.log.Warn("cannot watch a certificate directory: changes there need a reload (SIGHUP)", "dir", d, "err", err)
				continue
			}
			cw.dirs[d] = true
		}
	}
	for d := range cw.dirs {
		if !dirs[d] {
			_ = cw.w.Remove(d)
			delete(cw.dirs, d)
		}
	}
}

func (cw *certWatch) events() {
	for {
		select {
		case <-cw.g.ctx.Done():
			cw.w.Close()
			return
		case ev, ok := <-cw.w.Events:
			if !ok {
				return
			}
			cw.mu.Lock()
			watched := cw.files[filepath.Clean(ev.Name)]
			cw.mu.Unlock()
			if watched && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				select {
				case cw.pending <- struct{}{}:
				default:
				}
			}
		case err, ok := <-cw.w.Errors:
			if !ok {
				return
			}
			cw.g.log.Warn("certificate file watch", "err", err)
		}
	}
}

func (cw *certWatch) reloader() {
	cw.g.reloadOnPoke(cw.pending, certWatchDebounce,
		"a changed certificate file was refused: the previous certificate keeps serving", "certificate files changed: reloaded")
}

package testkit

import "io"

// Freeze makes the proxy hang, as a stalled server or a silent network
// would: open connections stay open but nothing more is forwarded either
// way, and new connections are accepted but never answered, until Thaw
// (or Stop). A client sees no error, only no answer.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thaw == nil {
		p.thaw = make(chan struct{})
	}
}

// Thaw resumes forwarding after Freeze; what was held is forwarded then.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thaw != nil {
		close(p.thaw)
		p.thaw = nil
	}
}

// waitThawed returns when the proxy is not frozen.
func (p *Proxy) waitThawed() {
	p.mu.Lock()
	ch := p.thaw
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// thawedWriter writes to w only while its proxy is not frozen.
type thawedWriter struct {
	p *Proxy
	w io.Writer
}

func (t thawedWriter) Write(b []byte) (int, error) {
	t.p.waitThawed()
	return t.w.Write(b)
}

package httpapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/changes"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
)

// changesWriteTimeout bounds one frame's write: a client that does not
// read for that long is disconnected (the server's WriteTimeout would end
// the stream after 30 s whatever the client does, so each write sets its own
// deadline).
const changesWriteTimeout = 10 * time.Second

// changesReady is the data of the ready frame.
type changesReady struct {
	Policy          any   `json:"policy"`
	HeartbeatMS     int64 `json:"heartbeat_ms"`
	TouchIntervalMS int64 `json:"touch_interval_ms"`
}

// streamChanges is GET /v1/changes: the tenant's changes stream as
// text/event-stream (docs/architecture.md, "Changes stream"). A reset comes
// first when Last-Event-ID cannot be resumed, then the entries missed since
// it, then ready with the policy, then the live changes and a `: ping`
// every heartbeat. The stream ends when the client leaves, falls too far
// behind, the tenant is suspended or deleted, its API key is revoked,
// Redis fails, or the instance shuts down.
func (s *server) streamChanges(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if s.Changes == nil {
		return fault.New(fault.Unavailable, "the changes stream is not enabled on this instance")
	}
	sub, err := s.Changes.Subscribe(r.Context(), p.TenantID, p.APIKeyID, r.Header.Get("Last-Event-ID"))
	if err != nil {
		return err
	}
	defer sub.Close()
	policy, err := s.Tenants.Policy(p.TenantID)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// A stream has no body to read: lift the deadline the server's
	// ReadTimeout set on the connection.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: bufio.NewWriterSize(w, 4096), rc: rc, hub: s.Changes}

	if sub.Reset != "" {
		data, _ := json.Marshal(map[string]string{"reason": sub.Reset})
		if err := out.frame("", "reset", data); err != nil {
			return nil
		}
	}
	last, resumed := sub.After()
	err = sub.Backlog(r.Context(), func(f changes.Frame) error {
		last, resumed = f.ID, true
		return out.frame(f.ID, f.Event, f.Data)
	})
	if err != nil {
		return nil // the headers are out: the client sees the stream end
	}
	ready, _ := json.Marshal(changesReady{
		Policy: policy, HeartbeatMS: s.Changes.Heartbeat().Milliseconds(),
		TouchIntervalMS: sessions.TouchInterval.Milliseconds(),
	})
	if err := out.frame("", "ready", ready); err != nil {
		return nil
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case f, ok := <-sub.C:
			switch {
			case !ok || f.End:
				return nil
			case f.Event == "":
				err = out.ping()
			case resumed && !newer(f.ID, last):
				continue // already in the backlog, or known to the client
			default:
				err = out.frame(f.ID, f.Event, f.Data)
			}
			if err != nil {
				return nil
			}
		}
	}
}

// newer reports whether stream id a comes after b.
func newer(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am > bm || (am == bm && as > bs)
}

func splitID(id string) (ms, seq uint64) {
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			ms, _ = strconv.ParseUint(id[:i], 10, 64)
			seq, _ = strconv.ParseUint(id[i+1:], 10, 64)
			return ms, seq
		}
	}
	return 0, 0
}

// sseWriter writes server-sent events, each flushed at once under its own
// write deadline.
type sseWriter struct {
	w   *bufio.Writer
	rc  *http.ResponseController
	hub *changes.Hub
}

// frame writes one event; id "" writes none. data is one line of JSON.
func (s *sseWriter) frame(id, event string, data []byte) error {
	if id != "" {
		s.w.WriteString("id: ")
		s.w.WriteString(id)
		s.w.WriteByte('\n')
	}
	s.w.WriteString("event: ")
	s.w.WriteString(event)
	s.w.WriteString("\ndata: ")
	s.w.Write(data)
	s.w.WriteString("\n\n")
	return s.flush(event == "reset")
}

func (s *sseWriter) ping() error {
	s.w.WriteString(": ping\n\n")
	return s.flush(false)
}

func (s *sseWriter) flush(reset bool) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(changesWriteTimeout))
	if err := s.w.Flush(); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	s.hub.Sent(reset)
	return nil
}

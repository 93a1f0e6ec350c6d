package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Get returns live session id. It does not slide the idle timer.
//
// Errors: fault.Forbidden, fault.InvalidRequest (malformed id),
// fault.NotFound (no such live session in this tenant), fault.Unavailable.
func (m *Manager) Get(ctx context.Context, tenantID, id string) (Session, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return Session{}, err
	}
	if err := checkSessionID("id", id); err != nil {
		return Session{}, err
	}
	rec, err := m.load(ctx, refOf(tenantID, id), snap.Policy)
	if err != nil {
		return Session{}, err
	}
	return view(id, rec), nil
}

// load reads a live session under the tenant's policy now (the deadlines
// verify would apply), or returns fault.NotFound.
func (m *Manager) load(ctx context.Context, ref Ref, pol tenants.Policy) (Record, error) {
	rec, ok, err := m.store.Get(ctx, ref)
	if err != nil {
		return Record{}, err
	}
	rec = rec.Effective(LimitsOf(pol))
	if !ok || rec.Expiry(ms(m.now())) != StatusOK {
		return Record{}, errSessionNotFound()
	}
	return rec, nil
}

// maxPatchAttempts bounds the retries of an unconditional patch that keeps
// losing to concurrent writers.
const maxPatchAttempts = 5

// PatchData applies an RFC 7396 JSON merge patch to a live session's data and
// returns the session with its version incremented. With ifVersion, the
// patch applies only to that version. It does not slide the idle timer.
//
// Errors: fault.Forbidden, fault.InvalidRequest (malformed id; the patch is
// not a JSON object), fault.NotFound, fault.VersionConflict (ifVersion is
// not the current version, or concurrent writers kept winning),
// fault.PayloadTooLarge (merged data over max_data_bytes),
// fault.Unavailable.
func (m *Manager) PatchData(ctx context.Context, tenantID, id string, mergePatch json.RawMessage, ifVersion *int64, meta Meta) (Session, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return Session{}, err
	}
	if err := checkSessionID("id", id); err != nil {
		return Session{}, err
	}
	patch, err := decodeObject(mergePatch)
	if err != nil {
		return Session{}, fault.Invalid("data", "must be a JSON object (a merge patch)")
	}
	ref := refOf(tenantID, id)
	for range maxPatchAttempts {
		rec, err := m.load(ctx, ref, snap.Policy)
		if err != nil {
			return Session{}, err
		}
		if ifVersion != nil && *ifVersion != rec.Version {
			return Session{}, errVersionConflict(rec.Version)
		}
		data, err := mergeData(rec.Data, patch, snap.Policy.MaxDataBytes)
		if err != nil {
			return Session{}, err
		}
		res, err := m.store.Patch(ctx, PatchCall{Ref: ref, Version: rec.Version, Data: data, Now: ms(m.now())})
		if err != nil {
			return Session{}, err
		}
		switch res.Status {
		case StatusOK:
			if err := m.changes.SessionsEnded(ctx, tenantID, []string{id}, ChangeChanged); err != nil {
				return Session{}, err
			}
			return view(id, res.Record.Effective(LimitsOf(snap.Policy))), nil
		case StatusMissing:
			return Session{}, errSessionNotFound()
		case StatusConflict:
		default:
			return Session{}, unexpected(res.Status)
		}
		if ifVersion != nil {
			return Session{}, errVersionConflict(-1)
		}
	}
	return Session{}, errVersionConflict(-1)
}

// mergeData applies an RFC 7396 merge patch to a session's data and returns
// the result compacted. Errors: fault.InvalidRequest,
// fault.PayloadTooLarge (over maxBytes).
func mergeData(data string, patch map[string]any, maxBytes int) (string, error) {
	current, err := decodeObject(json.RawMessage(data))
	if err != nil {
		current = map[string]any{}
	}
	merged, err := encodeJSON(applyMergePatch(current, patch))
	if err != nil {
		return "", fault.Invalid("data", "must be a JSON object (a merge patch)")
	}
	return normalizeData(merged, maxBytes)
}

func errVersionConflict(current int64) error {
	if current < 0 {
		return fault.New(fault.VersionConflict, "the session's data changed concurrently; read it and try again")
	}
	return fault.New(fault.VersionConflict, "the session's data is at version %d", current)
}

// decodeObject decodes a JSON object, keeping numbers exact.
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return obj, nil
}

// applyMergePatch implements RFC 7396.
func applyMergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = applyMergePatch(t[k], v)
	}
	return t
}

func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

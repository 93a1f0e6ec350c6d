package sessions

import (
	"context"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Listing order and cursors. A tenant-wide listing walks buckets 0..1023 in
// order and, within a bucket, the index zset in its own order (idle
// deadline, then id); a user's listing is the user's zset order (created_at,
// then id). A cursor is the position of the last entry examined,
// "<bucket>.<score>.<id>", or "<bucket>" for the start of a bucket. A user's
// entries keep their score, so a user's listing returns each session live
// for the whole walk exactly once; in a tenant-wide walk a session that is
// used moves to a later deadline, so each is returned at least once (a used
// one possibly twice; one whose deadline a tightened policy moved back may
// be missed).
//
// A page examines at most maxExamined(limit) index entries, so its cost is
// bounded by the page whatever dead entries lie in the way: a page may then
// be short, or empty, with a cursor to continue from.

// maxExamined is how many index entries one page of limit may examine.
func maxExamined(limit int) int { return 4 * limit }

// cursor formats a listing position as a cursor.
func cursor(p Position) string {
	if p.ID == "" {
		return strconv.Itoa(int(p.Bucket))
	}
	return strconv.Itoa(int(p.Bucket)) + "." + strconv.FormatInt(p.Score, 10) + "." + p.ID
}

// parseCursor reverses cursor; "" is the start of the listing.
func parseCursor(c string) (Position, error) {
	if c == "" {
		return Position{}, nil
	}
	bad := fault.Invalid("cursor", "is not a cursor returned by a previous page")
	parts := strings.Split(c, ".")
	if len(parts) == 1 {
		b, err := strconv.Atoi(parts[0])
		if err != nil || b < 0 || b >= NumBuckets || strconv.Itoa(b) != parts[0] {
			return Position{}, bad
		}
		return Position{Bucket: Bucket(b)}, nil
	}
	if len(parts) != 3 {
		return Position{}, bad
	}
	b, err1 := strconv.Atoi(parts[0])
	score, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || b < 0 || b >= NumBuckets || score < 0 ||
		!ValidSessionID(parts[2]) || BucketOf(parts[2]) != Bucket(b) {
		return Position{}, bad
	}
	return Position{Bucket: Bucket(b), Score: score, ID: parts[2]}, nil
}

// List returns one page of live sessions, of the whole tenant (userID "")
// or of one user, and the cursor of the next page ("" at the end). limit
// defaults to 50 and is at most 200. Dead index entries met on the way are
// dropped and removed. A page examines at most 4 × limit index entries, so
// it may be short, even empty, and still have a next cursor. It never uses
// KEYS or SCAN; a tenant-wide page reads the bucket indexes a batch at a
// time (Store.IndexEntries).
//
// Errors: fault.Forbidden, fault.InvalidRequest (user_id, cursor),
// fault.Unavailable.
func (m *Manager) List(ctx context.Context, tenantID, userID, cursor string, limit int) ([]Session, string, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return nil, "", err
	}
	limit = tenants.Page{Limit: limit}.Normalize().Limit
	pos, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if userID != "" {
		if !ValidUserID(userID) {
			return nil, "", invalidUserID("user_id")
		}
		return m.listUserPage(ctx, tenantID, userID, snap.Policy, pos, limit)
	}
	return m.listTenantPage(ctx, tenantID, snap.Policy, pos, limit)
}

// ListUser returns the first sessions of a user (at most 200), oldest
// first, with device, created and last-seen times: all of them under any
// cap up to 200 (unless more than 600 dead entries lie among the first
// ones). Use List with the user id to page through more.
//
// Errors: fault.Forbidden, fault.InvalidRequest (user_id),
// fault.Unavailable.
func (m *Manager) ListUser(ctx context.Context, tenantID, userID string) ([]Session, error) {
	if !ValidUserID(userID) {
		return nil, invalidUserID("user_id")
	}
	list, _, err := m.List(ctx, tenantID, userID, "", tenants.MaxPageLimit)
	return list, err
}

// listUserPage reads a user's index (score = created_at) from pos a page at
// a time, skipping dead entries, examining at most maxExamined(limit), so
// its work is bounded by the page, not by the user's number of sessions.
func (m *Manager) listUserPage(ctx context.Context, tenantID, userID string, pol tenants.Policy, pos Position, limit int) ([]Session, string, error) {
	bucket := userBucket(tenantID, userID)
	if pos.ID != "" && pos.Bucket != bucket {
		return nil, "", fault.Invalid("cursor", "is not a cursor returned by a previous page")
	}
	pos.Bucket = bucket
	page := make([]Session, 0, limit)
	for budget := maxExamined(limit); ; {
		need := min(limit-len(page), budget)
		budget -= need
		cands, err := m.store.UserEntries(ctx, tenantID, userID, pos, need)
		if err != nil {
			return nil, "", err
		}
		live, err := m.readLive(ctx, tenantID, pol, cands, userID, ms(m.now()))
		if err != nil {
			return nil, "", err
		}
		page = append(page, live...)
		if len(cands) < need {
			return page, "", nil
		}
		pos = cands[len(cands)-1]
		if len(page) == limit || budget == 0 {
			return page, cursor(pos), nil
		}
	}
}

// listTenantPage walks the tenant's buckets from pos until the page is full,
// it has examined maxExamined(limit) entries, or the walk is over.
func (m *Manager) listTenantPage(ctx context.Context, tenantID string, pol tenants.Policy, pos Position, limit int) ([]Session, string, error) {
	now := ms(m.now())
	page := make([]Session, 0, limit)
	for budget := maxExamined(limit); len(page) < limit && budget > 0 && pos.Bucket < NumBuckets; {
		need := min(limit-len(page), budget)
		cands, next, err := m.store.IndexEntries(ctx, tenantID, pos, need, now)
		if err != nil {
			return nil, "", err
		}
		live, err := m.readLive(ctx, tenantID, pol, cands, "", now)
		if err != nil {
			return nil, "", err
		}
		page = append(page, live...)
		budget -= len(cands)
		pos = next
	}
	if pos.Bucket >= NumBuckets {
		return page, "", nil
	}
	return page, cursor(pos), nil
}

// readLive reads the sessions at cands and returns, in order, those live
// under the tenant's policy now (the deadlines verify would apply).
func (m *Manager) readLive(ctx context.Context, tenantID string, pol tenants.Policy, cands []Position, userID string, now int64) ([]Session, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	recs, found, err := m.store.Records(ctx, tenantID, cands, userID, now)
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(cands))
	for i, c := range cands {
		if rec := recs[i].Effective(TimeoutsOf(pol)); found[i] && rec.Expiry(now) == StatusOK {
			out = append(out, view(c.ID, rec))
		}
	}
	return out, nil
}

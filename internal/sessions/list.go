package sessions

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Listing order and cursors. A tenant-wide listing walks buckets 0..1023 in
// order and, within a bucket, the index zset in its own order (absolute
// deadline, then id); a user's listing is the user's zset order (created_at,
// then id). A cursor is the position of the last session returned:
// "<bucket>.<score>.<id>". Because a session's score never changes, every
// session live for the whole walk is returned exactly once.

// Listing batch sizes: buckets read per pipeline start small (a dense tenant
// fills a page from its first buckets) and double while buckets come back
// empty (a sparse tenant is walked in few round trips).
const (
	firstBatch = 4
	maxBatch   = 128
)

type position struct {
	bucket int
	score  int64
	member string // "" = the start of bucket
}

func (p position) String() string {
	return strconv.Itoa(p.bucket) + "." + strconv.FormatInt(p.score, 10) + "." + p.member
}

func parseCursor(c string) (position, error) {
	if c == "" {
		return position{}, nil
	}
	bad := fault.Invalid("cursor", "is not a cursor returned by a previous page")
	parts := strings.Split(c, ".")
	if len(parts) != 3 {
		return position{}, bad
	}
	b, err1 := strconv.Atoi(parts[0])
	score, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || b < 0 || b >= numBuckets || score < 0 ||
		!ValidSessionID(parts[2]) || sessionBucket(parts[2]) != b {
		return position{}, bad
	}
	return position{bucket: b, score: score, member: parts[2]}, nil
}

// List returns one page of live sessions, of the whole tenant (userID "")
// or of one user, and the cursor of the next page ("" at the end). limit
// defaults to 50 and is at most 200. Dead index entries met on the way are
// dropped and removed. It never uses KEYS or SCAN; a tenant-wide page reads
// the bucket indexes a pipelined batch at a time.
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
// cap up to 200. Use List with the user id to page through more.
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

// listUserPage reads a user's zset (score = created_at) from pos a page at
// a time, skipping dead entries, so its work is bounded by the page, not by
// the user's number of sessions.
func (m *Manager) listUserPage(ctx context.Context, tenantID, userID string, pol tenants.Policy, pos position, limit int) ([]Session, string, error) {
	bucket := userBucket(tenantID, userID)
	if pos.member != "" && pos.bucket != bucket {
		return nil, "", fault.Invalid("cursor", "is not a cursor returned by a previous page")
	}
	pos.bucket = bucket
	key := m.keys(tenantID, bucket).user(userID)
	page := make([]Session, 0, limit)
	for {
		start := "-inf"
		if pos.member != "" {
			start = strconv.FormatInt(pos.score, 10)
		}
		need := limit - len(page)
		cands, err := m.entriesAfter(ctx, key, start, pos, need)
		if err != nil {
			return nil, "", err
		}
		live, err := m.readLive(ctx, tenantID, pol, cands, userID)
		if err != nil {
			return nil, "", err
		}
		page = append(page, live...)
		if len(cands) < need {
			return page, "", nil
		}
		pos = cands[len(cands)-1].position()
		if len(page) == limit {
			return page, pos.String(), nil
		}
	}
}

func (m *Manager) listTenantPage(ctx context.Context, tenantID string, pol tenants.Policy, pos position, limit int) ([]Session, string, error) {
	now := ms(m.now())
	page := make([]Session, 0, limit)
	for len(page) < limit && pos.bucket < numBuckets {
		cands, next, err := m.indexCandidates(ctx, tenantID, pos, limit-len(page), now)
		if err != nil {
			return nil, "", err
		}
		live, err := m.readLive(ctx, tenantID, pol, cands, "")
		if err != nil {
			return nil, "", err
		}
		page = append(page, live...)
		pos = next
	}
	if len(page) < limit || pos.bucket >= numBuckets {
		return page, "", nil
	}
	return page, pos.String(), nil
}

// candidate is an index entry that may name a live session.
type candidate struct {
	bucket int
	score  int64
	member string
}

func (c candidate) position() position {
	return position(c)
}

// indexCandidates returns up to need index entries after pos, in listing
// order, skipping entries past their absolute deadline, and the position
// after the last one returned (bucket numBuckets when the walk is over).
func (m *Manager) indexCandidates(ctx context.Context, tenantID string, pos position, need int, now int64) ([]candidate, position, error) {
	var out []candidate
	b := pos.bucket
	if pos.member != "" {
		rest, err := m.bucketAfter(ctx, tenantID, pos, need, now)
		if err != nil {
			return nil, pos, err
		}
		out = rest
		if len(out) == need {
			return out, out[need-1].position(), nil
		}
		b++
	}
	live := "(" + strconv.FormatInt(now, 10)
	for batch := firstBatch; b < numBuckets; batch = min(2*batch, maxBatch) {
		n := min(batch, numBuckets-b)
		pipe := m.rdb.Pipeline()
		cmds := make([]*redis.ZSliceCmd, n)
		for i := range n {
			cmds[i] = pipe.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
				Key: m.keys(tenantID, b+i).index(), Start: live, Stop: "+inf", ByScore: true, Count: int64(need - len(out)),
			})
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, pos, storeError(err)
		}
		for i, cmd := range cmds {
			for _, z := range cmd.Val() {
				out = append(out, candidate{bucket: b + i, score: int64(z.Score), member: memberString(z.Member)})
				if len(out) == need {
					return out, out[need-1].position(), nil
				}
			}
		}
		b += n
		if len(out) > 0 {
			break
		}
	}
	return out, position{bucket: b}, nil
}

// bucketAfter returns up to need entries of pos's bucket index strictly
// after (pos.score, pos.member) and past their deadline now.
func (m *Manager) bucketAfter(ctx context.Context, tenantID string, pos position, need int, now int64) ([]candidate, error) {
	start := strconv.FormatInt(pos.score, 10)
	if pos.score <= now {
		start = "(" + strconv.FormatInt(now, 10)
	}
	return m.entriesAfter(ctx, m.keys(tenantID, pos.bucket).index(), start, pos, need)
}

// entriesAfter returns up to need entries of the zset key (of pos's bucket)
// from score start on, strictly after (pos.score, pos.member) when
// pos.member is set. Entries that tie on score are ordered by id, so it reads
// past the ties it must skip, reading more while they fill a read.
func (m *Manager) entriesAfter(ctx context.Context, key, start string, pos position, need int) ([]candidate, error) {
	for count := int64(need + 16); ; count *= 2 {
		zs, err := m.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+inf", ByScore: true, Count: count}).Result()
		if err != nil {
			return nil, storeError(err)
		}
		var out []candidate
		for _, z := range zs {
			c := candidate{bucket: pos.bucket, score: int64(z.Score), member: memberString(z.Member)}
			if pos.member != "" && c.score == pos.score && c.member <= pos.member {
				continue
			}
			out = append(out, c)
			if len(out) == need {
				return out, nil
			}
		}
		if int64(len(zs)) < count {
			return out, nil
		}
	}
}

// readLive reads the sessions named by cands in one pipeline and returns the
// live ones in order. Entries whose session is gone are removed from the
// bucket index (and from userID's zset when given), best effort.
func (m *Manager) readLive(ctx context.Context, tenantID string, pol tenants.Policy, cands []candidate, userID string) ([]Session, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	pipe := m.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(cands))
	for i, c := range cands {
		cmds[i] = pipe.HGetAll(ctx, m.keys(tenantID, c.bucket).session(c.member))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, storeError(err)
	}
	now := ms(m.now())
	out := make([]Session, 0, len(cands))
	var gone []candidate
	for i, c := range cands {
		rec, ok := parseRecord(flatten(cmds[i].Val()))
		rec = rec.effective(pol)
		switch {
		case !ok:
			gone = append(gone, c)
		case rec.alive(now):
			out = append(out, rec.session(c.member))
		}
	}
	if len(gone) > 0 {
		clean := m.rdb.Pipeline()
		for _, c := range gone {
			ks := m.keys(tenantID, c.bucket)
			switch {
			case userID != "": // a user's index forgets an expired session at once
				clean.ZRem(ctx, ks.user(userID), c.member)
			case c.score+ExpiryGrace.Milliseconds() <= now:
				// The bucket index remembers it for the grace (see ExpiryGrace).
				clean.ZRem(ctx, ks.index(), c.member)
			}
		}
		_, _ = clean.Exec(ctx) // best effort: the entries are dead either way
	}
	return out, nil
}

func memberString(v any) string {
	s, _ := v.(string)
	return s
}

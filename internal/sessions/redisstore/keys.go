package redisstore

import "github.com/sessiond/sessiond/internal/sessions"

// Redis layout (docs/architecture.md, "Redis layout"), with P the prefix, T
// the tenant and B the bucket:
//
//	P:{T:B}:s:<sid>    string  one session, packed (layout/layout.go)
//	P:{T:B}:u:<user>   zset    the user's session ids, score = created_at (ms)
//	P:{T:B}:idx        zset    every session id in the bucket, score = idle deadline (ms; idx_score in common.lua)
//	P:{T:B}:r:<user>   string  a pending revocation of the user: "<cutoff ms>:<kept sid>"
//
// Every key of a bucket shares the hash tag {T:B}, so the scripts that
// touch them run in one Cluster slot. Tenant ids, user ids and session ids
// never contain '{', '}', ':' or '*' (the engine checks them), so none can
// leave its namespace.

// keyspace names the keys of one tenant's bucket.
type keyspace struct{ base string } // "P:{T:B}:"

func (s *Store) keys(tenantID string, b sessions.Bucket) keyspace {
	return keyspace{base: s.prefix + ":{" + tenantID + ":" + b.String() + "}:"}
}

func (k keyspace) session(sid string) string { return k.base + "s:" + sid }
func (k keyspace) user(uid string) string    { return k.base + "u:" + uid }
func (k keyspace) acting(uid string) string  { return k.base + "a:" + uid }
func (k keyspace) index() string             { return k.base + "idx" }
